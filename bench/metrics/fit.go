package metrics

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// FitKind selects the monotonic mapping fitted from predictions to MOS before
// PLCC and RMSE are computed (the VQEG practice; SRCC and KRCC are invariant
// to it). The zero value is FitNone, which is what IP-IQA and pyiqa report.
type FitKind int

const (
	// FitNone correlates raw predictions.
	FitNone FitKind = iota
	// Fit4 is the 4-parameter logistic
	//	f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2.
	Fit4
	// Fit5 is the 5-parameter logistic with a linear term
	//	f(x) = b1 * (0.5 - 1 / (1 + exp(b2 * (x - b3)))) + b4*x + b5.
	Fit5
)

var fitNames = [...]string{FitNone: "none", Fit4: "logistic4", Fit5: "logistic5"}

// String returns "none", "logistic4" or "logistic5".
func (k FitKind) String() string {
	if k >= 0 && int(k) < len(fitNames) {
		return fitNames[k]
	}
	return fmt.Sprintf("FitKind(%d)", int(k))
}

// ParseFitKind is the inverse of String; it also accepts "" (none), "4" and "5".
func ParseFitKind(s string) (FitKind, error) {
	switch s {
	case "", "none":
		return FitNone, nil
	case "logistic4", "4":
		return Fit4, nil
	case "logistic5", "5":
		return Fit5, nil
	}
	return FitNone, fmt.Errorf("metrics: unknown fit %q (want none, logistic4 or logistic5)", s)
}

// MarshalText writes the String form, so JSON carries "logistic4" etc.
func (k FitKind) MarshalText() ([]byte, error) {
	if k < 0 || int(k) >= len(fitNames) {
		return nil, fmt.Errorf("metrics: invalid FitKind %d", int(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText accepts what ParseFitKind accepts.
func (k *FitKind) UnmarshalText(b []byte) error {
	v, err := ParseFitKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Logistic is a fitted mapping from predictions to the MOS scale.
type Logistic struct {
	Kind   FitKind
	Params []float64 // b1..b4 (Fit4) or b1..b5 (Fit5), in the caller's units
}

// Apply evaluates the fitted function at x.
func (l Logistic) Apply(x float64) float64 {
	return logistic(l.Kind, l.Params, x)
}

func logistic(k FitKind, b []float64, x float64) float64 {
	switch k {
	case Fit4:
		return (b[0]-b[1])/(1+math.Exp(-(x-b[2])/math.Abs(b[3]))) + b[1]
	case Fit5:
		return b[0]*(0.5-1/(1+math.Exp(b[1]*(x-b[2])))) + b[3]*x + b[4]
	}
	return x
}

// FitLogistic fits kind (Fit4 or Fit5) to (pred, mos) by least squares with
// Nelder-Mead. Both variables are standardised first so that one simplex size
// suits every scale (the families are closed under affine maps of x and y, so
// the optimum is the same); the parameters are returned in original units.
// The start is the usual one: the MOS range as asymptotes (swapped for a
// decreasing relation), the centre at mean(pred), the width from std(pred).
func FitLogistic(kind FitKind, pred, mos []float64) (Logistic, error) {
	if kind != Fit4 && kind != Fit5 {
		return Logistic{}, fmt.Errorf("metrics: FitLogistic needs logistic4 or logistic5, got %v", kind)
	}
	name := kind.String() + " fit"
	if err := checkPairs(name, pred, mos, int(kind)+3); err != nil {
		return Logistic{}, err
	}
	if err := checkConstant(name, pred, mos); err != nil {
		return Logistic{}, err
	}
	mx, sx := meanStd0(pred)
	my, sy := meanStd0(mos)
	u := make([]float64, len(pred))
	v := make([]float64, len(mos))
	for i := range pred {
		u[i] = (pred[i] - mx) / sx
		v[i] = (mos[i] - my) / sy
	}
	r, err := pearson(name, u, v)
	if err != nil {
		return Logistic{}, err
	}
	dir := 1.0
	if r < 0 {
		dir = -1
	}
	vmin, vmax := v[0], v[0]
	for _, t := range v {
		vmin, vmax = min(vmin, t), max(vmax, t)
	}
	var c []float64
	if kind == Fit4 {
		hi, lo := vmax, vmin
		if dir < 0 {
			hi, lo = lo, hi
		}
		c = []float64{hi, lo, 0, 0.5}
	} else {
		c = []float64{dir * (vmax - vmin), 2, 0, 0, 0}
	}

	sse := func(b []float64) float64 {
		var s float64
		for i, x := range u {
			d := logistic(kind, b, x) - v[i]
			s += d * d
		}
		if math.IsNaN(s) {
			return math.Inf(1)
		}
		return s / float64(len(u))
	}
	best := sse(c)
	// Nelder-Mead stalls on collapsed simplices; restarting from the best point
	// with a fresh simplex until the loss stops moving is the standard remedy.
	for restart := 0; restart < 20; restart++ {
		res, err := optimize.Minimize(optimize.Problem{Func: sse}, c,
			&optimize.Settings{
				Converger:       &optimize.FunctionConverge{Absolute: 1e-15, Relative: 1e-13, Iterations: 50 * len(c)},
				FuncEvaluations: 20000,
			},
			&optimize.NelderMead{SimplexSize: 0.25})
		if err != nil && res == nil {
			return Logistic{}, fmt.Errorf("metrics: %s: %w", name, err)
		}
		improved := best-res.F > 1e-13*max(best, 1e-300)
		if res.F < best {
			best = res.F
			copy(c, res.X)
		}
		if !improved {
			break
		}
	}
	if math.IsInf(best, 0) {
		return Logistic{}, fmt.Errorf("metrics: %s: no finite least-squares solution", name)
	}

	// Back to original units: x = mx + sx*u, y = my + sy*v.
	b := make([]float64, len(c))
	if kind == Fit4 {
		b[0] = my + sy*c[0]
		b[1] = my + sy*c[1]
		b[2] = mx + sx*c[2]
		b[3] = sx * math.Abs(c[3])
	} else {
		b[0] = sy * c[0]
		b[1] = c[1] / sx
		b[2] = mx + sx*c[2]
		b[3] = sy * c[3] / sx
		b[4] = my + sy*c[4] - b[3]*mx
	}
	return Logistic{Kind: kind, Params: b}, nil
}

// meanStd0 returns the mean and population (ddof=0) standard deviation.
func meanStd0(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		d := v - mean
		std += d * d
	}
	return mean, math.Sqrt(std / float64(len(x)))
}
