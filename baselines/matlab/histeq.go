package matlab

import "math"

// Histeq is MATLAB's histeq(I, levels) on a uint8 image I (any shape, given as its pixels): the
// mapping from the 256-bin histogram to a flat target histogram of `levels` bins that minimises the
// error between the cumulative histograms, with MATLAB's tolerance rule, then grayxform's rounding to
// uint8. MATLAB's default (histeq(I)) is levels = 64. levels < 2 is taken as 2 (MATLAB requires
// n > 1); an empty I gives an empty result. Octave's histeq is a different algorithm (a plain CDF
// lookup); the tests say how this one was checked.
func Histeq(g []uint8, levels int) []uint8 {
	t := HisteqMap(g, levels)
	out := make([]uint8, len(g))
	for i, v := range g {
		out[i] = t[v]
	}
	return out
}

// HisteqMap returns the uint8 lookup table Histeq applies: out = table[in].
func HisteqMap(g []uint8, levels int) [256]uint8 {
	var table [256]uint8
	if len(g) == 0 {
		return table
	}
	m := max(levels, 2)
	const n = 256
	var nn [n]float64
	for _, v := range g {
		nn[v]++
	}
	var cum [n]float64
	var c float64
	for k := range nn {
		c += nn[k]
		cum[k] = c
	}
	numel := float64(len(g))
	// hgram = ones(1,m)*(numel/m); hgram = hgram*(numel/sum(hgram)); cumd = cumsum(hgram)
	h0 := numel / float64(m)
	var sh float64
	for j := 0; j < m; j++ {
		sh += h0
	}
	h := h0 * (numel / sh)
	cumd := make([]float64, m)
	var cd float64
	for j := range cumd {
		cd += h
		cumd[j] = cd
	}
	// tol(k) = min([nn(1:n-1),0; 0,nn(2:n)])/2: half the bin's count, 0 at both ends.
	thr := -numel * math.Sqrt(0x1p-52)
	for k := 0; k < n; k++ {
		var tol float64
		if k > 0 && k < n-1 {
			tol = nn[k] / 2
		}
		best, bestJ := math.Inf(1), 0
		for j := 0; j < m; j++ {
			e := (cumd[j] - cum[k]) + tol
			if e < thr {
				e = numel
			}
			if e < best {
				best, bestJ = e, j
			}
		}
		// grayxform: uint8(255*T + 0.5) with T = (index-1)/(m-1).
		t := float64(bestJ) / float64(m-1)
		table[k] = ToUint8(255 * t)
	}
	return table
}
