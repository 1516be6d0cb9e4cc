package matlab

import "math"

// gaussianBase is fspecial.m's common part of 'gaussian' and 'log': exp(-(x^2+y^2)/(2 sigma^2)) on the
// grid -(h-1)/2..(h-1)/2 x -(w-1)/2..(w-1)/2, values below eps*max set to 0, normalised to sum 1
// (summed column by column, as sum(h(:))). It also returns x^2+y^2.
func gaussianBase(h, w int, sigma float64) (g, r2 *Gray) {
	g, r2 = NewGray(h, w), NewGray(h, w)
	sy, sx := float64(h-1)/2, float64(w-1)/2
	var mx float64
	for i := 0; i < h; i++ {
		y := -sy + float64(i)
		for j := 0; j < w; j++ {
			x := -sx + float64(j)
			d := float64(x*x) + float64(y*y)
			r2.Pix[i*w+j] = d
			v := math.Exp(-d / float64(2*sigma*sigma))
			g.Pix[i*w+j] = v
			mx = max(mx, v)
		}
	}
	const eps = 0x1p-52
	thr := eps * mx
	for i, v := range g.Pix {
		if v < thr {
			g.Pix[i] = 0
		}
	}
	if s := sumColumnMajor(g); s != 0 {
		for i := range g.Pix {
			g.Pix[i] /= s
		}
	}
	return g, r2
}

// sumColumnMajor is sum(g(:)): the pixels added in MATLAB's column-major order.
func sumColumnMajor(g *Gray) float64 {
	var s float64
	for x := 0; x < g.W; x++ {
		for y := 0; y < g.H; y++ {
			s += g.Pix[y*g.W+x]
		}
	}
	return s
}

// FspecialGaussian is MATLAB's fspecial('gaussian', [h w], sigma): a sampled Gaussian normalised to
// sum 1. Sizes < 1 give an empty kernel.
func FspecialGaussian(h, w int, sigma float64) *Gray {
	if h < 1 || w < 1 {
		return NewGray(0, 0)
	}
	g, _ := gaussianBase(h, w, sigma)
	return g
}

// FspecialLog is MATLAB's fspecial('log', [h w], sigma): the normalised Gaussian g times
// (x^2+y^2-2 sigma^2)/sigma^4, then shifted by its mean so that it sums to zero. (Octave's fspecial
// 'log' is a different formula; see the tests.) Sizes < 1 give an empty kernel.
func FspecialLog(h, w int, sigma float64) *Gray {
	if h < 1 || w < 1 {
		return NewGray(0, 0)
	}
	g, r2 := gaussianBase(h, w, sigma)
	std2 := sigma * sigma
	den := std2 * std2
	for i, v := range g.Pix {
		g.Pix[i] = float64(v*float64(r2.Pix[i]-2*std2)) / den
	}
	mean := sumColumnMajor(g) / float64(h*w)
	for i := range g.Pix {
		g.Pix[i] -= mean
	}
	return g
}
