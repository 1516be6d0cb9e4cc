// Package metrics computes the correlation metrics the AGIQA tables report
// (SRCC, PLCC, KRCC, RMSE), optional logistic fits before PLCC/RMSE, and the
// aggregation of per-split values (mean, median, sample std, 95% CI).
//
// The definitions follow scipy.stats: SRCC is Pearson's r on average ranks
// (spearmanr), PLCC is Pearson's r (pearsonr), KRCC is Kendall's tau-b
// (kendalltau, variant "b"). Undefined results are NaN with an
// *UndefinedError saying why; they are never reported as 0.
package metrics

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// UndefinedError reports that a metric has no value for the given input
// (too few pairs, mismatched lengths, constant input, NaN or Inf values).
// The accompanying float result is always NaN.
type UndefinedError struct {
	Metric string // "SRCC", "PLCC", "KRCC", "RMSE", ...
	Reason string // human-readable cause, e.g. "constant pred (all 3 values equal 1)"
}

func (e *UndefinedError) Error() string {
	return fmt.Sprintf("metrics: %s undefined: %s", e.Metric, e.Reason)
}

func undefined(metric, format string, args ...any) (float64, error) {
	return math.NaN(), &UndefinedError{Metric: metric, Reason: fmt.Sprintf(format, args...)}
}

// checkPairs validates the inputs shared by every metric. minN is the
// smallest number of pairs for which the metric is defined.
func checkPairs(metric string, x, y []float64, minN int) error {
	if len(x) != len(y) {
		_, err := undefined(metric, "length mismatch: %d predictions, %d MOS values", len(x), len(y))
		return err
	}
	if len(x) < minN {
		_, err := undefined(metric, "needs at least %d pairs, got %d", minN, len(x))
		return err
	}
	for _, s := range [...]struct {
		name string
		v    []float64
	}{{"pred", x}, {"mos", y}} {
		for i, v := range s.v {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				_, err := undefined(metric, "%s[%d] is %v", s.name, i, v)
				return err
			}
		}
	}
	return nil
}

// checkConstant reports constant input, for which every correlation is 0/0.
func checkConstant(metric string, x, y []float64) error {
	for _, s := range [...]struct {
		name string
		v    []float64
	}{{"pred", x}, {"mos", y}} {
		if isConstant(s.v) {
			_, err := undefined(metric, "constant %s (all %d values equal %v)", s.name, len(s.v), s.v[0])
			return err
		}
	}
	return nil
}

func isConstant(v []float64) bool {
	for _, x := range v[1:] {
		if x != v[0] {
			return false
		}
	}
	return true
}

// PLCC returns Pearson's linear correlation coefficient of x and y, as
// scipy.stats.pearsonr. It needs n >= 2 finite, non-constant pairs.
func PLCC(x, y []float64) (float64, error) {
	if err := checkPairs("PLCC", x, y, 2); err != nil {
		return math.NaN(), err
	}
	if err := checkConstant("PLCC", x, y); err != nil {
		return math.NaN(), err
	}
	return pearson("PLCC", x, y)
}

// pearson is the two-pass formula on finite, validated input. Centred sums
// avoid the cancellation of the one-pass sum-of-products formula.
func pearson(metric string, x, y []float64) (float64, error) {
	x, y = pow2Scaled(x), pow2Scaled(y)
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		// Distinct values whose spread underflows: as undefined as constant input.
		return undefined(metric, "zero variance after centring (n=%d)", len(x))
	}
	r := sxy / (math.Sqrt(sxx) * math.Sqrt(syy))
	// Rounding can push |r| a hair past 1; scipy clips too.
	return max(-1, min(1, r)), nil
}

// pow2Scaled returns v, or a copy scaled by a power of two when its largest
// magnitude is so far from 1 that squares or sums of squares would overflow
// (1e200 gave r = 0) or underflow (1e-200 gave zero variance). Scaling by
// 2^k is exact, and r is scale-free, so the result is unchanged otherwise.
func pow2Scaled(v []float64) []float64 {
	e := pow2Exp(v)
	if e == 0 {
		return v
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Ldexp(x, -e)
	}
	return out
}

// pow2Exp returns the exponent e of the largest |v[i]| (max = f * 2^e, f in
// [0.5, 1)), or 0 when e is within ±256: there, sums of up to 2^500 squares
// neither overflow nor underflow.
func pow2Exp(v []float64) int {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	_, e := math.Frexp(m) // 0 for m == 0
	if e >= -256 && e <= 256 {
		return 0
	}
	return e
}

// SRCC returns Spearman's rank correlation coefficient of x and y: Pearson's
// r on ranks, ties given their average rank (scipy.stats.spearmanr). It needs
// n >= 2 finite, non-constant pairs.
func SRCC(x, y []float64) (float64, error) {
	if err := checkPairs("SRCC", x, y, 2); err != nil {
		return math.NaN(), err
	}
	if err := checkConstant("SRCC", x, y); err != nil {
		return math.NaN(), err
	}
	return pearson("SRCC", averageRanks(x), averageRanks(y))
}

type valIdx struct {
	v float64
	i int32
}

