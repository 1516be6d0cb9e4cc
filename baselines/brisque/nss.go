package brisque

import (
	"math"
	"sync"
)

// The natural-scene-statistics estimators of the LIVE releases (BRISQUE's
// estimateggdparam.m and estimateaggdparam.m; NIQE's estimateaggdparam.m is
// the same AGGD fit). They are moment matches against a table of the shape
// parameter: the grid 0.2:0.001:10 as Octave's colon operator builds it, and
// the first grid point that minimises the mismatch wins, as MATLAB's min.
// NIQE imports them from here so that both metrics share one implementation.

const (
	gridBase = 0.2
	gridStep = 0.001
	gridN    = 9801 // numel(0.2:0.001:10)
)

var (
	gridOnce sync.Once
	grid     [gridN]float64 // the shape values
	rGGD     [gridN]float64 // gamma(1/a) gamma(3/a) / gamma(2/a)^2
	rAGGD    [gridN]float64 // gamma(2/a)^2 / (gamma(1/a) gamma(3/a))
)

func initGrid() {
	for i := range grid {
		// Octave's range element: base + i*increment, the last one the limit.
		// The conversion keeps the product rounded on its own (no FMA).
		a := gridBase + float64(float64(i)*gridStep)
		if i == gridN-1 {
			a = 10
		}
		grid[i] = a
		g1, g2, g3 := math.Gamma(1/a), math.Gamma(2/a), math.Gamma(3/a)
		rGGD[i] = (g1 * g3) / (g2 * g2)
		rAGGD[i] = (g2 * g2) / (g1 * g3)
	}
}

// Grid returns the shape grid the estimators search (a copy).
func Grid() []float64 {
	gridOnce.Do(initGrid)
	return append([]float64(nil), grid[:]...)
}

// GGD fits a zero-mean generalized Gaussian to vec by moment matching as
// estimateggdparam.m does: rho = mean(x^2)/mean(|x|)^2 against the table,
// minimising |rho - r|. sigma is sqrt(mean(x^2)). Sums run in vec's order
// (pass MATLAB's column-major order to match it to the last bits). When rho
// is NaN (an empty vec, or all zeros) every comparison is NaN and MATLAB's
// min picks the first grid point, so alpha is 0.2, as the release gives.
func GGD(vec []float64) (alpha, sigma float64) {
	gridOnce.Do(initGrid)
	var sq, abs float64
	for _, v := range vec {
		sq += v * v
		abs += math.Abs(v)
	}
	n := float64(len(vec))
	sigmaSq := sq / n
	sigma = math.Sqrt(sigmaSq)
	e := abs / n
	rho := sigmaSq / (e * e)
	best, at := math.Inf(1), 0
	for i, r := range rGGD {
		if d := math.Abs(rho - r); d < best { // NaN never wins: index 0 stays
			best, at = d, i
		}
	}
	return grid[at], sigma
}

// AGGD fits an asymmetric generalized Gaussian to vec as estimateaggdparam.m
// does: the left and right standard deviations sqrt(mean(x^2)) over the
// negative and the positive values, the normalised ratio rhat against the
// table, minimising (r - rhatnorm)^2. A side with no values gives NaN for its
// deviation (MATLAB: the mean of an empty array is NaN); rhatnorm is then NaN
// and alpha the first grid point, 0.2, as in the release.
func AGGD(vec []float64) (alpha, leftstd, rightstd float64) {
	gridOnce.Do(initGrid)
	var lsq, rsq, abs, sq float64
	var nl, nr int
	for _, v := range vec {
		s := v * v
		switch {
		case v < 0:
			lsq += s
			nl++
		case v > 0:
			rsq += s
			nr++
		}
		abs += math.Abs(v)
		sq += s
	}
	leftstd = math.Sqrt(lsq / float64(nl))
	rightstd = math.Sqrt(rsq / float64(nr))
	n := float64(len(vec))
	g := leftstd / rightstd
	m := abs / n
	rhat := (m * m) / (sq / n)
	rhatnorm := (rhat * (math.Pow(g, 3) + 1) * (g + 1)) / sqr(math.Pow(g, 2)+1)
	best, at := math.Inf(1), 0
	for i, r := range rAGGD {
		if d := sqr(r - rhatnorm); d < best {
			best, at = d, i
		}
	}
	return grid[at], leftstd, rightstd
}

func sqr(x float64) float64 { return x * x }

// Shifts are the four pairwise orientations of brisque_feature.m as
// circshift offsets [rows cols]: horizontal, vertical, main and secondary
// diagonal. NIQE's computefeature.m uses [1 -1] for the last one.
var Shifts = [4][2]int{{0, 1}, {1, 0}, {1, 1}, {-1, 1}}

// ShiftProducts writes a(:) .* circshift(a, [dy dx])(:) into out, with a an
// h x w matrix held column-major (a[j*h+i] is a(i+1, j+1)) and out in the
// same order. circshift moves elements down by dy and right by dx,
// wrapping around.
func ShiftProducts(a []float64, h, w, dy, dx int, out []float64) {
	for j := 0; j < w; j++ {
		sj := ((j-dx)%w + w) % w
		for i := 0; i < h; i++ {
			si := ((i-dy)%h + h) % h
			out[j*h+i] = a[j*h+i] * a[sj*h+si]
		}
	}
}
