package ceiq

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/internal/reftest"

	"github.com/agiqa-bench/agiqa/baselines/matfile"
	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// Tolerances against the Octave run of CEIQ.m (testdata/gen_ceiq.m): features and the published
// model's score, relative.
const (
	relTol   = 1e-9
	scoreTol = 1e-9
)

type fixture struct {
	How    string `json:"how"`
	Images []struct {
		Name     string    `json:"name"`
		File     string    `json:"file"`
		Features []float64 `json:"features"`
		Score    float64   `json:"score"`
	} `json:"images"`
}

func readFixture(t testing.TB) (f fixture) {
	reftest.ReadJSON(t, "ceiq.json", &f)
	return f
}

func TestFeaturesMatchOctave(t *testing.T) {
	var worst float64
	for _, c := range readFixture(t).Images {
		t.Run(c.Name, func(t *testing.T) {
			got, err := Features(loadPNG(t, c.File))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != NumFeatures || len(c.Features) != NumFeatures {
				t.Fatalf("%d features, fixture %d, want %d", len(got), len(c.Features), NumFeatures)
			}
			for i, want := range c.Features {
				e := reftest.RelErr(got[i], want)
				worst = max(worst, e)
				if e > relTol {
					t.Errorf("f%d = %.17g, Octave %.17g (relative error %.3g)", i+1, got[i], want, e)
				}
			}
		})
	}
	t.Logf("largest relative error vs Octave: %.3g (tolerance %g)", worst, relTol)
}

func publishedModel(t testing.TB) *Model {
	t.Helper()
	fh, err := os.Open(testenv.Shared(t, "data", "ceiq", "model.mat"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	m, err := ReadMAT(fh)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPublishedScoreMatchesSVMPredict(t *testing.T) {
	m := publishedModel(t)
	var worst float64
	for _, c := range readFixture(t).Images {
		got, err := m.Score(loadPNG(t, c.File))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		e := reftest.RelErr(got, c.Score)
		worst = max(worst, e)
		if e > scoreTol {
			t.Errorf("%s: score %.17g, Octave + svm-predict %.17g (relative error %.3g)", c.Name, got, c.Score, e)
		}
	}
	t.Logf("largest relative score error: %.3g (tolerance %g)", worst, scoreTol)
}

func TestBadInput(t *testing.T) {
	if _, err := Features(&matlab.RGB8{H: 3, W: 3, Pix: make([]uint8, 4)}); err == nil {
		t.Error("short pixel buffer: no error")
	}
	flat := &matlab.RGB8{H: 20, W: 30, Pix: make([]uint8, 3*20*30)}
	for i := range flat.Pix {
		flat.Pix[i] = 200
	}
	f, err := Features(flat)
	if !errors.Is(err, ErrConstant) || !strings.Contains(err.Error(), "20x30") {
		t.Fatalf("constant image: err = %v, want ErrConstant naming 20x30", err)
	}
	if len(f) != NumFeatures || !math.IsNaN(f[0]) {
		t.Errorf("constant image: features %v, want NaN", f)
	}
}

func TestModelRefusesOtherLengths(t *testing.T) {
	if _, err := ReadMAT(strings.NewReader("not a MAT file")); err == nil {
		t.Error("garbage: no error")
	}
	num := func(dims []int, v ...float64) *matfile.Array {
		return &matfile.Array{Class: matfile.Double, Dims: dims, Data: v}
	}
	// A libsvm struct as BRISQUE's would be: 36 features per support vector.
	s := &matfile.Array{Name: "model", Class: matfile.Struct, Dims: []int{1, 1},
		Fields: []string{"Parameters", "rho", "sv_coef", "SVs"},
		Elems: []map[string]*matfile.Array{{
			"Parameters": num([]int{5, 1}, 3, 2, 3, 0.5, 0),
			"rho":        num([]int{1, 1}, 0.1),
			"sv_coef":    num([]int{1, 1}, 1),
			"SVs":        num([]int{1, 36}, make([]float64, 36)...),
		}}}
	_, err := fromLibsvmStruct(s)
	if err == nil || !strings.Contains(err.Error(), "36") || !strings.Contains(err.Error(), "5") {
		t.Errorf("36-feature model: err = %v, want one naming 36 and 5", err)
	}
	s.Elems[0]["SVs"] = num([]int{1, 5}, 1, 2, 3, 4, 5)
	m, err := fromLibsvmStruct(s)
	if err != nil {
		t.Fatal(err)
	}
	// RBF, gamma 0.5: f(x) = exp(-0.5*|x-sv|^2) - 0.1, 0.9 at the support vector itself.
	if got := m.Predict([]float64{1, 2, 3, 4, 5}); math.Abs(got-0.9) > 1e-15 {
		t.Errorf("predict at the SV = %.17g, want 0.9", got)
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

// loadPNG reads a fixture image: calibra/NAME from ../shared/data/calibra, others from testdata.
func loadPNG(t testing.TB, file string) *matlab.RGB8 { return reftest.LoadImage(t, file) }
