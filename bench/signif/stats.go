package signif

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// PairedT is a paired Student-t test of differences d (one per split) against zero, as
// scipy.stats.ttest_rel computes it, with the mean's two-sided (1-alpha) t interval.
type PairedT struct {
	N    int     // finite differences used
	Mean float64 // mean difference
	Std  float64 // sample standard deviation (ddof 1)
	Lo   float64 // Mean - t(1-alpha/2, N-1) * Std/sqrt(N)
	Hi   float64
	T    float64 // Mean / (Std/sqrt(N)); +-Inf when Std is 0 and Mean is not
	P    float64 // two-sided p-value; NaN when undefined
}

// PairedTTest computes PairedT over the finite values of d. Fewer than two values, or no variation
// and a zero mean, leave T and P NaN (scipy returns nan there too).
func PairedTTest(d []float64, alpha float64) PairedT {
	v := finite(d)
	r := PairedT{N: len(v), Mean: math.NaN(), Std: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), T: math.NaN(), P: math.NaN()}
	if r.N == 0 {
		return r
	}
	r.Mean = mean(v)
	if r.N < 2 {
		return r
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - r.Mean) * (x - r.Mean)
	}
	r.Std = math.Sqrt(ss / float64(r.N-1))
	se := r.Std / math.Sqrt(float64(r.N))
	dist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(r.N - 1)}
	half := dist.Quantile(1-alpha/2) * se
	r.Lo, r.Hi = r.Mean-half, r.Mean+half
	switch {
	case se == 0 && r.Mean == 0:
		// 0/0: no evidence either way.
	case se == 0:
		r.T, r.P = math.Copysign(math.Inf(1), r.Mean), 0
	default:
		r.T = r.Mean / se
		r.P = math.Min(1, 2*dist.Survival(math.Abs(r.T)))
	}
	return r
}

// Sign is the sign test of differences d: Pos and Neg count the positive and negative ones (zeros
// and NaN are dropped, the usual convention), P is the exact two-sided binomial p-value of Pos in
// Pos+Neg trials at probability 1/2 (scipy.stats.binomtest(Pos, Pos+Neg).pvalue); 1 with no trial.
type Sign struct {
	Pos, Neg int
	P        float64
}

// SignTest counts the signs of d and tests them.
func SignTest(d []float64) Sign {
	var s Sign
	for _, x := range d {
		switch {
		case x > 0:
			s.Pos++
		case x < 0:
			s.Neg++
		}
	}
	s.P = BinomTwoSidedHalf(s.Pos, s.Pos+s.Neg)
	return s
}

// BinomTwoSidedHalf is the exact two-sided p-value of k successes in n trials at p = 1/2: the
// probability of an outcome at most as likely as k, which by symmetry is 2 P(X <= min(k, n-k)),
// capped at 1. It returns 1 for n = 0.
func BinomTwoSidedHalf(k, n int) float64 {
	if n <= 0 || k < 0 || k > n {
		return 1
	}
	m := min(k, n-k)
	// Sum C(n, j) / 2^n in logs: n can exceed what 2^n holds exactly.
	lnC := func(j int) float64 {
		a, _ := math.Lgamma(float64(n + 1))
		b, _ := math.Lgamma(float64(j + 1))
		c, _ := math.Lgamma(float64(n - j + 1))
		return a - b - c
	}
	cdf := 0.0
	for j := 0; j <= m; j++ {
		cdf += math.Exp(lnC(j) - float64(n)*math.Ln2)
	}
	return math.Min(1, 2*cdf)
}

// WilliamsT is Williams' (1959) test of two dependent correlations sharing one variable, in the form
// Steiger (1980, eq. 7) recommends: r12 = corr(MOS, A), r13 = corr(MOS, B), r23 = corr(A, B) over
// the same n images,
//
//	t = (r12 - r13) * sqrt((n-1)(1+r23) / (2 (n-1)/(n-3) |R| + rbar^2 (1-r23)^3)),  df = n-3,
//
// |R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23, rbar = (r12+r13)/2. P is two-sided. Reason says
// why T and P are NaN (n <= 3, a correlation undefined, a degenerate denominator).
type WilliamsT struct {
	T      float64
	DF     int
	P      float64
	Reason string
}

// Williams computes WilliamsT.
func Williams(r12, r13, r23 float64, n int) WilliamsT {
	w := WilliamsT{T: math.NaN(), P: math.NaN(), DF: n - 3}
	switch {
	case n <= 3:
		w.Reason = "Williams' test needs more than 3 images"
		return w
	case math.IsNaN(r12) || math.IsNaN(r13) || math.IsNaN(r23):
		w.Reason = "a correlation is undefined"
		return w
	case r12 == r13:
		// Equal correlations: no difference, whatever the denominator (0 for identical predictors).
		w.T, w.P = 0, 1
		return w
	}
	nf := float64(n)
	det := 1 - r12*r12 - r13*r13 - r23*r23 + 2*r12*r13*r23
	rbar := (r12 + r13) / 2
	den := 2*(nf-1)/(nf-3)*det + rbar*rbar*math.Pow(1-r23, 3)
	if !(den > 0) {
		w.Reason = "Williams' test is degenerate (the correlation matrix is singular)"
		return w
	}
	w.T = (r12 - r13) * math.Sqrt((nf-1)*(1+r23)/den)
	dist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(w.DF)}
	w.P = math.Min(1, 2*dist.Survival(math.Abs(w.T)))
	return w
}

// Percentile is numpy.percentile's default ("linear") estimate at q in [0, 100] of the finite values
// of x; NaN when none.
func Percentile(x []float64, q float64) float64 {
	v := finite(x)
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	h := float64(len(v)-1) * q / 100
	lo := int(math.Floor(h))
	if lo >= len(v)-1 {
		return v[len(v)-1]
	}
	return v[lo] + (h-float64(lo))*(v[lo+1]-v[lo])
}

func finite(x []float64) []float64 {
	v := make([]float64, 0, len(x))
	for _, a := range x {
		if !math.IsNaN(a) && !math.IsInf(a, 0) {
			v = append(v, a)
		}
	}
	return v
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
