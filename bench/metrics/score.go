package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
)

// Options control Score.
type Options struct {
	// HigherIsBetter must be true for ordinary predictors. When false (NIQE and
	// other lower-is-better metrics, model parameter agiqa.higher_is_better =
	// "false") the predictions are negated before anything is computed, so a
	// good lower-is-better model gets positive correlations.
	// Note the zero value is false: set it explicitly.
	HigherIsBetter bool
	// Fit is the logistic mapping fitted before PLCC and RMSE; FitNone (the
	// zero value) correlates raw predictions.
	Fit FitKind
}

// Scores are the metrics of one set of (prediction, MOS) pairs, e.g. one
// split's test images. Undefined metrics are NaN in Go and null in JSON,
// with the cause in Reasons.
//
// JSON fields:
//   - "n": number of pairs scored (0 when pred and mos lengths differ).
//   - "srcc": Spearman rank correlation of (sign-adjusted) predictions and MOS; null if undefined.
//   - "plcc": Pearson correlation of the (fitted, when "fit" is not "none") predictions and MOS; null if undefined.
//   - "krcc": Kendall tau-b of (sign-adjusted) predictions and MOS; null if undefined.
//   - "rmse": root mean squared error of the (fitted) predictions against MOS; without a fit it is
//     meaningful only for models that predict on the MOS scale; null if undefined.
//   - "fit": "none", "logistic4" or "logistic5": the mapping applied before plcc and rmse.
//   - "fit_params": the fitted b1..b4 or b1..b5 (see FitKind); omitted without a fit or when it failed.
//   - "reasons": metric name ("srcc", "plcc", "krcc", "rmse") -> why it is null; omitted when empty.
type Scores struct {
	N         int               `json:"n"`
	SRCC      float64           `json:"srcc"`
	PLCC      float64           `json:"plcc"`
	KRCC      float64           `json:"krcc"`
	RMSE      float64           `json:"rmse"`
	Fit       FitKind           `json:"fit"`
	FitParams []float64         `json:"fit_params,omitempty"`
	Reasons   map[string]string `json:"reasons,omitempty"`
}

// Score computes SRCC, KRCC on the predictions (negated when
// !opt.HigherIsBetter) and PLCC, RMSE on them after the optional logistic
// fit. Inputs are not modified. Every undefined metric is NaN with a reason;
// a failed fit makes PLCC and RMSE undefined but leaves SRCC and KRCC.
func Score(pred, mos []float64, opt Options) Scores {
	s := Scores{Fit: opt.Fit}
	if len(pred) == len(mos) {
		s.N = len(pred)
	}
	p := pred
	if !opt.HigherIsBetter {
		p = make([]float64, len(pred))
		for i, v := range pred {
			p[i] = -v
		}
	}
	var err error
	s.SRCC, err = SRCC(p, mos)
	s.note("srcc", err)
	s.KRCC, err = KRCC(p, mos)
	s.note("krcc", err)

	if opt.Fit != FitNone {
		l, err := FitLogistic(opt.Fit, p, mos)
		if err != nil {
			s.PLCC, s.RMSE = math.NaN(), math.NaN()
			s.note("plcc", err)
			s.note("rmse", err)
			return s
		}
		s.FitParams = l.Params
		fitted := make([]float64, len(p))
		for i, v := range p {
			fitted[i] = l.Apply(v)
		}
		p = fitted
	}
	s.PLCC, err = PLCC(p, mos)
	s.note("plcc", err)
	s.RMSE, err = RMSE(p, mos)
	s.note("rmse", err)
	return s
}

func (s *Scores) note(metric string, err error) {
	if err == nil {
		return
	}
	if s.Reasons == nil {
		s.Reasons = map[string]string{}
	}
	var u *UndefinedError
	if errors.As(err, &u) {
		if u.Metric != strings.ToUpper(metric) {
			// e.g. the fit failed: say so rather than blame PLCC itself.
			s.Reasons[metric] = u.Metric + ": " + u.Reason
			return
		}
		s.Reasons[metric] = u.Reason
		return
	}
	s.Reasons[metric] = err.Error()
}

// nullable maps NaN and ±Inf to JSON null (encoding/json rejects them).
func nullable(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func fromNullable(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

type scoresJSON struct {
	N         int               `json:"n"`
	SRCC      *float64          `json:"srcc"`
	PLCC      *float64          `json:"plcc"`
	KRCC      *float64          `json:"krcc"`
	RMSE      *float64          `json:"rmse"`
	Fit       FitKind           `json:"fit"`
	FitParams []float64         `json:"fit_params,omitempty"`
	Reasons   map[string]string `json:"reasons,omitempty"`
}

// MarshalJSON writes undefined metrics as null.
func (s Scores) MarshalJSON() ([]byte, error) {
	return json.Marshal(scoresJSON{
		N: s.N, SRCC: nullable(s.SRCC), PLCC: nullable(s.PLCC), KRCC: nullable(s.KRCC),
		RMSE: nullable(s.RMSE), Fit: s.Fit, FitParams: s.FitParams, Reasons: s.Reasons,
	})
}

// UnmarshalJSON reads null metrics back as NaN.
func (s *Scores) UnmarshalJSON(b []byte) error {
	var j scoresJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Scores{
		N: j.N, SRCC: fromNullable(j.SRCC), PLCC: fromNullable(j.PLCC), KRCC: fromNullable(j.KRCC),
		RMSE: fromNullable(j.RMSE), Fit: j.Fit, FitParams: j.FitParams, Reasons: j.Reasons,
	}
	return nil
}
