package matlab

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
)

// The fixture testdata/primitives_ref.json is written by testdata/gen_primitives.m (Octave 7.3 +
// octave-image 2.14, Debian); each case names its reference in "ref".

// mat is a matrix as the generator writes it: size and row-major values (a 1x1 matrix comes out
// as a bare number).
type mat struct {
	H, W int
	Data flexFloats
}

type flexFloats []float64

func (f *flexFloats) UnmarshalJSON(b []byte) error {
	var one float64
	if err := json.Unmarshal(b, &one); err == nil {
		*f = []float64{one}
		return nil
	}
	return json.Unmarshal(b, (*[]float64)(f))
}

func (m mat) gray() *Gray { return &Gray{H: m.H, W: m.W, Pix: m.Data} }

func (m mat) bytes(t *testing.T) []uint8 {
	t.Helper()
	out := make([]uint8, len(m.Data))
	for i, v := range m.Data {
		if v != math.Trunc(v) || v < 0 || v > 255 {
			t.Fatalf("fixture value %v is not a uint8", v)
		}
		out[i] = uint8(v)
	}
	return out
}

type refCase struct {
	Fn, Name, Ref, Border, Shape, Kind  string
	A, K, Want, Double, Octave, R, G, B mat
	Scale, Sigma                        float64
	Size                                flexFloats
	Levels                              int
}

type refFile struct {
	Generator, Octave, Image string
	Cases                    []refCase
}

func loadRef(t *testing.T, path string) refFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f refFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("%s holds no cases", path)
	}
	return f
}

// Tolerances: linear filters and resampling relative to the largest reference magnitude (summation
// order differs from Octave's); uint8 outputs exact.
const (
	tolLinear = 1e-12
	tolKernel = 1e-15
)

// maxRelErr returns max|got-want| / max(max|want|, tiny) and an error when the sizes differ.
func maxRelErr(got *Gray, want mat) (float64, error) {
	if got.H != want.H || got.W != want.W || len(got.Pix) != len(want.Data) {
		return 0, fmt.Errorf("size %dx%d (%d values), want %dx%d (%d)", got.H, got.W, len(got.Pix), want.H, want.W, len(want.Data))
	}
	var scale, diff float64
	for i, w := range want.Data {
		scale = max(scale, math.Abs(w))
		diff = max(diff, math.Abs(got.Pix[i]-w))
	}
	return diff / max(scale, 1e-300), nil
}

var borderNames = map[string]Border{"zero": Zero, "replicate": Replicate, "symmetric": Symmetric, "circular": Circular}
var shapeNames = map[string]Shape{"full": Full, "same": Same, "valid": Valid}

// checkRef runs every case of f and reports the worst error per function.
func checkRef(t *testing.T, f refFile) {
	worst := map[string]float64{}
	for _, c := range f.Cases {
		got, tol, err := runCase(t, c)
		if err != nil {
			t.Errorf("%s %s: %v", c.Fn, c.Name, err)
			continue
		}
		if got == nil { // exact uint8 case, already checked
			worst[c.Fn] = max(worst[c.Fn], 0)
			continue
		}
		e, err := maxRelErr(got, c.Want)
		if err != nil {
			t.Errorf("%s %s: %v", c.Fn, c.Name, err)
			continue
		}
		if e > tol {
			t.Errorf("%s %s: max relative error %.3g > %.0g (ref: %s)", c.Fn, c.Name, e, tol, c.Ref)
		}
		worst[c.Fn] = max(worst[c.Fn], e)
	}
	for fn, e := range worst {
		t.Logf("%-9s max relative error %.3g", fn, e)
	}
}

