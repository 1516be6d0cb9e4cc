package metrics

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
)

func TestScoreMatchesScipy(t *testing.T) {
	f := loadFixture(t)
	for _, c := range f.Correlations {
		x, y := f.vec(t, c.Pred), f.vec(t, c.MOS)
		s := Score(x, y, Options{HigherIsBetter: true})
		if s.N != len(x) || s.Reasons != nil || s.Fit != FitNone || s.FitParams != nil {
			t.Errorf("%s: %+v", c.Name, s)
		}
		for _, m := range []struct {
			name      string
			got, want float64
		}{{"srcc", s.SRCC, c.SRCC}, {"plcc", s.PLCC, c.PLCC}, {"krcc", s.KRCC, c.KRCC}, {"rmse", s.RMSE, c.RMSE}} {
			if !near(m.got, m.want, corrTol) {
				t.Errorf("%s: %s %.17g, scipy %.17g", c.Name, m.name, m.got, m.want)
			}
		}
	}
}

// A lower-is-better predictor (pred = -MOS-like) scores like its negation
// with HigherIsBetter; the fixture's decreasing sigmoid has scipy SRCC < 0.
func TestScoreLowerIsBetter(t *testing.T) {
	f := loadFixture(t)
	x, y := f.vec(t, "sig_neg_x"), f.vec(t, "sig_y")
	low := Score(x, y, Options{HigherIsBetter: false})
	neg := make([]float64, len(x))
	for i, v := range x {
		neg[i] = -v
	}
	high := Score(neg, y, Options{HigherIsBetter: true})
	if low.SRCC != high.SRCC || low.KRCC != high.KRCC || low.PLCC != high.PLCC || low.SRCC <= 0.9 {
		t.Errorf("lower-is-better %+v vs negated %+v", low, high)
	}
	raw := Score(x, y, Options{HigherIsBetter: true})
	if !near(raw.SRCC, -low.SRCC, 1e-15) || raw.SRCC >= 0 {
		t.Errorf("raw SRCC %v, flipped %v", raw.SRCC, low.SRCC)
	}
	if x[0] != f.Vectors["sig_neg_x"][0] || &x[0] != &f.Vectors["sig_neg_x"][0] || x[0] == neg[0] {
		t.Error("Score modified its input")
	}
}

func TestScoreUndefinedJSON(t *testing.T) {
	s := Score([]float64{1, 2, 3}, []float64{4, 4, 4}, Options{HigherIsBetter: true})
	if !math.IsNaN(s.SRCC) || !math.IsNaN(s.PLCC) || !math.IsNaN(s.KRCC) {
		t.Fatalf("constant MOS: %+v", s)
	}
	if s.RMSE != math.Sqrt(14.0/3) { // (9+4+1)/3
		t.Errorf("RMSE %v", s.RMSE)
	}
	for _, k := range []string{"srcc", "plcc", "krcc"} {
		if !strings.Contains(s.Reasons[k], "constant mos") {
			t.Errorf("reason %s = %q", k, s.Reasons[k])
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"n":3,"srcc":null,"plcc":null,"krcc":null,"rmse":2.160246899469287,"fit":"none",` +
		`"reasons":{"krcc":"constant mos (all 3 values equal 4)","plcc":"constant mos (all 3 values equal 4)",` +
		`"srcc":"constant mos (all 3 values equal 4)"}}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back Scores
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.SRCC) || back.RMSE != s.RMSE || back.Reasons["plcc"] != s.Reasons["plcc"] {
		t.Errorf("round trip: %+v", back)
	}

	// Length mismatch: n is 0, every metric null, and a failed fit says so.
	m := Score([]float64{1, 2, 3, 4, 5, 6}, []float64{1, 2}, Options{HigherIsBetter: true, Fit: Fit4})
	if m.N != 0 || !strings.HasPrefix(m.Reasons["plcc"], "logistic4 fit: length mismatch") ||
		!strings.HasPrefix(m.Reasons["srcc"], "length mismatch: 6 predictions, 2 MOS") {
		t.Errorf("mismatch: %+v", m)
	}
	b, _ = json.Marshal(m)
	if !strings.Contains(string(b), `"rmse":null`) || !strings.Contains(string(b), `"fit":"logistic4"`) {
		t.Errorf("mismatch JSON %s", b)
	}
}

func TestPairs(t *testing.T) {
	f := loadFixture(t)
	x, y := f.vec(t, "agiqa3k_mos_align"), f.vec(t, "agiqa3k_mos_quality")
	var p Pairs // zero value usable
	var wg sync.WaitGroup
	const workers = 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(x); i += workers {
				p.Add(x[i], y[i])
			}
		}()
	}
	wg.Wait()
	if p.Len() != len(x) {
		t.Fatalf("Len %d, want %d", p.Len(), len(x))
	}
	got := p.Scores(Options{HigherIsBetter: true})
	want := Score(x, y, Options{HigherIsBetter: true})
	// Arrival order differs, so only rounding may differ.
	if got.N != want.N || !near(got.SRCC, want.SRCC, 1e-12) || !near(got.PLCC, want.PLCC, 1e-12) ||
		got.KRCC != want.KRCC || !near(got.RMSE, want.RMSE, 1e-12) {
		t.Errorf("Pairs %+v, Score %+v", got, want)
	}
	p.Add(math.NaN(), 1)
	if s := p.Scores(Options{HigherIsBetter: true}); !strings.Contains(s.Reasons["srcc"], "pred[2982] is NaN") {
		t.Errorf("NaN pair: %+v", s.Reasons)
	}
	p.Reset()
	if s := NewPairs(8).Scores(Options{}); p.Len() != 0 || s.N != 0 || s.Reasons["srcc"] == "" {
		t.Errorf("after Reset: len %d, empty scores %+v", p.Len(), s)
	}
}
