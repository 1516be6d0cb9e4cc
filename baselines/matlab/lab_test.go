package matlab

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// labRef is testdata/lab_ref.json, written by testdata/gen_lab.m: makecform('srgb2lab')'s chain
// evaluated by Octave 7.3 (interp1 'spline', mldivide, power) and octave-image's lab2uint8.
type labRef struct {
	TRC  []float64 `json:"trc"`
	RGB  []float64 `json:"rgb"` // n x 3, row-major
	Lab  []float64 `json:"lab"`
	Lab8 []float64 `json:"lab8"`
}

func loadLabRef(t *testing.T) labRef {
	t.Helper()
	b, err := os.ReadFile("testdata/lab_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var r labRef
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("testdata/lab_ref.json: %v", err)
	}
	if len(r.TRC) != 256 || len(r.RGB) == 0 || len(r.RGB) != len(r.Lab) || len(r.Lab) != len(r.Lab8) {
		t.Fatalf("testdata/lab_ref.json: %d trc entries, %d rgb, %d lab, %d lab8", len(r.TRC), len(r.RGB), len(r.Lab), len(r.Lab8))
	}
	return r
}

// TestToneCurveAgainstOctave: the spline-interpolated sRGB.icm curve at v/255 as Octave's
// interp1(..., 'spline') gives it, to 1e-13 (the two solvers differ in rounding only).
func TestToneCurveAgainstOctave(t *testing.T) {
	r := loadLabRef(t)
	labTables()
	var worst float64
	for v, want := range r.TRC {
		e := math.Abs(trcLinear[v] - want)
		worst = max(worst, e)
		if e > 1e-13 {
			t.Errorf("curve at %d/255: %.17g, Octave %.17g", v, trcLinear[v], want)
		}
	}
	t.Logf("tone curve vs Octave interp1 spline: max |diff| %.3g", worst)
}

// TestSRGB2LabAgainstOctave: L*a*b* doubles to 1e-10 and lab2uint8 codes exactly, on every grey
// level, the corners of the cube and 2000 random colours.
func TestSRGB2LabAgainstOctave(t *testing.T) {
	r := loadLabRef(t)
	n := len(r.RGB) / 3
	im := &RGB8{H: 1, W: n, Pix: make([]uint8, 3*n)}
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			im.Pix[c*n+i] = uint8(r.RGB[3*i+c])
		}
	}
	L, A, B := SRGB2Lab(im)
	L8, A8, B8 := SRGB2LabUint8(im)
	var worst float64
	for i := 0; i < n; i++ {
		for c, g := range []*Gray{L, A, B} {
			want := r.Lab[3*i+c]
			e := math.Abs(g.Pix[i] - want)
			worst = max(worst, e)
			if e > 1e-10 {
				t.Errorf("rgb %v channel %d: %.15g, Octave %.15g", r.RGB[3*i:3*i+3], c, g.Pix[i], want)
			}
		}
		for c, g := range []*Gray{L8, A8, B8} {
			if g.Pix[i] != r.Lab8[3*i+c] {
				t.Errorf("rgb %v channel %d uint8: %v, Octave lab2uint8 %v", r.RGB[3*i:3*i+3], c, g.Pix[i], r.Lab8[3*i+c])
			}
		}
	}
	t.Logf("SRGB2Lab vs Octave, %d colours: max |diff| %.3g", n, worst)
}

// TestSRGB2LabWhite: sRGB white maps near L* 100, a* b* 0 relative to the ICC white (not exactly: the
// profile's 16-bit colorants and the two D50 approximations leave a residue), black to 0.
func TestSRGB2LabWhite(t *testing.T) {
	im := &RGB8{H: 1, W: 2, Pix: []uint8{0, 255, 0, 255, 0, 255}}
	L, A, B := SRGB2Lab(im)
	if L.Pix[0] != 0 || A.Pix[0] != 0 || B.Pix[0] != 0 {
		t.Errorf("black: %v %v %v", L.Pix[0], A.Pix[0], B.Pix[0])
	}
	if math.Abs(L.Pix[1]-100) > 0.01 || math.Abs(A.Pix[1]) > 0.05 || math.Abs(B.Pix[1]) > 0.05 {
		t.Errorf("white: %v %v %v", L.Pix[1], A.Pix[1], B.Pix[1])
	}
}