// runCase computes one case; uint8 cases are compared exactly here and return a nil image.
func runCase(t *testing.T, c refCase) (*Gray, float64, error) {
	switch c.Fn {
	case "imfilter":
		b, ok := borderNames[c.Border]
		if !ok {
			return nil, 0, fmt.Errorf("unknown border %q", c.Border)
		}
		return Imfilter(c.A.gray(), c.K.gray(), b), tolLinear, nil
	case "conv2", "filter2":
		s, ok := shapeNames[c.Shape]
		if !ok {
			return nil, 0, fmt.Errorf("unknown shape %q", c.Shape)
		}
		if c.Fn == "conv2" {
			return Conv2(c.A.gray(), c.K.gray(), s), tolLinear, nil
		}
		return Filter2(c.K.gray(), c.A.gray(), s), tolLinear, nil
	case "imresize":
		return runResize(c)
	case "gaussian":
		return FspecialGaussian(int(c.Size[0]), int(c.Size[1]), c.Sigma), tolKernel, nil
	case "log":
		return FspecialLog(int(c.Size[0]), int(c.Size[1]), c.Sigma), 1e-14, nil
	case "rgb2gray":
		im := &RGB8{H: c.R.H, W: c.R.W}
		im.Pix = append(append(append(im.Pix, c.R.bytes(t)...), c.G.bytes(t)...), c.B.bytes(t)...)
		if err := exactEqual(RGB2Gray(im).Pix, c.Want.Data); err != nil {
			return nil, 0, fmt.Errorf("RGB2Gray: %v", err)
		}
		e, err := maxRelErr(RGB2GrayDouble(im), c.Double)
		if err == nil && e > 1e-15 {
			err = fmt.Errorf("RGB2GrayDouble: max relative error %.3g > 1e-15", e)
		}
		return nil, 0, err
	case "histeq":
		got := Histeq(c.A.bytes(t), c.Levels)
		f := make([]float64, len(got))
		for i, v := range got {
			f[i] = float64(v)
		}
		return nil, 0, exactEqual(f, c.Want.Data)
	}
	return nil, 0, fmt.Errorf("unknown function %q", c.Fn)
}

func runResize(c refCase) (*Gray, float64, error) {
	a := c.A.gray()
	h, w := int(c.Size[0]), int(c.Size[1])
	sy, sx := c.Scale, c.Scale
	if c.Scale == 0 {
		sy, sx = float64(h)/float64(a.H), float64(w)/float64(a.W)
	} else {
		h, w = int(math.Ceil(c.Scale*float64(a.H))), int(math.Ceil(c.Scale*float64(a.W)))
	}
	switch c.Kind {
	case "raw": // Octave omits the normalisation: compare the unnormalised path
		return resize(a, h, w, sy, sx, false, false), tolLinear, nil
	case "api":
		if c.Scale == 0 {
			return ImresizeTo(a, h, w), tolLinear, nil
		}
		return Imresize(a, c.Scale), tolLinear, nil
	}
	return nil, 0, fmt.Errorf("unknown imresize kind %q", c.Kind)
}

func exactEqual(got, want []float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	bad := 0
	first := -1
	for i := range got {
		if got[i] != want[i] {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d values differ; first at %d: %v, want %v", bad, len(got), first, got[first], want[first])
	}
	return nil
}

func TestPrimitivesAgainstOctaveFixture(t *testing.T) {
	checkRef(t, loadRef(t, "testdata/primitives_ref.json"))
}

// TestOctaveOwnFunctionsDiffer records how far Octave's own rgb2gray, histeq and fspecial('log') are
// from the MATLAB behaviour the package reproduces, and fails if they ever agree exactly (then the
// fixture could use them directly and the documentation above would be stale).
func TestOctaveOwnFunctionsDiffer(t *testing.T) {
	f := loadRef(t, "testdata/primitives_ref.json")
	diff := map[string]int{}
	total := map[string]int{}
	for _, c := range f.Cases {
		if len(c.Octave.Data) == 0 {
			continue
		}
		for i, v := range c.Octave.Data {
			total[c.Fn]++
			if math.Abs(v-c.Want.Data[i]) > 1e-9*max(1, math.Abs(v)) {
				diff[c.Fn]++
			}
		}
	}
	for _, fn := range []string{"histeq", "log"} {
		if total[fn] == 0 || diff[fn] == 0 {
			t.Errorf("%s: Octave's own function agrees with the MATLAB reference on all %d values", fn, total[fn])
		}
	}
	for fn := range total {
		t.Logf("Octave's own %s differs from MATLAB's on %d of %d values", fn, diff[fn], total[fn])
	}
}
