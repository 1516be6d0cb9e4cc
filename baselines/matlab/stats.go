package matlab

import "math"

// Mean2 is MATLAB's mean2(g): the sum of all pixels (in column-major order, as sum(g(:))) over their
// count. An empty image gives NaN.
func Mean2(g *Gray) float64 {
	return sumColumnMajor(g) / float64(len(g.Pix))
}

// Std2 is MATLAB's std2(g): the sample standard deviation (n-1) of all pixels. One pixel gives 0; an
// empty image gives NaN.
func Std2(g *Gray) float64 {
	n := len(g.Pix)
	if n == 0 {
		return math.NaN()
	}
	if n == 1 {
		return 0
	}
	m := Mean2(g)
	var ss float64
	for x := 0; x < g.W; x++ {
		for y := 0; y < g.H; y++ {
			d := g.Pix[y*g.W+x] - m
			ss += float64(d * d)
		}
	}
	return math.Sqrt(ss / float64(n-1))
}
