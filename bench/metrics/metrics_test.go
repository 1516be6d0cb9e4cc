package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// corrTol: our correlations must equal scipy's to 1e-9 (absolute); in
// practice they agree to a few ulps since the formulas are the same.
const corrTol = 1e-9

func TestCorrelationsMatchScipy(t *testing.T) {
	f := loadFixture(t)
	for _, c := range f.Correlations {
		t.Run(c.Name, func(t *testing.T) {
			x, y := f.vec(t, c.Pred), f.vec(t, c.MOS)
			for _, m := range []struct {
				name string
				fn   func(x, y []float64) (float64, error)
				want float64
			}{
				{"SRCC", SRCC, c.SRCC}, {"PLCC", PLCC, c.PLCC}, {"KRCC", KRCC, c.KRCC}, {"RMSE", RMSE, c.RMSE},
			} {
				got, err := m.fn(x, y)
				if err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				if !near(got, m.want, corrTol) {
					t.Errorf("%s(%s, %s) = %.17g, scipy %.17g (diff %.3g, tol %g)",
						m.name, c.Pred, c.MOS, got, m.want, got-m.want, corrTol)
				}
			}
		})
	}
}

// The fixture's hand case, checked by hand independently of scipy:
// x = 1..5, y = 2 1 4 3 5. Ranks equal values; d = (-1, 1, -1, 1, 0),
// rho = 1 - 6*4/(5*24) = 0.8. Of 10 pairs, (1,2) and (3,4) are discordant:
// tau = (8 - 2)/10 = 0.6. With ties, x = (1,1,2), y = (1,2,2): pairs (1,2)
// tied in x, (2,3) tied in y, (1,3) concordant: tau_b = 1/sqrt(2*2) = 0.5.
func TestHandChecked(t *testing.T) {
	x, y := []float64{1, 2, 3, 4, 5}, []float64{2, 1, 4, 3, 5}
	for _, c := range []struct {
		name string
		fn   func(x, y []float64) (float64, error)
		x, y []float64
		want float64
	}{
		{"SRCC", SRCC, x, y, 0.8},
		{"PLCC", PLCC, x, y, 0.8},
		{"KRCC", KRCC, x, y, 0.6},
		{"RMSE", RMSE, x, y, math.Sqrt(4.0 / 5)},
		{"KRCC ties", KRCC, []float64{1, 1, 2}, []float64{1, 2, 2}, 0.5},
		{"KRCC reversed", KRCC, []float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		{"SRCC n=2", SRCC, []float64{0, 5}, []float64{7, 1}, -1},
	} {
		got, err := c.fn(c.x, c.y)
		if err != nil || !near(got, c.want, 1e-15) {
			t.Errorf("%s = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

// kendallNaive is the O(n^2) definition of tau-b.
func kendallNaive(x, y []float64) float64 {
	var con, dis, tx, ty float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			dx, dy := x[i]-x[j], y[i]-y[j]
			switch {
			case dx == 0 && dy == 0:
			case dx == 0:
				tx++
			case dy == 0:
				ty++
			case (dx > 0) == (dy > 0):
				con++
			default:
				dis++
			}
		}
	}
	// P - Tx (all pairs not tied in x) = con + dis + ty.
	return (con - dis) / math.Sqrt((con+dis+ty)*(con+dis+tx))
}

func TestKRCCMatchesNaiveOnTiedRandomData(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		n := 2 + r.IntN(200) // crosses the insertion-sort run length and odd merge widths
		levels := 1 + r.IntN(8)
		x, y := make([]float64, n), make([]float64, n)
		for i := range x {
			x[i] = float64(r.IntN(levels + 1))
			y[i] = float64(r.IntN(levels+1)) + 0.5*x[i]
		}
		got, err := KRCC(x, y)
		if isConstant(x) || isConstant(y) {
			if err == nil {
				t.Fatalf("trial %d: constant input accepted", trial)
			}
			continue
		}
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if want := kendallNaive(x, y); !near(got, want, 1e-12) {
			t.Fatalf("trial %d (n=%d): KRCC %v, naive %v", trial, n, got, want)
		}
	}
}

func TestAverageRanks(t *testing.T) {
	got := averageRanks([]float64{3, 1, 3, 2, 3, -1})
	want := []float64{5, 2, 5, 3, 5, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("averageRanks = %v, want %v", got, want)
		}
	}
}

func TestMergeCountInversions(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 15, 16, 17, 33, 100, 257} {
		a := make([]float64, n)
		for i := range a {
			a[i] = float64(r.IntN(10))
		}
		var want int64
		for i := range a {
			for j := i + 1; j < n; j++ {
				if a[i] > a[j] {
					want++
				}
			}
		}
		got := mergeCountInversions(a, make([]float64, n))
		if got != want {
			t.Errorf("n=%d: %d inversions, want %d", n, got, want)
		}
		for i := 1; i < n; i++ {
			if a[i-1] > a[i] {
				t.Fatalf("n=%d: not sorted at %d: %v", n, i, a)
			}
		}
	}
}

