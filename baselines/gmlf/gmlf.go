// Package gmlf computes the GM-LOG features of Xue, Mou, Zhang, Bovik and Feng, "Blind Image Quality
// Assessment Using Joint Statistics of Gradient Magnitude and Laplacian Features" (IEEE TIP 2014), as the
// authors' Grad_LOG_CP_TIP.m computes them on double(rgb2gray(im)): the gradient magnitude of a sigma 0.5
// Gaussian-derivative pair and the absolute response of a 5x5 LoG, divided by a joint local energy
// (7x7 Gaussian, sigma 1, plus 0.2), quantised into 10 bins of width 0.2, and summarised as the two
// marginal distributions and the two "dependency" distributions (40 values). The paper's row GMLF
// trains an SVR on them; this package only extracts.
package gmlf

import (
	"errors"
	"fmt"
	"math"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// NumFeatures is the length of the feature vector: 10 + 10 marginals, 10 + 10 dependencies.
const NumFeatures = 40

// MinSize is the smallest height and width the release's border crop (3 pixels) leaves pixels for.
const MinSize = 5

// ErrConstant is wrapped by Features' error for an image without any variation.
var ErrConstant = errors.New("constant image (zero variance)")

const (
	sigma  = 0.5
	ratio  = 2.5  // the release's average GM/LOG ratio on LIVE
	c0     = 0.2  // 4*0.05, the normalisation's floor
	step   = 0.2  // quantisation step of both maps
	bins   = 10   // hist3 centres 1..10
	alpha1 = 1e-4 // conditional-probability smoothing

	kernelRadius = 2 // ceil(3*sigma): the derivative and LoG kernels are 5x5
)

// Features returns the 40 GM-LOG features of im. An image under MinSize in either dimension is an
// error naming its size. A constant image returns 40 NaN and an error wrapping ErrConstant (the release
// would return one full bin, which says nothing about quality).
func Features(im *matlab.RGB8) ([]float64, error) {
	if err := im.Check(); err != nil {
		return nil, fmt.Errorf("gmlf: %w", err)
	}
	if im.H < MinSize || im.W < MinSize {
		return nil, fmt.Errorf("gmlf: image %dx%d (HxW) is smaller than %dx%d", im.H, im.W, MinSize, MinSize)
	}
	g := matlab.RGB2Gray(im)
	if matlab.IsConstant(g.Pix) {
		return matlab.NaNs(NumFeatures), fmt.Errorf("gmlf: image %dx%d (HxW): %w", im.H, im.W, ErrConstant)
	}
	return FeaturesGray(g), nil
}

// FeaturesGray is Grad_LOG_CP_TIP(g) for a double image g (0..255 scale) of at least MinSize x MinSize.
func FeaturesGray(g *matlab.Gray) []float64 {
	winx, winy := derivativeKernels()
	gx := matlab.Filter2(winx, g, matlab.Same)
	gy := matlab.Filter2(winy, g, matlab.Same)
	lk := normAbs(matlab.FspecialLog(2*kernelRadius+1, 2*kernelRadius+1, sigma))
	lg := matlab.Filter2(lk, g, matlab.Same)

	n := len(g.Pix)
	gm, lm, energy := make([]float64, n), make([]float64, n), matlab.NewGray(g.H, g.W)
	for i := range gm {
		gm[i] = math.Abs(math.Sqrt(gx.Pix[i]*gx.Pix[i]+gy.Pix[i]*gy.Pix[i]) / ratio)
		lm[i] = math.Abs(lg.Pix[i])
		// mean(cat(3, grad, log).^2, 3)
		energy.Pix[i] = (gm[i]*gm[i] + lm[i]*lm[i]) / 2
	}
	w1 := matlab.FspecialGaussian(7, 7, 2*sigma)
	w1 = normSum(w1)
	nmap := matlab.Filter2(w1, energy, matlab.Same)

	var hist [bins][bins]float64
	const h = 3 // ceil(3*sigmaN): rows and columns h..end-h+1 (1-based) are kept
	for y := h - 1; y <= g.H-h; y++ {
		for x := h - 1; x <= g.W-h; x++ {
			i := y*g.W + x
			nm := math.Sqrt(nmap.Pix[i]) + c0
			hist[bin(gm[i]/nm)][bin(lm[i]/nm)]++
		}
	}
	return summarise(&hist)
}

// bin is hist3's bin (0-based) of ceil(v/step) among the centres 1..10: values at or below 1 fall in
// the first bin, values at or above 10 in the last.
func bin(v float64) int {
	q := math.Ceil(math.Abs(v) / step)
	switch {
	case !(q > 1): // also NaN, which cannot occur: nm >= 0.2
		return 0
	case q >= bins:
		return bins - 1
	}
	return int(q) - 1
}

// summarise turns the joint histogram into [NG', NL, cp_GL_H, cp_LG_H] as the release does.
func summarise(hist *[bins][bins]float64) []float64 {
	var total float64
	for j := 0; j < bins; j++ { // sum(N1(:)), column-major
		for i := 0; i < bins; i++ {
			total += hist[i][j]
		}
	}
	var n1 [bins][bins]float64
	for i := range n1 {
		for j := range n1[i] {
			n1[i][j] = hist[i][j] / total
		}
	}
	var ng, nl [bins]float64
	for i := 0; i < bins; i++ {
		for j := 0; j < bins; j++ {
			ng[i] += n1[i][j] // sum(N1, 2)
			nl[j] += n1[i][j] // sum(N1, 1), each column summed top to bottom
		}
	}
	var gl, lg [bins]float64
	for i := 0; i < bins; i++ {
		for j := 0; j < bins; j++ {
			gl[i] += n1[i][j] / (nl[j] + alpha1) // Grad conditioned on LOG, summed along rows
			lg[j] += n1[i][j] / (ng[i] + alpha1) // LOG conditioned on Grad, summed down columns
		}
	}
	out := make([]float64, 0, NumFeatures)
	out = append(out, ng[:]...)
	out = append(out, nl[:]...)
	out = append(out, normalised(gl[:])...)
	return append(out, normalised(lg[:])...)
}

func normalised(v []float64) []float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / s
	}
	return out
}

