package gmlf

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/internal/reftest"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// relTol is the largest relative error allowed against the Octave run of the authors' code
// (testdata/gen_gmlf.m); absTol covers features that are 0 or close to it.
const (
	relTol = 1e-9
	absTol = 1e-12
)

type fixture struct {
	How    string `json:"how"`
	Images []struct {
		Name     string    `json:"name"`
		File     string    `json:"file"`
		Features []float64 `json:"features"`
	} `json:"images"`
}

func readFixture(t testing.TB) (f fixture) {
	reftest.ReadJSON(t, "gmlf.json", &f)
	return f
}

func loadPNG(t testing.TB, file string) *matlab.RGB8 { return reftest.LoadImage(t, file) }

func TestFeaturesMatchOctave(t *testing.T) {
	f := readFixture(t)
	var worst float64
	for _, c := range f.Images {
		t.Run(c.Name, func(t *testing.T) {
			got, err := Features(loadPNG(t, c.File))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != NumFeatures || len(c.Features) != NumFeatures {
				t.Fatalf("%d features, fixture %d, want %d", len(got), len(c.Features), NumFeatures)
			}
			for i, want := range c.Features {
				d := math.Abs(got[i] - want)
				if d > absTol && d > relTol*math.Abs(want) {
					t.Errorf("feature %d = %.17g, Octave %.17g (diff %.3g)", i+1, got[i], want, d)
				}
				if want != 0 {
					worst = max(worst, d/math.Abs(want))
				}
			}
		})
	}
	t.Logf("largest relative error vs Octave: %.3g (tolerance %g)", worst, relTol)
}

func TestBadInput(t *testing.T) {
	small := &matlab.RGB8{H: 4, W: 9, Pix: make([]uint8, 3*4*9)}
	if _, err := Features(small); err == nil || !strings.Contains(err.Error(), "4x9") {
		t.Errorf("4x9 image: err = %v, want one naming the size", err)
	}
	if _, err := Features(&matlab.RGB8{H: 8, W: 8, Pix: make([]uint8, 5)}); err == nil {
		t.Error("short pixel buffer: no error")
	}
	flat := &matlab.RGB8{H: 16, W: 16, Pix: make([]uint8, 3*16*16)}
	for i := range flat.Pix {
		flat.Pix[i] = 77
	}
	got, err := Features(flat)
	if !errors.Is(err, ErrConstant) {
		t.Fatalf("constant image: err = %v, want ErrConstant", err)
	}
	if len(got) != NumFeatures || !math.IsNaN(got[0]) || !math.IsNaN(got[NumFeatures-1]) {
		t.Errorf("constant image: features %v, want %d NaN", got, NumFeatures)
	}
}

// TestDistributionsSumToOne checks the structure on images not in the fixture, down to MinSize: each
// of the four 10-bin blocks is a distribution.
func TestDistributionsSumToOne(t *testing.T) {
	for _, sz := range [][2]int{{37, 23}, {MinSize, MinSize}} {
		h, w := sz[0], sz[1]
		im := &matlab.RGB8{H: h, W: w, Pix: make([]uint8, 3*h*w)}
		for i := range im.Pix {
			im.Pix[i] = uint8((i*i*7 + i*13) % 251)
		}
		got, err := Features(im)
		if err != nil {
			t.Fatalf("%dx%d: %v", h, w, err)
		}
		for b := 0; b < 4; b++ {
			var s float64
			for _, v := range got[10*b : 10*b+10] {
				if v < 0 {
					t.Errorf("%dx%d: block %d has a negative value %g", h, w, b, v)
				}
				s += v
			}
			if math.Abs(s-1) > 1e-12 {
				t.Errorf("%dx%d: block %d sums to %.17g", h, w, b, s)
			}
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
