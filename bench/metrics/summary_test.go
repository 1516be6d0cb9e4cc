package metrics

import (
	"encoding/json"
	"math"
	"testing"
)

// summaryTol: mean/median/std are the same arithmetic as numpy; the t quantile
// comes from gonum's inverse regularised incomplete beta vs scipy's, which
// agree to ~1e-12 at these degrees of freedom.
const summaryTol = 1e-10

func TestSummarizeMatchesScipy(t *testing.T) {
	f := loadFixture(t)
	for _, c := range f.Summaries {
		vals := make([]float64, len(c.Values))
		for i, p := range c.Values {
			vals[i] = fromNullable(p)
		}
		s := Summarize(vals)
		if s.N != c.N || s.Dropped != c.Dropped {
			t.Errorf("%s: n %d dropped %d, want %d %d", c.Name, s.N, s.Dropped, c.N, c.Dropped)
		}
		check := func(field string, got float64, want *float64) {
			t.Helper()
			switch {
			case want == nil && !math.IsNaN(got):
				t.Errorf("%s: %s = %v, want NaN", c.Name, field, got)
			case want == nil && s.Reasons[field] == "":
				t.Errorf("%s: %s NaN without reason", c.Name, field)
			case want != nil && !near(got, *want, summaryTol):
				t.Errorf("%s: %s = %.17g, numpy/scipy %.17g", c.Name, field, got, *want)
			}
		}
		check("mean", s.Mean, &c.Mean)
		check("median", s.Median, &c.Median)
		check("std", s.Std, c.Std)
		check("ci95_low", s.CI95Low, c.CI95Low)
		check("ci95_high", s.CI95High, c.CI95High)
	}
}

func TestSummarizeEmptyJSON(t *testing.T) {
	nan := math.NaN()
	s := Summarize([]float64{nan, nan})
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"n":0,"dropped":2,"mean":null,"median":null,"std":null,"ci95_low":null,"ci95_high":null,` +
		`"reasons":{"ci95_high":"all values undefined (NaN)","ci95_low":"all values undefined (NaN)",` +
		`"mean":"all values undefined (NaN)","median":"all values undefined (NaN)","std":"all values undefined (NaN)"}}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(back.Mean) || back.Dropped != 2 {
		t.Errorf("round trip %+v, %v", back, err)
	}
	if e := Summarize(nil); e.N != 0 || e.Reasons["mean"] != "no finite values" {
		t.Errorf("nil: %+v", e)
	}
}

func TestSummarizeSplits(t *testing.T) {
	per := []Scores{
		{N: 10, SRCC: 0.5, PLCC: 0.6, KRCC: 0.4, RMSE: 1},
		{N: 10, SRCC: 0.7, PLCC: math.NaN(), KRCC: 0.5, RMSE: 2},
	}
	s := SummarizeSplits(per)
	if s.Splits != 2 || s.SRCC.Mean != 0.6 || s.PLCC.N != 1 || s.PLCC.Dropped != 1 || s.PLCC.Mean != 0.6 ||
		s.KRCC.Median != 0.45 || s.RMSE.Mean != 1.5 || !math.IsNaN(s.PLCC.Std) {
		t.Errorf("%+v", s)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Error(err)
	}
}
