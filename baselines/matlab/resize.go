package matlab

import "math"

// Imresize is MATLAB's imresize(g, scale) on a double image with the default method 'bicubic' and
// 'Antialiasing' true: the output is ceil(scale*H) x ceil(scale*W); when shrinking, the cubic kernel
// (a = -0.5) is widened by 1/scale; each output sample's weights are normalised to sum 1 and source
// indices beyond the border are mirrored (symmetric padding). The dimension with the smaller scale is
// resized first (rows first on a tie), as MATLAB does. A scale <= 0 or NaN gives a 0x0 image.
//
// MATLAB on a uint8 image rounds and saturates to uint8 after EACH of the two passes; apply ToUint8
// to this function's output only for a one-dimensional resize, or use ImresizeUint8.
func Imresize(g *Gray, scale float64) *Gray {
	if !(scale > 0) || math.IsInf(scale, 0) {
		return NewGray(0, 0)
	}
	h := int(math.Ceil(scale * float64(g.H)))
	w := int(math.Ceil(scale * float64(g.W)))
	return resize(g, h, w, scale, scale, false, true)
}

// ImresizeTo is MATLAB's imresize(g, [h w]) (bicubic, antialiased): the scale of each dimension is
// h/H and w/W. Sizes < 1 or an empty input give an empty image.
func ImresizeTo(g *Gray, h, w int) *Gray {
	if h < 1 || w < 1 || g.H < 1 || g.W < 1 {
		return NewGray(max(h, 0), max(w, 0))
	}
	return resize(g, h, w, float64(h)/float64(g.H), float64(w)/float64(g.W), false, true)
}

// ImresizeUint8 is MATLAB's imresize(uint8 image, scale): as Imresize, but each pass's result is
// rounded and saturated to uint8 before the next, as MATLAB's imresizemex does for integer classes.
// The returned values are integers held as float64.
func ImresizeUint8(g *Gray, scale float64) *Gray {
	if !(scale > 0) || math.IsInf(scale, 0) {
		return NewGray(0, 0)
	}
	h := int(math.Ceil(scale * float64(g.H)))
	w := int(math.Ceil(scale * float64(g.W)))
	return resize(g, h, w, scale, scale, true, true)
}

// resize runs the two passes; normalize false skips the per-output weight normalisation (only for
// the tests: Octave's imresize omits it).
func resize(g *Gray, h, w int, sy, sx float64, round8, normalize bool) *Gray {
	if g.H < 1 || g.W < 1 || h < 1 || w < 1 {
		return NewGray(max(h, 0), max(w, 0))
	}
	out := g
	if sy <= sx {
		out = resizeRows(out, contributions(g.H, h, sy, normalize), round8)
		out = resizeCols(out, contributions(g.W, w, sx, normalize), round8)
	} else {
		out = resizeCols(out, contributions(g.W, w, sx, normalize), round8)
		out = resizeRows(out, contributions(g.H, h, sy, normalize), round8)
	}
	return out
}

// cubic is Keys' kernel with a = -0.5, written as imresize.m writes it.
func cubic(x float64) float64 {
	ax := math.Abs(x)
	ax2 := ax * ax
	ax3 := ax2 * ax
	switch {
	case ax <= 1:
		return float64(float64(1.5*ax3)-float64(2.5*ax2)) + 1
	case ax <= 2:
		return float64(float64(float64(-0.5*ax3)+float64(2.5*ax2))-float64(4*ax)) + 2
	}
	return 0
}

// contrib holds, for each output index, taps source indices (0-based) and their weights.
type contrib struct {
	taps int
	idx  []int
	wt   []float64
}

// contributions follows imresize.m's contributions(): kernel width 4 (4/scale when shrinking),
// ceil(width)+2 taps starting at floor(u - width/2), weights normalised per output, mirrored indices,
// and taps that are zero for every output dropped.
func contributions(inLen, outLen int, scale float64, normalize bool) contrib {
	width := 4.0
	shrink := scale < 1
	if shrink {
		width = 4 / scale
	}
	p := int(math.Ceil(width)) + 2
	idx := make([]int, outLen*p)
	wt := make([]float64, outLen*p)
	for u := 0; u < outLen; u++ {
		x := float64(u+1)/scale + 0.5*(1-1/scale)
		left := math.Floor(x - width/2)
		var sum float64
		for k := 0; k < p; k++ {
			j := left + float64(k)
			d := x - j
			var v float64
			if shrink {
				v = scale * cubic(scale*d)
			} else {
				v = cubic(d)
			}
			wt[u*p+k] = v
			sum += v
			idx[u*p+k] = mirror(int(j)-1, inLen)
		}
		for k := 0; k < p && normalize; k++ {
			wt[u*p+k] /= sum
		}
	}
	// Drop the taps (columns) that are zero for every output, keeping order.
	keep := make([]bool, p)
	n := 0
	for k := 0; k < p; k++ {
		for u := 0; u < outLen; u++ {
			if wt[u*p+k] != 0 {
				keep[k] = true
				n++
				break
			}
		}
	}
	c := contrib{taps: n, idx: make([]int, 0, outLen*n), wt: make([]float64, 0, outLen*n)}
	for u := 0; u < outLen; u++ {
		for k := 0; k < p; k++ {
			if keep[k] {
				c.idx = append(c.idx, idx[u*p+k])
				c.wt = append(c.wt, wt[u*p+k])
			}
		}
	}
	return c
}

// mirror maps a 0-based index onto 0..n-1 by symmetric reflection with period 2n (edge repeated), as
// imresize.m's aux = [1:n, n:-1:1] lookup.
func mirror(i, n int) int {
	m := i % (2 * n)
	if m < 0 {
		m += 2 * n
	}
	if m >= n {
		m = 2*n - 1 - m
	}
	return m
}

func resizeRows(g *Gray, c contrib, round8 bool) *Gray {
	outH := len(c.idx) / max(c.taps, 1)
	if c.taps == 0 {
		outH = 0
	}
	out := NewGray(outH, g.W)
	for u := 0; u < outH; u++ {
		row := out.Pix[u*g.W : (u+1)*g.W]
		for k := 0; k < c.taps; k++ {
			wk := c.wt[u*c.taps+k]
			src := g.Pix[c.idx[u*c.taps+k]*g.W:]
			for x := range row {
				row[x] += float64(wk * src[x])
			}
		}
		if round8 {
			for x, v := range row {
				row[x] = float64(ToUint8(v))
			}
		}
	}
	return out
}

func resizeCols(g *Gray, c contrib, round8 bool) *Gray {
	outW := 0
	if c.taps > 0 {
		outW = len(c.idx) / c.taps
	}
	out := NewGray(g.H, outW)
	for y := 0; y < g.H; y++ {
		src := g.Pix[y*g.W : (y+1)*g.W]
		dst := out.Pix[y*outW : (y+1)*outW]
		for u := range dst {
			var s float64
			for k := 0; k < c.taps; k++ {
				s += float64(c.wt[u*c.taps+k] * src[c.idx[u*c.taps+k]])
			}
			if round8 {
				s = float64(ToUint8(s))
			}
			dst[u] = s
		}
	}
	return out
}
