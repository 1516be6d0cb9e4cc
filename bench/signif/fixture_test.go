package signif

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/runner"
)

// refFixture mirrors testdata/signif_ref.json, written by
// `/usr/bin/python3 bench/signif/testdata/gen_fixture.py` (scipy 1.10.1, numpy 1.24.2): scipy's
// t-test, binomial test and correlations, and Williams' test and the bootstrap in numpy.
type refFixture struct {
	Alpha  float64 `json:"alpha"`
	Reps   int     `json:"reps"`
	Splits []struct {
		Names    []string  `json:"names"`
		MOS      []float64 `json:"mos"`
		A        []float64 `json:"a"`
		BServed  []float64 `json:"b_served"` // B is lower-is-better
		BMissing []string  `json:"b_missing"`
		Common   int       `json:"common"`
		AMetrics []float64 `json:"a_metrics"`
		BMetrics []float64 `json:"b_metrics"`
		Williams map[string]struct{ T, P float64 }
		BootSeed uint32 `json:"boot_seed"`
		Boot     []struct {
			N         int
			Lo, Hi, P float64
		} `json:"boot"`
		BootFirstIndices [][]int `json:"boot_first_indices"`
	} `json:"splits"`
	OverSplits []struct {
		Mean, Lo, Hi, T, P float64
		Pos, Neg           int
		SignP              float64 `json:"sign_p"`
	} `json:"over_splits"`
	Binom []struct {
		K, N int
		P    float64
	} `json:"binom"`
	TTests []struct {
		X, Y         []float64
		T, P, Lo, Hi float64
	} `json:"ttests"`
}

func loadFixture(t *testing.T) *refFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "signif_ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f refFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/signif_ref.json: %v", err)
	}
	if len(f.Splits) == 0 || len(f.OverSplits) != 3 || len(f.Binom) == 0 || len(f.TTests) == 0 {
		t.Fatal("testdata/signif_ref.json: empty sections")
	}
	return &f
}

// close reports |got - want| <= tol (relative to max(1, |want|)).
func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func TestBinomAgainstScipy(t *testing.T) {
	f := loadFixture(t)
	worst := 0.0
	for _, c := range f.Binom {
		got := BinomTwoSidedHalf(c.K, c.N)
		worst = math.Max(worst, math.Abs(got-c.P))
		if !near(got, c.P, 1e-12) {
			t.Errorf("binom(%d, %d) = %.17g, scipy.stats.binomtest %.17g", c.K, c.N, got, c.P)
		}
	}
	t.Logf("max |binom p - scipy| = %.3g (tolerance 1e-12)", worst)
}

func TestPairedTAgainstScipy(t *testing.T) {
	f := loadFixture(t)
	for _, c := range f.TTests {
		d := make([]float64, len(c.X))
		for i := range d {
			d[i] = c.X[i] - c.Y[i]
		}
		r := PairedTTest(d, f.Alpha)
		if !near(r.T, c.T, 1e-10) || !near(r.P, c.P, 1e-10) || !near(r.Lo, c.Lo, 1e-10) || !near(r.Hi, c.Hi, 1e-10) {
			t.Errorf("n=%d: t %.15g p %.15g CI [%.15g, %.15g]; scipy t %.15g p %.15g CI [%.15g, %.15g]",
				len(d), r.T, r.P, r.Lo, r.Hi, c.T, c.P, c.Lo, c.Hi)
		}
	}
}

// The edge cases scipy.stats.ttest_rel answers with inf/0 and nan.
func TestPairedTDegenerate(t *testing.T) {
	if r := PairedTTest([]float64{0.02, 0.02, 0.02}, 0.05); !math.IsInf(r.T, 1) || r.P != 0 {
		t.Errorf("constant positive differences: t %v p %v, want +Inf, 0 (scipy)", r.T, r.P)
	}
	if r := PairedTTest([]float64{0, 0, 0}, 0.05); !math.IsNaN(r.P) {
		t.Errorf("zero differences: p %v, want NaN (scipy)", r.P)
	}
	if r := PairedTTest([]float64{0.1, math.NaN()}, 0.05); r.N != 1 || !math.IsNaN(r.P) || r.Mean != 0.1 {
		t.Errorf("one finite difference: %+v", r)
	}
}

// fixtureResults builds the runner results the fixture describes: A higher-is-better on every
// image, B lower-is-better without predictions for b_missing.
func fixtureResults(t *testing.T, f *refFixture) []*runner.ModelResult {
	mk := func(name string, hib bool) *runner.ModelResult {
		return &runner.ModelResult{Model: name, Catalog: name, Dataset: "fx", HigherIsBetter: hib,
			Summary: map[string]metrics.SplitSummary{"quality": {}},
			Pred:    map[string][]float64{}, MOS: map[string][]float64{}, Images: map[string][]string{}}
	}
	a, b := mk("a", true), mk("b", false)
	for k, s := range f.Splits {
		add := func(r *runner.ModelResult, pred []float64, skip []string) {
			n := 0
			for i, name := range s.Names {
				if slices.Contains(skip, name) {
					continue
				}
				r.Pred["quality"] = append(r.Pred["quality"], pred[i])
				r.MOS["quality"] = append(r.MOS["quality"], s.MOS[i])
				r.Images["quality"] = append(r.Images["quality"], name)
				n++
			}
			r.Splits = append(r.Splits, runner.SplitScores{Split: k, Target: "quality", Scores: metrics.Scores{N: n}})
		}
		add(a, s.A, nil)
		add(b, s.BServed, s.BMissing)
	}
	return []*runner.ModelResult{a, b}
}