// derivativeKernels are gaussian_derivative's 5x5 kernels: the inner part of a 7x7 Gaussian (sigma
// 0.5; size 2*ceil(3*sigma)+1+2) minus its neighbour to the right (x) or below (y), each divided by
// the sum of its absolute values.
func derivativeKernels() (winx, winy *matlab.Gray) {
	const n = 2*kernelRadius + 1
	w := matlab.FspecialGaussian(n+2, n+2, sigma)
	winx, winy = matlab.NewGray(n, n), matlab.NewGray(n, n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			c := w.At(y+1, x+1)
			winx.Set(y, x, c-w.At(y+1, x+2))
			winy.Set(y, x, c-w.At(y+2, x+1))
		}
	}
	return normAbs(winx), normAbs(winy)
}

// normAbs is k/sum(abs(k(:))), summed column-major as MATLAB does.
func normAbs(k *matlab.Gray) *matlab.Gray {
	var s float64
	for x := 0; x < k.W; x++ {
		for y := 0; y < k.H; y++ {
			s += math.Abs(k.At(y, x))
		}
	}
	return scaled(k, s)
}

// normSum is k/sum(k(:)).
func normSum(k *matlab.Gray) *matlab.Gray {
	var s float64
	for x := 0; x < k.W; x++ {
		for y := 0; y < k.H; y++ {
			s += k.At(y, x)
		}
	}
	return scaled(k, s)
}

func scaled(k *matlab.Gray, s float64) *matlab.Gray {
	out := k.Clone()
	for i := range out.Pix {
		out.Pix[i] /= s
	}
	return out
}
