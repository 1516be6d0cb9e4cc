package higrade

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/internal/reftest"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// relTol is the largest relative error allowed against the Octave run of the release
// (testdata/gen_higrade.m); absTol covers features at or near 0. nakaTol is the tolerance of the
// first two features of each map and scale (nakafit of the local deviation map): in flat regions the
// deviation is sqrt(|E[x^2] - E[x]^2|) of two nearly equal filter sums, so the last-bit rounding of
// filter2's summation order (Octave's conv2 adds kernel taps in another order than ours, and MATLAB's
// in yet another) comes out as values near 1e-4 whose mean moves by up to ~6e-7 relative.
const (
	relTol  = 1e-9
	nakaTol = 1e-6
	absTol  = 1e-12
)

// jnum reads the fixture's numbers, where "Inf", "-Inf" and "NaN" are strings.
type jnum float64

func (j *jnum) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), "\"")
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("fixture number %s: %w", b, err)
	}
	*j = jnum(v)
	return nil
}

type fixture struct {
	How    string `json:"how"`
	Images []struct {
		Name     string `json:"name"`
		File     string `json:"file"`
		Features []jnum `json:"features"`
	} `json:"images"`
}

func readFixture(t testing.TB) (f fixture) {
	reftest.ReadJSON(t, "higrade.json", &f)
	return f
}

func TestFeaturesMatchOctave(t *testing.T) {
	var worst, worstNaka float64
	worstAt := ""
	for _, c := range readFixture(t).Images {
		t.Run(c.Name, func(t *testing.T) {
			got, err := Features(loadPNG(t, c.File))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != NumFeatures || len(c.Features) != NumFeatures {
				t.Fatalf("%d features, fixture %d, want %d", len(got), len(c.Features), NumFeatures)
			}
			bad := 0
			for i, w := range c.Features {
				want := float64(w)
				if math.IsInf(want, 0) || math.IsNaN(want) {
					if got[i] != want && !(math.IsNaN(want) && math.IsNaN(got[i])) {
						t.Errorf("feature %d = %g, Octave %g", i+1, got[i], want)
					}
					continue
				}
				d := math.Abs(got[i] - want)
				if i%PerMap >= 2 && want != 0 && d/math.Abs(want) > worst {
					worst, worstAt = d/math.Abs(want), fmt.Sprintf("%s feature %d", c.Name, i+1)
				}
				if i%PerMap < 2 && want != 0 {
					worstNaka = max(worstNaka, d/math.Abs(want))
				}
				tol := relTol
				if i%PerMap < 2 {
					tol = nakaTol
				}
				if d > absTol && d > tol*math.Abs(want) {
					if bad++; bad <= 10 {
						t.Errorf("feature %d = %.17g, Octave %.17g (diff %.3g)", i+1, got[i], want, d)
					}
				}
			}
			if bad > 10 {
				t.Errorf("... %d features differ", bad)
			}
		})
	}
	t.Logf("largest relative error vs Octave: %.3g at %s (tolerance %g); nakafit features %.3g (tolerance %g)",
		worst, worstAt, relTol, worstNaka, nakaTol)
}

func TestBadInput(t *testing.T) {
	if _, err := Features(&matlab.RGB8{H: 3, W: 40, Pix: make([]uint8, 3*3*40)}); err == nil || !strings.Contains(err.Error(), "3x40") {
		t.Errorf("3x40 image: err = %v, want one naming the size", err)
	}
	if _, err := Features(&matlab.RGB8{H: 8, W: 8, Pix: make([]uint8, 7)}); err == nil {
		t.Error("short pixel buffer: no error")
	}
	flat := &matlab.RGB8{H: 16, W: 12, Pix: make([]uint8, 3*16*12)}
	for i := range flat.Pix {
		flat.Pix[i] = uint8(10 + i/(16*12)) // constant per channel, channels differ
	}
	got, err := Features(flat)
	if !errors.Is(err, ErrConstant) {
		t.Fatalf("constant image: err = %v, want ErrConstant", err)
	}
	if len(got) != NumFeatures || !math.IsNaN(got[0]) {
		t.Errorf("constant image: %d features, first %g, want %d NaN", len(got), got[0], NumFeatures)
	}
}

func TestCircshiftAsMATLAB(t *testing.T) {
	g := &matlab.Gray{H: 2, W: 3, Pix: []float64{1, 2, 3, 4, 5, 6}}
	// circshift([1 2 3; 4 5 6], [-1 1]) = [6 4 5; 3 1 2]
	want := []float64{6, 4, 5, 3, 1, 2}
	got := circshift(g, -1, 1)
	for i := range want {
		if got.Pix[i] != want[i] {
			t.Fatalf("circshift = %v, want %v", got.Pix, want)
		}
	}
}

func BenchmarkFeatures1024(b *testing.B) {
	im := &matlab.RGB8{H: 1024, W: 1024, Pix: make([]uint8, 3*1024*1024)}
	for i := range im.Pix {
		im.Pix[i] = uint8((i*i*7 + i*13) % 251)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Features(im); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// TestSmallestImages runs the extractor at MinSize and just above: the second scale is 2x2 or 3x3,
// where every local statistic still has neighbours; the result must be 216 numbers, none NaN.
func TestSmallestImages(t *testing.T) {
	for _, sz := range [][2]int{{MinSize, MinSize}, {MinSize, 7}, {5, MinSize}} {
		h, w := sz[0], sz[1]
		im := &matlab.RGB8{H: h, W: w, Pix: make([]uint8, 3*h*w)}
		for i := range im.Pix {
			im.Pix[i] = uint8((i*37 + i*i*11) % 256)
		}
		got, err := Features(im)
		if err != nil {
			t.Fatalf("%dx%d: %v", h, w, err)
		}
		for i, v := range got {
			if math.IsNaN(v) {
				t.Errorf("%dx%d: feature %d is NaN", h, w, i+1)
			}
		}
	}
}

// loadPNG reads a fixture image: calibra/NAME from ../shared/data/calibra, others from testdata.
func loadPNG(t testing.TB, file string) *matlab.RGB8 { return reftest.LoadImage(t, file) }
