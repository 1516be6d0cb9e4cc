package metrics

import (
	"fmt"
	"math"
	"slices"

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

// FitLogistic fits kind (Fit4 or Fit5) to (pred, mos) by least squares. It
// needs more pairs than parameters, finite and non-constant.
//
// Both variables are standardised first (the families are closed under
// affine maps of x and y, so the optimum is the same) and parameters are
// returned in original units. With the slope k and centre m fixed, both
// families are linear in their other parameters (Fit4: a*h + d, Fit5:
// b1*(h - 1/2) + b4*x + b5, h = 1/(1+exp(-k(x-m)))), which are then solved
// exactly (variable projection). That leaves a 2-D search over (k, m):
// a grid of slopes times quantiles of pred picks the start, because the
// surface has local minima (on AGIQA-3k alignment -> quality the best
// logistic5 is a near-step that a single smooth start misses), and gonum's
// Nelder-Mead polishes it.
func FitLogistic(kind FitKind, pred, mos []float64) (Logistic, error) {
	if kind != Fit4 && kind != Fit5 {
		return Logistic{}, fmt.Errorf("metrics: FitLogistic needs logistic4 or logistic5, got %v", kind)
	}
	name := kind.String() + " fit"
	nParams := 4
	if kind == Fit5 {
		nParams = 5
	}
	if err := checkPairs(name, pred, mos, nParams+1); err != nil {
		return Logistic{}, err
	}
	if err := checkConstant(name, pred, mos); err != nil {
		return Logistic{}, err
	}
	mx, sx := meanStd0(pred)
	my, sy := meanStd0(mos)
	if sx == 0 || sy == 0 {
		_, err := undefined(name, "zero spread after centring")
		return Logistic{}, err
	}
	vp := &varPro{kind: kind, u: make([]float64, len(pred)), v: make([]float64, len(mos)), h: make([]float64, len(pred))}
	for i := range pred {
		vp.u[i] = (pred[i] - mx) / sx
		vp.v[i] = (mos[i] - my) / sy
	}

	sorted := slices.Clone(vp.u)
	slices.Sort(sorted)
	best, start := math.Inf(1), []float64{1, 0}
	for k := 0.25; k <= 300; k *= 2 {
		for q := 1; q < 20; q++ {
			m := sorted[q*(len(sorted)-1)/20]
			if f := vp.sse([]float64{k, m}); f < best {
				best, start = f, []float64{k, m}
			}
		}
	}
	if math.IsInf(best, 0) {
		return Logistic{}, fmt.Errorf("metrics: %s: no finite least-squares start", name)
	}
	res, err := optimize.Minimize(optimize.Problem{Func: vp.sse}, start,
		&optimize.Settings{
			Converger:       &optimize.FunctionConverge{Absolute: 1e-15, Relative: 1e-13, Iterations: 100},
			FuncEvaluations: 5000,
		},
		// The grid spacing sets the simplex: slopes double, centres are ~5% quantiles apart.
		&optimize.NelderMead{InitialVertices: [][]float64{start, {start[0] * 1.5, start[1]}, {start[0], start[1] + 0.1}},
			InitialValues: []float64{best, vp.sse([]float64{start[0] * 1.5, start[1]}), vp.sse([]float64{start[0], start[1] + 0.1})}})
	if err != nil && res == nil {
		return Logistic{}, fmt.Errorf("metrics: %s: %w", name, err)
	}
	nl := start
	if res.F < best {
		nl = res.X
	}
	vp.sse(nl) // leaves the linear coefficients of nl in vp.lin
	k, m := nl[0], nl[1]
	if k == 0 || math.IsInf(vp.sse(nl), 0) {
		return Logistic{}, fmt.Errorf("metrics: %s: degenerate solution (slope %v)", name, k)
	}

	// Back to the package's parameterisation, then to original units
	// (x = mx + sx*u, y = my + sy*v).
	b := make([]float64, nParams)
	if kind == Fit4 {
		a, d := vp.lin[0], vp.lin[1]
		if k < 0 { // h(-k) = 1 - h(k)
			a, d, k = -a, a+d, -k
		}
		b[0] = my + sy*(a+d)
		b[1] = my + sy*d
		b[2] = mx + sx*m
		b[3] = sx / k
	} else {
		c1, c4, c5 := vp.lin[0], vp.lin[1], vp.lin[2]
		b[0] = sy * c1
		b[1] = k / sx
		b[2] = mx + sx*m
		b[3] = sy * c4 / sx
		b[4] = my + sy*c5 - b[3]*mx
	}
	return Logistic{Kind: kind, Params: b}, nil
}

// varPro evaluates the least-squares loss of the best linear coefficients
// for a given slope and centre; lin holds them after each call.
type varPro struct {
	kind    FitKind
	u, v, h []float64
	lin     [3]float64
}

func (p *varPro) sse(nl []float64) float64 {
	k, m := nl[0], nl[1]
	// Normal equations over the columns g = h - 1/2, [u,] 1.
	var a [3][3]float64
	var r [3]float64
	cols := 2
	if p.kind == Fit5 {
		cols = 3
	}
	for i, x := range p.u {
		g := 1/(1+math.Exp(-k*(x-m))) - 0.5
		p.h[i] = g
		c := [3]float64{g, 1, 0}
		if cols == 3 {
			c = [3]float64{g, x, 1}
		}
		for j := range cols {
			for l := j; l < cols; l++ {
				a[j][l] += c[j] * c[l]
			}
			r[j] += c[j] * p.v[i]
		}
	}
	for j := range cols {
		for l := range j {
			a[j][l] = a[l][j]
		}
	}
	beta, ok := solveSym(a, r, cols)
	if !ok {
		return math.Inf(1)
	}
	var s float64
	for i, g := range p.h {
		f := beta[0]*g + beta[1]
		if cols == 3 {
			f = beta[0]*g + beta[1]*p.u[i] + beta[2]
		}
		d := f - p.v[i]
		s += d * d
	}
	if math.IsNaN(s) {
		return math.Inf(1)
	}
	// Store in the Fit4 parameterisation a*h + d with h = g + 1/2.
	if cols == 2 {
		p.lin = [3]float64{beta[0], beta[1] - beta[0]/2, 0}
	} else {
		p.lin = beta
	}
	return s / float64(len(p.u))
}

// solveSym solves the n x n (n <= 3) normal equations by Gaussian elimination
// with partial pivoting. A column that has become (numerically) dependent on
// the others, e.g. a sigmoid flat over the data next to the intercept, gets
// coefficient 0: the minimum-effort least-squares choice.
func solveSym(a [3][3]float64, r [3]float64, n int) ([3]float64, bool) {
	var scale float64
	for i := range n {
		scale = max(scale, math.Abs(a[i][i]))
	}
	if scale == 0 {
		return [3]float64{}, false
	}
	var used [3]bool
	var piv [3]int
	for c := range n {
		p := -1
		for i := range n {
			if !used[i] && (p < 0 || math.Abs(a[i][c]) > math.Abs(a[p][c])) {
				p = i
			}
		}
		piv[c] = p
		if math.Abs(a[p][c]) <= 1e-12*scale {
			piv[c] = -1 // dependent column
			continue
		}
		used[p] = true
		for i := range n {
			if i == p {
				continue
			}
			f := a[i][c] / a[p][c]
			for j := range n {
				a[i][j] -= f * a[p][j]
			}
			r[i] -= f * r[p]
		}
	}
	var x [3]float64
	for c := range n {
		if p := piv[c]; p >= 0 {
			x[c] = r[p] / a[p][c]
		}
	}
	return x, true
}

// meanStd0 returns the mean and population (ddof=0) standard deviation,
// computed on power-of-two-scaled values so that squares of huge or tiny
// inputs neither overflow nor underflow (the scaling is exact).
func meanStd0(x []float64) (mean, std float64) {
	if e := pow2Exp(x); e != 0 {
		m, s := meanStd0(pow2Scaled(x))
		return math.Ldexp(m, e), math.Ldexp(s, e)
	}
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
