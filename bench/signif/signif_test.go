package signif

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/table"
)

// synth builds a model's result on splits of n images: MOS from a shared stream, predictions MOS
// plus noise of the given scale. splits == -1 scores every image once (split -1).
func synth(name string, noise float64, splits, n int, seed uint64) *runner.ModelResult {
	r := &runner.ModelResult{Model: name, Catalog: name, Dataset: "ds", HigherIsBetter: true,
		Summary: map[string]metrics.SplitSummary{"quality": {}},
		Pred:    map[string][]float64{}, MOS: map[string][]float64{}, Images: map[string][]string{}}
	mosRng := rand.New(rand.NewPCG(1, 2))
	noiseRng := rand.New(rand.NewPCG(seed, 3))
	mos := make([]float64, 10*n)
	for i := range mos {
		mos[i] = mosRng.Float64() * 5
	}
	add := func(split int, lo, hi int) {
		for i := lo; i < hi; i++ {
			r.Pred["quality"] = append(r.Pred["quality"], mos[i]+noise*noiseRng.NormFloat64())
			r.MOS["quality"] = append(r.MOS["quality"], mos[i])
			r.Images["quality"] = append(r.Images["quality"], fmt.Sprintf("img%04d", i))
		}
		r.Splits = append(r.Splits, runner.SplitScores{Split: split, Target: "quality", Scores: metrics.Scores{N: hi - lo}})
	}
	if splits < 0 {
		add(-1, 0, 10*n)
		return r
	}
	for k := 0; k < splits; k++ {
		add(k, k*n, (k+1)*n)
	}
	return r
}

