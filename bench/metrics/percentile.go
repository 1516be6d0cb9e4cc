package metrics

import "math"

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// (ascending, not empty): sorted[ceil(p/100*n)-1], an element of the data
// and never an interpolation between two. It is the definition
// numpy.percentile calls method="inverted_cdf" and perf_analyzer's, and the
// one every latency figure of this project uses (agiqa perf and
// agiqa tables --timing). p/100*n is rounded to 1e-9 first so that, e.g.,
// 99.9% of 1000 is rank 999 and not 1000 through floating-point noise.
// p <= 0 gives the smallest value, p > 100 the largest.
func Percentile[T ~int64 | ~float64](sorted []T, p float64) T {
	n := len(sorted)
	r := math.Round(p/100*float64(n)*1e9) / 1e9
	k := min(max(int(math.Ceil(r)), 1), n)
	return sorted[k-1]
}
