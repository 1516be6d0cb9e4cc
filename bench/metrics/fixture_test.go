package metrics

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// refFixture mirrors testdata/scipy_ref.json, written by
// `/usr/bin/python3 bench/metrics/testdata/gen_scipy.py` (scipy 1.10.1).
type refFixture struct {
	Scipy        string               `json:"scipy"`
	Vectors      map[string][]float64 `json:"vectors"`
	Correlations []struct {
		Name, Pred, MOS        string
		SRCC, PLCC, KRCC, RMSE float64
	} `json:"correlations"`
	// Scaled: predictions whose squares overflow or underflow float64 (no RMSE).
	Scaled []struct {
		Name, Pred, MOS  string
		SRCC, PLCC, KRCC float64
	} `json:"scaled"`
	Fits []struct {
		Name, Pred, MOS        string
		Fit                    FitKind
		Params                 []float64
		PLCC, RMSE, SRCC, KRCC float64
	} `json:"fits"`
	Summaries []struct {
		Name         string
		Values       []*float64 // null = NaN
		N, Dropped   int
		Mean, Median float64
		Std          *float64 // absent when n < 2, as the CI
		CI95Low      *float64 `json:"ci95_low"`
		CI95High     *float64 `json:"ci95_high"`
	} `json:"summaries"`
}

func loadFixture(t testing.TB) *refFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "scipy_ref.json"))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	var f refFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/scipy_ref.json: %v", err)
	}
	if len(f.Correlations) == 0 || len(f.Fits) == 0 || len(f.Summaries) == 0 {
		t.Fatal("testdata/scipy_ref.json: empty sections")
	}
	return &f
}

func (f *refFixture) vec(t testing.TB, name string) []float64 {
	t.Helper()
	v, ok := f.Vectors[name]
	if !ok || len(v) == 0 {
		t.Fatalf("fixture has no vector %q", name)
	}
	return v
}

func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol
}