func TestClearDifferenceIsSignificant(t *testing.T) {
	good, bad := synth("good", 0.3, 5, 60, 10), synth("bad", 2.5, 5, 60, 11)
	rep, err := Compute([]*runner.ModelResult{good, bad}, Options{Alpha: 0.05, Bootstrap: 200, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Groups[0].Pairs[0]
	for _, pm := range p.Metrics {
		if pm.Decision != Better || !strings.HasPrefix(pm.DecidedBy, "paired t-test over 5") {
			t.Errorf("%s: %s by %s (p %v), want better by the t-test", pm.Metric, pm.Decision, pm.DecidedBy, pm.P)
		}
		for _, s := range pm.PerSplit {
			if s.BootN != 200 || !(s.BootLo > 0) || !(float64(s.BootP) < 0.05) {
				t.Errorf("%s split %d: bootstrap n %d [%v, %v] p %v: should exclude 0", pm.Metric, s.Split, s.BootN, s.BootLo, s.BootHi, s.BootP)
			}
		}
	}
	// The same seed redraws the same resamples; another seed draws others.
	again, _ := Compute([]*runner.ModelResult{good, bad}, Options{Alpha: 0.05, Bootstrap: 200, Seed: 3})
	other, _ := Compute([]*runner.ModelResult{good, bad}, Options{Alpha: 0.05, Bootstrap: 200, Seed: 4})
	s0 := p.Metrics[0].PerSplit[0]
	if again.Groups[0].Pairs[0].Metrics[0].PerSplit[0] != s0 {
		t.Error("same seed, different bootstrap")
	}
	if other.Groups[0].Pairs[0].Metrics[0].PerSplit[0].BootLo == s0.BootLo {
		t.Error("another seed gave the same bootstrap interval")
	}
}

// One split: the bootstrap decides; without it, Williams' test; KRCC then has no test.
func TestDecisionOnOneSplit(t *testing.T) {
	good, bad := synth("good", 0.3, -1, 30, 10), synth("bad", 2.5, -1, 30, 11)
	rep, err := Compute([]*runner.ModelResult{good, bad}, Options{Alpha: 0.05, Bootstrap: 300, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, pm := range rep.Groups[0].Pairs[0].Metrics {
		if pm.Decision != Better || pm.DecidedBy != "paired bootstrap (300 replicates, 1 split)" || pm.P != pm.PerSplit[0].BootP {
			t.Errorf("%s: %s by %q", pm.Metric, pm.Decision, pm.DecidedBy)
		}
	}
	rep, _ = Compute([]*runner.ModelResult{good, bad}, Options{Alpha: 0.05})
	for _, pm := range rep.Groups[0].Pairs[0].Metrics {
		switch pm.Metric {
		case "krcc":
			if pm.Decision != NotSig || pm.DecidedBy != "none" || !strings.Contains(pm.Reason, "not KRCC") {
				t.Errorf("krcc without bootstrap: %s by %q (%s)", pm.Decision, pm.DecidedBy, pm.Reason)
			}
		default:
			if pm.Decision != Better || pm.DecidedBy != "Williams' test (1 split)" || !(float64(pm.P) < 1e-6) {
				t.Errorf("%s: %s by %q p %v", pm.Metric, pm.Decision, pm.DecidedBy, pm.P)
			}
		}
	}
}

// A model scored once on every image pairs with each split of a per-split model, on that split's
// images; images one model lacks are left out and counted.
func TestAllImagesAgainstSplitsAndMissing(t *testing.T) {
	zero := synth("zeroshot", 1, -1, 40, 5)
	per := synth("persplit", 1, 4, 40, 6)
	// zeroshot lost two images of persplit's split 1.
	drop := map[string]bool{"img0041": true, "img0050": true}
	var p2, m2 []float64
	var n2 []string
	for i, n := range zero.Images["quality"] {
		if !drop[n] {
			p2, m2, n2 = append(p2, zero.Pred["quality"][i]), append(m2, zero.MOS["quality"][i]), append(n2, n)
		}
	}
	zero.Pred["quality"], zero.MOS["quality"], zero.Images["quality"] = p2, m2, n2
	zero.Splits[0].Scores.N -= 2
	rep, err := Compute([]*runner.ModelResult{zero, per}, Options{Alpha: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Groups[0].Pairs[0]
	if fmt.Sprint(p.Splits) != "[0 1 2 3]" || p.Common != 158 || p.OnlyA != 0 || p.OnlyB != 2 {
		t.Fatalf("splits %v common %d only %d/%d", p.Splits, p.Common, p.OnlyA, p.OnlyB)
	}
	if n := p.Metrics[0].PerSplit[1].N; n != 38 {
		t.Errorf("split 1 compared on %d images, want 38", n)
	}
	tabs := Tables(rep)
	var b bytes.Buffer
	if err := table.Render(&b, tabs[0], "text"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "compared on the 158 images both scored (0 scored by zeroshot only, 2 by persplit only); zeroshot (scored once on every image) is compared on persplit's test images of each split") {
		t.Errorf("matrix does not say how many images were compared:\n%s", b.String())
	}
}

func TestBadResults(t *testing.T) {
	a, b := synth("a", 1, 3, 20, 1), synth("a", 1, 3, 20, 2)
	if _, err := Compute([]*runner.ModelResult{a, b}, Options{Alpha: 0.05}); err == nil || !strings.Contains(err.Error(), "model a appears twice") {
		t.Errorf("duplicate model: %v", err)
	}
	b.Model = "b"
	b.Images = nil // e.g. a result read back from JSON
	rep, err := Compute([]*runner.ModelResult{a, b}, Options{Alpha: 0.05})
	if err != nil || len(rep.Groups[0].Models) != 1 || !strings.Contains(strings.Join(rep.Groups[0].Notes, ""), "b: no per-image predictions for quality") {
		t.Errorf("result without images: %v %+v", err, rep)
	}
	b.Images = a.Images
	b.MOS = map[string][]float64{"quality": append([]float64{99}, a.MOS["quality"][1:]...)}
	if _, err := Compute([]*runner.ModelResult{a, b}, Options{Alpha: 0.05}); err == nil || !strings.Contains(err.Error(), "image img0000 has MOS") {
		t.Errorf("disagreeing MOS: %v", err)
	}
	for _, o := range []Options{{Alpha: 0}, {Alpha: 1.5}, {Alpha: 0.05, Bootstrap: -1}} {
		if _, err := Compute(nil, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// Matrices are antisymmetric (row better than column iff column worse than row) and render in every
// format; the diagonal is blank.
func TestTablesRenderEveryFormat(t *testing.T) {
	rs := []*runner.ModelResult{synth("m1", 0.3, 5, 50, 1), synth("m2", 2.5, 5, 50, 2), synth("m3", 0.35, 5, 50, 3)}
	rep, err := Compute(rs, Options{Alpha: 0.05, Bootstrap: 50, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	tabs := Tables(rep)
	if len(tabs) != 4 || tabs[0].ID != "signif-ds-quality-srcc" || tabs[3].ID != "signif-ds-quality-pairs" {
		t.Fatalf("tables %d, first %s", len(tabs), tabs[0].ID)
	}
	m := tabs[0].RowGroups[0].Rows
	for i := range m {
		if m[i].Cells[i].Text != table.NotMeasured {
			t.Errorf("diagonal %d: %q", i, m[i].Cells[i].Text)
		}
		for j := range m {
			if i == j {
				continue
			}
			a, b := strings.Fields(m[i].Cells[j].Text), strings.Fields(m[j].Cells[i].Text)
			if Flip(a[0]) != b[0] || strings.Trim(a[1], "+-") != strings.Trim(b[1], "+-") || a[1][0] == b[1][0] {
				t.Errorf("cells (%d,%d) %q and (%d,%d) %q disagree", i, j, m[i].Cells[j].Text, j, i, m[j].Cells[i].Text)
			}
		}
	}
	if !strings.HasPrefix(m[0].Cells[1].Text, "better +") || !strings.HasPrefix(m[1].Cells[0].Text, "worse -") {
		t.Errorf("m1 vs m2: %q / %q", m[0].Cells[1].Text, m[1].Cells[0].Text)
	}
	for _, tab := range tabs {
		for _, f := range table.Formats {
			var b bytes.Buffer
			if err := table.Render(&b, tab, f); err != nil || b.Len() == 0 {
				t.Errorf("%s as %s: %v", tab.ID, f, err)
			}
		}
	}
}

func TestWilliamsDegenerate(t *testing.T) {
	if w := Williams(0.8, 0.8, 1, 50); w.T != 0 || w.P != 1 {
		t.Errorf("identical predictors: %+v", w)
	}
	if w := Williams(0.8, 0.7, 0.9, 3); !math.IsNaN(w.P) || w.Reason == "" {
		t.Errorf("n = 3: %+v", w)
	}
	// Antisymmetric in the two models.
	w1, w2 := Williams(0.8, 0.7, 0.6, 40), Williams(0.7, 0.8, 0.6, 40)
	if math.Abs(w1.T+w2.T) > 1e-12 || math.Abs(w1.P-w2.P) > 1e-12 || !(w1.T > 0) {
		t.Errorf("swap: %+v %+v", w1, w2)
	}
}

// BenchmarkComputeAGIQA3kSplit: 4 models, 10 splits of 600 test images (AGIQA-3k's), 1000 replicates.
func BenchmarkComputeAGIQA3kSplit(b *testing.B) {
	var rs []*runner.ModelResult
	for i := range 4 {
		rs = append(rs, synth(fmt.Sprintf("m%d", i), 0.5+0.2*float64(i), 10, 600, uint64(i)))
	}
	for b.Loop() {
		if _, err := Compute(rs, Options{Alpha: 0.05, Bootstrap: 1000, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// With --plcc-fit the table's PLCC is on each split's fitted logistic; the comparison uses the same
// mapping (from SplitScores.Scores.FitParams), so its per-split PLCC equals the table's.
func TestPLCCThroughTheTablesFit(t *testing.T) {
	var rs []*runner.ModelResult
	for i, noise := range []float64{0.4, 0.9} {
		r := synth(fmt.Sprintf("m%d", i), noise, 3, 40, uint64(i))
		for k := range r.Splits {
			lo := k * 40
			pred, mos := r.Pred["quality"][lo:lo+40], r.MOS["quality"][lo:lo+40]
			for j := range pred {
				pred[j] = math.Exp(pred[j]) // a nonlinear scale the logistic undoes
			}
			r.Splits[k].Scores = metrics.Score(pred, mos, metrics.Options{HigherIsBetter: true, Fit: metrics.Fit4})
			if r.Splits[k].Scores.FitParams == nil {
				t.Fatalf("fit failed: %v", r.Splits[k].Scores.Reasons)
			}
		}
		rs = append(rs, r)
	}
	rep, err := Compute(rs, Options{Alpha: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	pl := rep.Groups[0].Pairs[0].Metrics[1]
	for k, s := range pl.PerSplit {
		a, b := rs[0].Splits[k].Scores.PLCC, rs[1].Splits[k].Scores.PLCC
		if math.Abs(float64(s.A)-a) > 1e-12 || math.Abs(float64(s.B)-b) > 1e-12 {
			t.Errorf("split %d: PLCC %v, %v; the table's (fitted) %v, %v", k, s.A, s.B, a, b)
		}
	}
}
