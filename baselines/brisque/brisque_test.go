package brisque

import (
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/internal/reftest"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// testdata/features.json comes from testdata/gen_features.m: the authors'
// release run in Octave 7.3 with Debian's libsvm-tools on
// ../shared/data/calibra (see the script).
type fixture struct {
	Images map[string]struct {
		Features []float64 `json:"features"`
		Scaled   []float64 `json:"scaled"`
		Score    float64   `json:"score"`
	} `json:"images"`
}

var calibraNames = []string{"I03", "I04", "I06", "I08", "I19", "G0", "G1", "G2", "G3", "G4", "G5"}

func loadFixture(t testing.TB) *fixture {
	var f fixture
	reftest.ReadJSON(t, "features.json", &f)
	return &f
}

func readPNG(t testing.TB, path string) *matlab.RGB8 { return reftest.ReadPNG(t, path) }

// The 36 features of the calibration images against brisque_feature.m in
// Octave, from Octave's rgb2gray as the reference ran: relative 1e-12, and
// the same text under the release's %f (what svm-scale reads).
func TestFeaturesAgainstOctave(t *testing.T) {
	fx := loadFixture(t)
	dir := testenv.Shared(t, "data", "calibra")
	var worst float64
	for _, name := range calibraNames {
		want := fx.Images[name].Features
		got, err := FeaturesGray(GrayOctave(readPNG(t, filepath.Join(dir, name+".png"))))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != NumFeatures || len(want) != NumFeatures {
			t.Fatalf("%s: %d features, Octave %d", name, len(got), len(want))
		}
		for k := range got {
			e := math.Abs(got[k]-want[k]) / math.Max(math.Abs(want[k]), 1e-300)
			worst = math.Max(worst, e)
			if e > 1e-12 {
				t.Errorf("%s feature %d: %.17g, Octave %.17g", name, k+1, got[k], want[k])
			}
			if g, w := strconv.FormatFloat(got[k], 'f', 6, 64), strconv.FormatFloat(want[k], 'f', 6, 64); g != w {
				t.Errorf("%s feature %d: %%f gives %s, Octave's %s", name, k+1, g, w)
			}
		}
	}
	t.Logf("worst relative feature error %.2g", worst)
}

func TestConstantImage(t *testing.T) {
	im := &matlab.RGB8{H: 40, W: 50, Pix: make([]uint8, 3*40*50)}
	for i := range im.Pix {
		im.Pix[i] = 7
	}
	f, err := Features(im)
	if !errors.Is(err, ErrZeroVariance) || len(f) != NumFeatures || !math.IsNaN(f[0]) {
		t.Fatalf("constant image: %v, %v; want NaN features and ErrZeroVariance", f, err)
	}
}

// The estimators on data whose answers are known in closed form: a vector
// of +-1 is a GGD with rho = 1, and a symmetric one has gammahat 1.
func TestGGDGridFirstMinimum(t *testing.T) {
	g := Grid()
	if len(g) != 9801 || g[0] != 0.2 || g[len(g)-1] != 10 {
		t.Fatalf("grid %d values %v..%v", len(g), g[0], g[len(g)-1])
	}
	alpha, sigma := GGD([]float64{1, -1, 1, -1})
	// rho = 1 lies below the table (r >= 1 with equality only as alpha -> inf): the last point.
	if sigma != 1 || alpha != 10 {
		t.Errorf("GGD(+-1) = %v, %v; want 10, 1", alpha, sigma)
	}
	a, l, r := AGGD(nil)
	if a != 0.2 || !math.IsNaN(l) || !math.IsNaN(r) {
		t.Errorf("AGGD(empty) = %v %v %v; want 0.2 (MATLAB's min over NaN) and NaN deviations", a, l, r)
	}
}