// Compute on the fixture's rows: per-split differences on the common images (B negated), the tests
// over splits, and Williams' test, against scipy and numpy.
func TestComputeAgainstScipyAndNumpy(t *testing.T) {
	f := loadFixture(t)
	rep, err := Compute(fixtureResults(t, f), Options{Alpha: f.Alpha})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Groups) != 1 || len(rep.Groups[0].Pairs) != 1 {
		t.Fatalf("groups %+v", rep.Groups)
	}
	p := rep.Groups[0].Pairs[0]
	missing := 0
	common := 0
	for _, s := range f.Splits {
		missing += len(s.BMissing)
		common += s.Common
	}
	if p.A != "a" || p.B != "b" || p.Common != common || p.OnlyA != missing || p.OnlyB != 0 || len(p.Splits) != len(f.Splits) {
		t.Fatalf("pair %s vs %s: common %d only %d/%d splits %v; want %d common, %d only a", p.A, p.B, p.Common, p.OnlyA, p.OnlyB, p.Splits, common, missing)
	}
	worst := map[string]float64{}
	check := func(what string, got Num, want, tol float64) {
		t.Helper()
		worst[what] = math.Max(worst[what], math.Abs(float64(got)-want))
		if !near(float64(got), want, tol) {
			t.Errorf("%s = %.15g, reference %.15g", what, float64(got), want)
		}
	}
	for m, pm := range p.Metrics {
		for k, st := range pm.PerSplit {
			s := f.Splits[k]
			if st.N != s.Common {
				t.Errorf("%s split %d: %d images, want %d", pm.Metric, k, st.N, s.Common)
			}
			check("metric", st.A, s.AMetrics[m], 1e-12)
			check("metric", st.B, s.BMetrics[m], 1e-12)
			if w, ok := s.Williams[pm.Metric]; ok {
				check("williams t", st.WilliamsT, w.T, 1e-9)
				check("williams p", st.WilliamsP, w.P, 1e-9)
			} else if !math.IsNaN(float64(st.WilliamsP)) || st.WilliamsReason == "" {
				t.Errorf("%s split %d: Williams p %v without a reason", pm.Metric, k, st.WilliamsP)
			}
		}
		o, want := pm.OverSplits, f.OverSplits[m]
		check("mean diff", o.Mean, want.Mean, 1e-12)
		check("t CI", o.Lo, want.Lo, 1e-10)
		check("t CI", o.Hi, want.Hi, 1e-10)
		check("t", o.T, want.T, 1e-10)
		check("t-test p", o.P, want.P, 1e-10)
		check("sign p", o.SignP, want.SignP, 1e-12)
		if o.Pos != want.Pos || o.Neg != want.Neg {
			t.Errorf("%s: signs %d/%d, want %d/%d", pm.Metric, o.Pos, o.Neg, want.Pos, want.Neg)
		}
		wantDec := NotSig
		if want.P < f.Alpha {
			wantDec = map[bool]string{true: Better, false: Worse}[want.Mean > 0]
		}
		if pm.Decision != wantDec || pm.DecidedBy != "paired t-test over 5 splits" {
			t.Errorf("%s: decision %q by %q, want %q by the t-test", pm.Metric, pm.Decision, pm.DecidedBy, wantDec)
		}
	}
	for k, v := range worst {
		t.Logf("max |%s - reference| = %.3g", k, v)
	}
}

// The bootstrap draws numpy's RandomState(seed).randint(0, n, size=n) stream, and its replicate
// differences give numpy's percentile interval and p-value on the same resamples.
func TestBootstrapAgainstNumpy(t *testing.T) {
	f := loadFixture(t)
	worst := 0.0
	for k, s := range f.Splits {
		var a, b Sample
		for i, name := range s.Names {
			if slices.Contains(s.BMissing, name) {
				continue
			}
			a.Pred, a.MOS = append(a.Pred, s.A[i]), append(a.MOS, s.MOS[i])
			b.Pred, b.MOS = append(b.Pred, -s.BServed[i]), append(b.MOS, s.MOS[i])
		}
		a.Fit, b.Fit = a.Pred, b.Pred
		idx := Indices(s.BootSeed, len(a.MOS), 2)
		if !slices.Equal(idx[0], s.BootFirstIndices[0]) || !slices.Equal(idx[1], s.BootFirstIndices[1]) {
			t.Fatalf("split %d: first resamples %v %v, numpy drew %v %v", k, idx[0], idx[1], s.BootFirstIndices[0], s.BootFirstIndices[1])
		}
		ra, rb := Replicates(a, s.BootSeed, f.Reps), Replicates(b, s.BootSeed, f.Reps)
		for m, want := range s.Boot {
			got := BootDiff(ra, rb, m, f.Alpha)
			worst = math.Max(worst, math.Max(math.Abs(got.Lo-want.Lo), math.Abs(got.Hi-want.Hi)))
			// The p-value counts signs of differences: exact unless a difference is within rounding of 0.
			if got.N != want.N || !near(got.Lo, want.Lo, 1e-12) || !near(got.Hi, want.Hi, 1e-12) || got.P != want.P {
				t.Errorf("split %d %s: bootstrap n %d [%.15g, %.15g] p %v; numpy n %d [%.15g, %.15g] p %v",
					k, Metrics[m], got.N, got.Lo, got.Hi, got.P, want.N, want.Lo, want.Hi, want.P)
			}
		}
	}
	t.Logf("max |bootstrap interval - numpy| = %.3g (tolerance 1e-12)", worst)
}