func TestUndefined(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	metrics := map[string]func(x, y []float64) (float64, error){
		"SRCC": SRCC, "PLCC": PLCC, "KRCC": KRCC, "RMSE": RMSE,
	}
	cases := []struct {
		name   string
		x, y   []float64
		reason string   // substring of UndefinedError.Reason
		only   []string // metrics concerned; nil = all
	}{
		{"empty", nil, nil, "at least", nil},
		{"one pair", []float64{1}, []float64{2}, "at least 2 pairs, got 1", []string{"SRCC", "PLCC", "KRCC"}},
		{"length mismatch", []float64{1, 2, 3}, []float64{1, 2}, "length mismatch: 3 predictions, 2 MOS", nil},
		{"constant pred", []float64{2, 2, 2}, []float64{1, 2, 3}, "constant pred", []string{"SRCC", "PLCC", "KRCC"}},
		{"constant mos", []float64{1, 2, 3}, []float64{4, 4, 4}, "constant mos", []string{"SRCC", "PLCC", "KRCC"}},
		{"NaN pred", []float64{1, nan, 3}, []float64{1, 2, 3}, "pred[1] is NaN", nil},
		{"Inf mos", []float64{1, 2, 3}, []float64{1, 2, inf}, "mos[2] is +Inf", nil},
		{"-Inf pred", []float64{math.Inf(-1), 2, 3}, []float64{1, 2, 3}, "pred[0] is -Inf", nil},
	}
	for _, c := range cases {
		for name, fn := range metrics {
			if c.only != nil && !strings.Contains(strings.Join(c.only, ","), name) {
				continue
			}
			got, err := fn(c.x, c.y)
			if !math.IsNaN(got) {
				t.Errorf("%s %s: got %v, want NaN", name, c.name, got)
			}
			var u *UndefinedError
			if !errors.As(err, &u) {
				t.Errorf("%s %s: error %v is not *UndefinedError", name, c.name, err)
				continue
			}
			if u.Metric != name || !strings.Contains(u.Reason, c.reason) {
				t.Errorf("%s %s: got {%s, %q}, want reason containing %q", name, c.name, u.Metric, u.Reason, c.reason)
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%s %s: error text %q does not name the metric", name, c.name, err)
			}
		}
	}
}

// RMSE is defined where the correlations are not.
func TestRMSEDefinedForConstantAndSingle(t *testing.T) {
	if got, err := RMSE([]float64{2}, []float64{5}); err != nil || got != 3 {
		t.Errorf("RMSE single = %v, %v; want 3", got, err)
	}
	if got, err := RMSE([]float64{1, 1}, []float64{1, 3}); err != nil || !near(got, math.Sqrt2, 1e-15) {
		t.Errorf("RMSE constant pred = %v, %v; want sqrt 2", got, err)
	}
}

// Pearson's r is scale-free, but squaring 1e200 overflows to +Inf (which gave r = 0 with no error)
// and squaring 1e-200 underflows to 0 (which gave "zero variance"). scipy normalises first.
func TestCorrelationsMatchScipyAtExtremeScales(t *testing.T) {
	f := loadFixture(t)
	if len(f.Scaled) == 0 {
		t.Fatal("testdata/scipy_ref.json: no scaled cases")
	}
	for _, c := range f.Scaled {
		x, y := f.vec(t, c.Pred), f.vec(t, c.MOS)
		for _, m := range []struct {
			name string
			fn   func(x, y []float64) (float64, error)
			want float64
		}{{"SRCC", SRCC, c.SRCC}, {"PLCC", PLCC, c.PLCC}, {"KRCC", KRCC, c.KRCC}} {
			got, err := m.fn(x, y)
			if err != nil || !near(got, m.want, corrTol) {
				t.Errorf("%s: %s = %.17g (err %v), scipy %.17g", c.Name, m.name, got, err, m.want)
			}
			// Swapped roles: the extreme vector as MOS.
			if got, err := m.fn(y, x); err != nil || !near(got, m.want, corrTol) {
				t.Errorf("%s, swapped: %s = %.17g (err %v), scipy %.17g", c.Name, m.name, got, err, m.want)
			}
		}
	}
}