// averageRanks returns 1-based ranks with tied values sharing the mean of
// the ranks they span (scipy.stats.rankdata method="average").
func averageRanks(x []float64) []float64 {
	s := make([]valIdx, len(x))
	for i, v := range x {
		s[i] = valIdx{v, int32(i)}
	}
	slices.SortFunc(s, func(a, b valIdx) int { return cmp.Compare(a.v, b.v) })
	r := make([]float64, len(x))
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j].v == s[i].v {
			j++
		}
		// Ranks i+1 .. j, mean (i+1+j)/2: exact in float64.
		avg := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			r[s[k].i] = avg
		}
		i = j
	}
	return r
}

// KRCC returns Kendall's tau-b of x and y, which corrects for ties in either
// variable (scipy.stats.kendalltau, variant "b"):
//
//	tau_b = (C - D) / sqrt((P - Tx) * (P - Ty))
//
// with P = n(n-1)/2 pairs, C/D concordant/discordant pairs and Tx/Ty pairs
// tied in x/y. It runs in O(n log n) with Knight's algorithm: sort by
// (x, y), then count the discordant pairs as the exchanges a merge sort on y
// makes. It needs n >= 2 finite, non-constant pairs.
func KRCC(x, y []float64) (float64, error) {
	if err := checkPairs("KRCC", x, y, 2); err != nil {
		return math.NaN(), err
	}
	if err := checkConstant("KRCC", x, y); err != nil {
		return math.NaN(), err
	}
	n := len(x)
	p := make([]xy, n)
	for i := range x {
		p[i] = xy{x[i], y[i]}
	}
	slices.SortFunc(p, func(a, b xy) int {
		if c := cmp.Compare(a.x, b.x); c != 0 {
			return c
		}
		return cmp.Compare(a.y, b.y)
	})

	// Pairs tied in x, and tied in both x and y (joint ties).
	var xTies, jointTies int64
	for i := 0; i < n; {
		j, k := i+1, i // k: start of the current run of equal (x, y)
		for j < n && p[j].x == p[i].x {
			if p[j].y != p[k].y {
				jointTies += pairsIn(j - k)
				k = j
			}
			j++
		}
		jointTies += pairsIn(j - k)
		xTies += pairsIn(j - i)
		i = j
	}

	ys := make([]float64, n)
	for i := range p {
		ys[i] = p[i].y
	}
	// Within an x-tie group ys is already ascending, so the exchanges counted
	// are exactly the pairs with x_i < x_j and y_i > y_j.
	dis := mergeCountInversions(ys, make([]float64, n))

	var yTies int64
	for i := 0; i < n; {
		j := i + 1
		for j < n && ys[j] == ys[i] {
			j++
		}
		yTies += pairsIn(j - i)
		i = j
	}

	tot := pairsIn(n)
	// tot = C + D + (Tx - Tj) + (Ty - Tj) + Tj, so C - D follows from D alone.
	conMinusDis := tot - xTies - yTies + jointTies - 2*dis
	tau := float64(conMinusDis) / math.Sqrt(float64(tot-xTies)) / math.Sqrt(float64(tot-yTies))
	return max(-1, min(1, tau)), nil
}

type xy struct{ x, y float64 }

func pairsIn(k int) int64 { return int64(k) * int64(k-1) / 2 }

// mergeCountInversions sorts a ascending (bottom-up merge sort, buf as
// scratch of the same length) and returns the number of pairs i < j with
// a[i] > a[j]. Equal elements are not counted.
func mergeCountInversions(a, buf []float64) int64 {
	n := len(a)
	var inv int64
	// Insertion sort small runs first: fewer passes, same count.
	const run = 16
	for lo := 0; lo < n; lo += run {
		hi := min(lo+run, n)
		for i := lo + 1; i < hi; i++ {
			v := a[i]
			j := i
			for j > lo && a[j-1] > v {
				a[j] = a[j-1]
				j--
			}
			a[j] = v
			inv += int64(i - j)
		}
	}
	src, dst := a, buf
	for width := run; width < n; width *= 2 {
		for lo := 0; lo < n; lo += 2 * width {
			mid := min(lo+width, n)
			hi := min(lo+2*width, n)
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				if src[j] < src[i] {
					// src[j] jumps over every element left in the left half.
					dst[k] = src[j]
					inv += int64(mid - i)
					j++
				} else {
					dst[k] = src[i]
					i++
				}
				k++
			}
			k += copy(dst[k:], src[i:mid])
			copy(dst[k:], src[j:hi])
		}
		src, dst = dst, src
	}
	if n > 0 && &src[0] != &a[0] {
		copy(a, src)
	}
	return inv
}

// RMSE returns the root mean squared difference between x and y. Unlike the
// correlations it is defined for a single pair and for constant input; it
// needs n >= 1 finite pairs of equal length.
func RMSE(x, y []float64) (float64, error) {
	if err := checkPairs("RMSE", x, y, 1); err != nil {
		return math.NaN(), err
	}
	var s float64
	for i := range x {
		d := x[i] - y[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(x))), nil
}
