package niqe

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/internal/reftest"

	"github.com/agiqa-bench/agiqa/baselines/brisque"
	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// testdata/features.json comes from testdata/gen_features.m: the authors'
// release run in Octave 7.3 on ../shared/data/calibra (see the script).
type fixture struct {
	Images map[string]struct {
		Rows      int         `json:"rows"`
		Features  [][]float64 `json:"features"`
		Sharpness []float64   `json:"sharpness"`
		Mu        []float64   `json:"mu"`
		Quality   float64     `json:"quality"`
	} `json:"images"`
	Fit struct {
		Images    []string  `json:"images"`
		Threshold float64   `json:"threshold"`
		Rows      int       `json:"rows"`
		Mu        []float64 `json:"mu"`
		Cov       []float64 `json:"cov"` // column-major
	} `json:"fit"`
}

var calibraNames = []string{"I03", "I04", "I06", "I08", "I19", "G0", "G1", "G2", "G3", "G4", "G5"}

func loadFixture(t testing.TB) *fixture {
	var f fixture
	reftest.ReadJSON(t, "features.json", &f)
	return &f
}

func readPNG(t testing.TB, path string) *matlab.RGB8 { return reftest.ReadPNG(t, path) }

func pristine(t testing.TB) *Model {
	t.Helper()
	fh, err := os.Open(testenv.Shared(t, "data", "niqe", "modelparameters.mat"))
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

func relErr(got, want float64) float64 {
	if got == want {
		return 0
	}
	return math.Abs(got-want) / math.Max(math.Abs(want), 1e-300)
}

// Features and scores of the eleven calibration images against the
// release in Octave, from Octave's rgb2gray (brisque.GrayOctave), which is
// what the reference ran. Per-feature error is measured against the
// feature's own scale (the column's largest magnitude), since the mean
// parameters pass through zero.
func TestCalibraAgainstOctave(t *testing.T) {
	fx := loadFixture(t)
	m := pristine(t)
	dir := testenv.Shared(t, "data", "calibra")
	var worstFeat, worstQ float64
	for _, name := range calibraNames {
		want := fx.Images[name]
		im := readPNG(t, filepath.Join(dir, name+".png"))
		b, err := BlockFeaturesGray(context.Background(), brisque.GrayOctave(im))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b.N != want.Rows {
			t.Fatalf("%s: %d blocks, Octave %d", name, b.N, want.Rows)
		}
		for k := 0; k < NumFeatures; k++ {
			scale := 0.0
			for r := 0; r < b.N; r++ {
				scale = math.Max(scale, math.Abs(want.Features[r][k]))
			}
			for r := 0; r < b.N; r++ {
				e := math.Abs(b.Row(r)[k]-want.Features[r][k]) / scale
				worstFeat = math.Max(worstFeat, e)
				if e > 1e-9 {
					t.Errorf("%s block %d feature %d: %.17g, Octave %.17g", name, r, k+1, b.Row(r)[k], want.Features[r][k])
				}
			}
		}
		for r, s := range b.Sharpness {
			if e := relErr(s, want.Sharpness[r]); e > 1e-12 {
				t.Errorf("%s block %d sharpness %.17g, Octave %.17g", name, r, s, want.Sharpness[r])
			}
		}
		q, err := m.Distance(b)
		if err != nil {
			t.Fatal(err)
		}
		e := relErr(q, want.Quality)
		worstQ = math.Max(worstQ, e)
		if e > 1e-6 {
			t.Errorf("%s: NIQE %.12g, Octave %.12g (relative error %.2g > 1e-6)", name, q, want.Quality, e)
		}
	}
	t.Logf("worst feature error %.2g (of the feature's scale), worst NIQE relative error %.2g", worstFeat, worstQ)
}

// The scores in ../shared/data/calibra/reference.json (the release run
// unchanged in Octave) through the public entry point, which uses MATLAB's
// rgb2gray: the TID2013 images have no pixel where it differs from
// Octave's and must match to 1e-6; the generated ones differ on 1-9 pixels,
// which moves NIQE by up to 1e-4 (bounded here at 2e-4). The distance to the
// published MATLAB numbers is logged.
func TestReferenceJSON(t *testing.T) {
	raw, err := os.ReadFile(testenv.Shared(t, "data", "calibra", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Octave    map[string]float64 `json:"niqe_octave"`
		Published map[string]float64 `json:"niqe_matlab_published"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	m := pristine(t)
	dir := testenv.Shared(t, "data", "calibra")
	for _, name := range calibraNames {
		q, err := m.Score(context.Background(), readPNG(t, filepath.Join(dir, name+".png")))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := ref.Octave[name]
		tol := 1e-6
		if name[0] == 'G' {
			tol = 2e-4
		}
		if e := relErr(q, want); e > tol {
			t.Errorf("%s: NIQE %.12g, Octave %.12g (relative %.2g > %g)", name, q, want, e, tol)
		}
		if p, ok := ref.Published[name]; ok {
			t.Logf("%s: ours %.10g  Octave %.10g  published %.10g (ours vs published %.3g%%)", name, q, want, p, 100*(q-p)/p)
		} else {
			t.Logf("%s: ours %.10g  Octave %.10g", name, q, want)
		}
	}
}

// Fit on the calibration images against estimatemodelparam.m's selection
// and nanmean/nancov in Octave.
func TestFitAgainstOctave(t *testing.T) {
	fx := loadFixture(t)
	dir := testenv.Shared(t, "data", "calibra")
	f, err := NewFitter(DefaultThreshold)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range fx.Fit.Images {
		b, err := BlockFeaturesGray(context.Background(), brisque.GrayOctave(readPNG(t, filepath.Join(dir, name+".png"))))
		if err != nil {
			t.Fatal(err)
		}
		f.AddBlocks(b)
	}
	m, info, err := f.Model()
	if err != nil {
		t.Fatal(err)
	}
	if info.Blocks != fx.Fit.Rows || info.Threshold != fx.Fit.Threshold {
		t.Fatalf("fit selected %d blocks at %v, Octave %d at %v", info.Blocks, info.Threshold, fx.Fit.Rows, fx.Fit.Threshold)
	}
	for k, want := range fx.Fit.Mu {
		if e := relErr(m.Mu[k], want); e > 1e-9 {
			t.Errorf("mu[%d] = %.17g, Octave %.17g", k, m.Mu[k], want)
		}
	}
	for i := 0; i < NumFeatures; i++ {
		for j := 0; j < NumFeatures; j++ {
			want := fx.Fit.Cov[j*NumFeatures+i]
			scale := math.Sqrt(fx.Fit.Cov[i*NumFeatures+i] * fx.Fit.Cov[j*NumFeatures+j])
			if e := math.Abs(m.Cov[i*NumFeatures+j]-want) / scale; e > 1e-9 {
				t.Errorf("cov[%d][%d] = %.17g, Octave %.17g", i, j, m.Cov[i*NumFeatures+j], want)
			}
		}
	}
}

func TestSmallImageNamesSize(t *testing.T) {
	m := pristine(t)
	im := &matlab.RGB8{H: 95, W: 200, Pix: make([]uint8, 3*95*200)}
	_, err := m.Score(context.Background(), im)
	var se *SmallImageError
	if !errors.As(err, &se) || se.H != 95 || se.W != 200 {
		t.Fatalf("got %v, want a SmallImageError for 95x200", err)
	}
	if want := "niqe: image 95x200 is smaller than one 96x96 block"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestConstantImageIsNaN(t *testing.T) {
	m := pristine(t)
	im := &matlab.RGB8{H: 100, W: 120, Pix: make([]uint8, 3*100*120)}
	for i := range im.Pix {
		im.Pix[i] = 128
	}
	q, err := m.Score(context.Background(), im)
	if !math.IsNaN(q) || !errors.Is(err, ErrZeroVariance) {
		t.Fatalf("constant image: score %v err %v, want NaN and ErrZeroVariance", q, err)
	}
}
