package metrics

import (
	"encoding/json"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// Summary aggregates one metric over splits. Mean is the number papers
// report; the rest says how much it moves between splits.
//
// JSON fields:
//   - "n": number of finite values used.
//   - "dropped": number of NaN (undefined) or infinite values left out.
//   - "mean": arithmetic mean of the used values; null when n == 0.
//   - "median": median (mean of the middle two for even n); null when n == 0.
//   - "std": sample standard deviation (ddof = 1); null when n < 2.
//   - "ci95_low", "ci95_high": mean -+ t(0.975, n-1) * std / sqrt(n), the 95%
//     Student-t confidence interval of the mean; null when n < 2.
//   - "reasons": field name -> why it is null; omitted when empty.
type Summary struct {
	N        int               `json:"n"`
	Dropped  int               `json:"dropped"`
	Mean     float64           `json:"mean"`
	Median   float64           `json:"median"`
	Std      float64           `json:"std"`
	CI95Low  float64           `json:"ci95_low"`
	CI95High float64           `json:"ci95_high"`
	Reasons  map[string]string `json:"reasons,omitempty"`
}

// Summarize aggregates per-split values, skipping NaN (undefined splits) and
// counting them in Dropped. values is not modified.
func Summarize(values []float64) Summary {
	v := make([]float64, 0, len(values))
	for _, x := range values {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	s := Summary{N: len(v), Dropped: len(values) - len(v)}
	nan := math.NaN()
	if s.N == 0 {
		s.Mean, s.Median, s.Std, s.CI95Low, s.CI95High = nan, nan, nan, nan, nan
		why := "no finite values"
		if s.Dropped > 0 {
			why = "all values undefined (NaN)"
		}
		s.Reasons = map[string]string{"mean": why, "median": why, "std": why, "ci95_low": why, "ci95_high": why}
		return s
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	s.Mean = sum / float64(s.N)
	slices.Sort(v)
	if h := s.N / 2; s.N%2 == 1 {
		s.Median = v[h]
	} else {
		s.Median = (v[h-1] + v[h]) / 2
	}
	if s.N == 1 {
		s.Std, s.CI95Low, s.CI95High = nan, nan, nan
		why := "needs at least 2 values, got 1"
		s.Reasons = map[string]string{"std": why, "ci95_low": why, "ci95_high": why}
		return s
	}
	var ss float64
	for _, x := range v {
		d := x - s.Mean
		ss += d * d
	}
	s.Std = math.Sqrt(ss / float64(s.N-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(s.N - 1)}.Quantile(0.975)
	half := t * s.Std / math.Sqrt(float64(s.N))
	s.CI95Low, s.CI95High = s.Mean-half, s.Mean+half
	return s
}

type summaryJSON struct {
	N        int               `json:"n"`
	Dropped  int               `json:"dropped"`
	Mean     *float64          `json:"mean"`
	Median   *float64          `json:"median"`
	Std      *float64          `json:"std"`
	CI95Low  *float64          `json:"ci95_low"`
	CI95High *float64          `json:"ci95_high"`
	Reasons  map[string]string `json:"reasons,omitempty"`
}

// MarshalJSON writes undefined fields as null.
func (s Summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryJSON{
		N: s.N, Dropped: s.Dropped, Mean: nullable(s.Mean), Median: nullable(s.Median),
		Std: nullable(s.Std), CI95Low: nullable(s.CI95Low), CI95High: nullable(s.CI95High), Reasons: s.Reasons,
	})
}

// UnmarshalJSON reads null fields back as NaN.
func (s *Summary) UnmarshalJSON(b []byte) error {
	var j summaryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Summary{
		N: j.N, Dropped: j.Dropped, Mean: fromNullable(j.Mean), Median: fromNullable(j.Median),
		Std: fromNullable(j.Std), CI95Low: fromNullable(j.CI95Low), CI95High: fromNullable(j.CI95High), Reasons: j.Reasons,
	}
	return nil
}

// SplitSummary aggregates Scores over splits, one Summary per metric.
//
// JSON fields: "splits" (number of Scores given) and "srcc", "plcc", "krcc",
// "rmse" (each a Summary, see there).
type SplitSummary struct {
	Splits int     `json:"splits"`
	SRCC   Summary `json:"srcc"`
	PLCC   Summary `json:"plcc"`
	KRCC   Summary `json:"krcc"`
	RMSE   Summary `json:"rmse"`
}

// SummarizeSplits summarises each metric of per-split Scores.
func SummarizeSplits(per []Scores) SplitSummary {
	col := func(f func(Scores) float64) []float64 {
		out := make([]float64, len(per))
		for i, s := range per {
			out[i] = f(s)
		}
		return out
	}
	return SplitSummary{
		Splits: len(per),
		SRCC:   Summarize(col(func(s Scores) float64 { return s.SRCC })),
		PLCC:   Summarize(col(func(s Scores) float64 { return s.PLCC })),
		KRCC:   Summarize(col(func(s Scores) float64 { return s.KRCC })),
		RMSE:   Summarize(col(func(s Scores) float64 { return s.RMSE })),
	}
}
