package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// fitTol bounds |PLCC - scipy's| and |RMSE - scipy's| after a logistic fit.
// scipy's curve_fit (Levenberg-Marquardt, gradient-based) and our Nelder-Mead
// stop at different points inside their own convergence tolerances around the
// same least-squares minimum, and on flat valleys (a near-linear relation, a
// near-step logistic5) the parameters can drift far while the fitted values
// barely move, so the fitted quality, not the parameters, is compared, at 1e-4.
const fitTol = 1e-4

func TestFitMatchesScipyCurveFit(t *testing.T) {
	f := loadFixture(t)
	for _, c := range f.Fits {
		t.Run(c.Name, func(t *testing.T) {
			x, y := f.vec(t, c.Pred), f.vec(t, c.MOS)

			// Our function forms must be scipy's: scipy's parameters through
			// Apply give scipy's PLCC/RMSE to corrTol.
			ref := Logistic{Kind: c.Fit, Params: c.Params}
			plcc, rmse := fittedQuality(t, ref, x, y)
			if !near(plcc, c.PLCC, corrTol) || !near(rmse, c.RMSE, corrTol) {
				t.Fatalf("scipy params through Apply: PLCC %.12g RMSE %.12g, scipy %.12g %.12g", plcc, rmse, c.PLCC, c.RMSE)
			}

			s := Score(x, y, Options{HigherIsBetter: true, Fit: c.Fit})
			if s.Reasons != nil {
				t.Fatalf("Score: reasons %v", s.Reasons)
			}
			if !near(s.PLCC, c.PLCC, fitTol) || !near(s.RMSE, c.RMSE, fitTol) {
				t.Errorf("fitted PLCC %.8g RMSE %.8g, scipy %.8g %.8g (tol %g); params %v vs scipy %v",
					s.PLCC, s.RMSE, c.PLCC, c.RMSE, fitTol, s.FitParams, c.Params)
			}
			t.Logf("PLCC diff %.2g, RMSE diff %.2g", s.PLCC-c.PLCC, s.RMSE-c.RMSE)
			// Not worse than scipy's optimum beyond rounding.
			if s.RMSE > c.RMSE*(1+1e-7) {
				t.Errorf("fit RMSE %.12g worse than scipy's %.12g", s.RMSE, c.RMSE)
			}
			// The fit does not touch the rank metrics.
			if !near(s.SRCC, c.SRCC, corrTol) || !near(s.KRCC, c.KRCC, corrTol) {
				t.Errorf("SRCC/KRCC %v %v, scipy %v %v", s.SRCC, s.KRCC, c.SRCC, c.KRCC)
			}
			// FitParams are what produced PLCC.
			got, _ := fittedQuality(t, Logistic{Kind: c.Fit, Params: s.FitParams}, x, y)
			if !near(got, s.PLCC, 1e-12) {
				t.Errorf("FitParams give PLCC %v, Score reported %v", got, s.PLCC)
			}
		})
	}
}

func fittedQuality(t *testing.T, l Logistic, x, y []float64) (plcc, rmse float64) {
	t.Helper()
	fx := make([]float64, len(x))
	for i, v := range x {
		fx[i] = l.Apply(v)
	}
	plcc, err := PLCC(fx, y)
	if err != nil {
		t.Fatal(err)
	}
	rmse, err = RMSE(fx, y)
	if err != nil {
		t.Fatal(err)
	}
	return plcc, rmse
}

func TestFitUndefined(t *testing.T) {
	for _, c := range []struct {
		name string
		kind FitKind
		x, y []float64
	}{
		{"too few for 4 params", Fit4, []float64{1, 2, 3, 4}, []float64{1, 2, 3, 5}},
		{"too few for 5 params", Fit5, []float64{1, 2, 3, 4, 5}, []float64{1, 2, 3, 5, 6}},
		{"constant pred", Fit4, []float64{1, 1, 1, 1, 1, 1}, []float64{1, 2, 3, 4, 5, 6}},
		{"NaN", Fit5, []float64{1, 2, 3, math.NaN(), 5, 6, 7}, []float64{1, 2, 3, 4, 5, 6, 7}},
	} {
		if _, err := FitLogistic(c.kind, c.x, c.y); err == nil {
			t.Errorf("%s: no error", c.name)
		} else if u := (*UndefinedError)(nil); !errors.As(err, &u) || u.Metric != c.kind.String()+" fit" {
			t.Errorf("%s: error %v, want *UndefinedError for %q", c.name, err, c.kind.String()+" fit")
		}
		s := Score(c.x, c.y, Options{HigherIsBetter: true, Fit: c.kind})
		if !math.IsNaN(s.PLCC) || !math.IsNaN(s.RMSE) || s.Reasons["plcc"] == "" || s.FitParams != nil {
			t.Errorf("%s: Score after failed fit = %+v", c.name, s)
		}
	}
	if _, err := FitLogistic(FitNone, []float64{1, 2}, []float64{1, 2}); err == nil {
		t.Error("FitLogistic(FitNone) accepted")
	}
}

func TestFitKindText(t *testing.T) {
	for _, k := range []FitKind{FitNone, Fit4, Fit5} {
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var back FitKind
		if err := json.Unmarshal(b, &back); err != nil || back != k {
			t.Errorf("%v -> %s -> %v, %v", k, b, back, err)
		}
	}
	if _, err := ParseFitKind("cubic"); err == nil {
		t.Error(`ParseFitKind("cubic") accepted`)
	}
	if _, err := json.Marshal(FitKind(9)); err == nil {
		t.Error("FitKind(9) marshalled")
	}
}

// The logistic fit standardises predictions first; their spread must not overflow (1e200) or
// underflow (1e-200) on the way, so scaled predictions fit as well as the originals.
func TestFitAtExtremeScales(t *testing.T) {
	f := loadFixture(t)
	var want float64
	for _, c := range f.Fits {
		if c.Name == "sigmoid logistic4" {
			want = c.PLCC
		}
	}
	if want == 0 {
		t.Fatal("fixture has no \"sigmoid logistic4\" fit")
	}
	y := f.vec(t, "sig_y")
	for _, name := range []string{"sig_x_huge", "sig_x_tiny"} {
		s := Score(f.vec(t, name), y, Options{HigherIsBetter: true, Fit: Fit4})
		if s.Reasons != nil || !near(s.PLCC, want, fitTol) {
			t.Errorf("%s: logistic4 PLCC %v (reasons %v), scipy's fit on the unscaled vector %v", name, s.PLCC, s.Reasons, want)
		}
	}
}
