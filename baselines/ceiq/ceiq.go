// Package ceiq computes CEIQ, the contrast-distortion metric of Yan, Li and Fu, "No-Reference Quality
// Assessment of Contrast-Distorted Images using Contrast Enhancement" (github.com/mtobeiyf/CEIQ, now
// imfing/CEIQ, CEIQ.m), as the release computes it: on the uint8 gray image and its histogram
// equalisation (MATLAB histeq, 64 levels), the SSIM of the two as MATLAB's built-in ssim computes it (the
// release ships no ssim.m), the entropies of both 128-bin histograms and their two cross-entropies, fused
// by the published libsvm model (model.mat: epsilon-SVR, linear kernel, trained on CCID2014). Higher is
// better.
package ceiq

import (
	"errors"
	"fmt"
	"math"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// NumFeatures is the length of the feature vector: SSIM, two entropies, two cross-entropies.
const NumFeatures = 5

// ErrConstant is wrapped by the error of Features and Score for an image whose gray version has no
// variation: its equalisation is a constant too and the features say nothing about contrast.
var ErrConstant = errors.New("constant image (zero variance)")

const histBins = 128 // imhist(I, 128)

// Features returns CEIQ's five features of im: f1 = ssim(gray, histeq(gray)), f2 and f3 the entropies
// of the 128-bin histograms of gray and of the equalised image, f4 = -sum h1 log2 h2 and
// f5 = -sum h2 log2 h1, all sums over the bins where both histograms are non-zero (as CEIQ.m). A
// constant image returns NaN features and an error wrapping ErrConstant.
func Features(im *matlab.RGB8) ([]float64, error) {
	if err := im.Check(); err != nil {
		return nil, fmt.Errorf("ceiq: %w", err)
	}
	g := matlab.RGB2Gray(im)
	u := g.Uint8()
	if matlab.IsConstant(u) {
		return matlab.NaNs(NumFeatures), fmt.Errorf("ceiq: image %dx%d (HxW): %w", im.H, im.W, ErrConstant)
	}
	eqU := matlab.Histeq(u, 64)
	eq, err := matlab.GrayFromUint8(eqU, g.H, g.W)
	if err != nil {
		return nil, fmt.Errorf("ceiq: %w", err)
	}
	f1 := SSIMBuiltin(g, eq)
	h1, h2 := histogram(u), histogram(eqU)
	var f2, f3, f4, f5 float64
	for k := 0; k < histBins; k++ {
		p, q := h1[k], h2[k]
		if !(p > 0 && q > 0) {
			continue
		}
		lp, lq := math.Log2(p), math.Log2(q)
		f2 += float64(p * lp)
		f3 += float64(q * lq)
		f4 += float64(p * lq)
		f5 += float64(q * lp)
	}
	return []float64{f1, -f2, -f3, -f4, -f5}, nil
}

// histogram is imhist(u, 128)/numel(u): bin round(v*127/255) = floor(v/2) for uint8 v.
func histogram(u []uint8) [histBins]float64 {
	var c [histBins]float64
	for _, v := range u {
		c[v/2]++
	}
	n := float64(len(u))
	for k := range c {
		c[k] /= n
	}
	return c
}

// SSIMBuiltin is MATLAB's built-in ssim(A, B) (Image Processing Toolbox, R2014a and later) on two
// images of the same size on the 0..255 scale with its defaults: Gaussian weights (11x11, sigma 1.5)
// applied by imfilter with 'replicate' borders, C1 = (0.01*255)^2, C2 = (0.03*255)^2, C3 = C2/2, and
// the mean of the whole map. It differs from Wang et al.'s ssim.m (matlab.SSIM) at the borders
// ('valid' there) and in the downsampling ssim.m does on large images.
func SSIMBuiltin(a, b *matlab.Gray) float64 {
	win := matlab.FspecialGaussian(11, 11, 1.5)
	n := len(a.Pix)
	aa, bb, ab := matlab.NewGray(a.H, a.W), matlab.NewGray(a.H, a.W), matlab.NewGray(a.H, a.W)
	for i := 0; i < n; i++ {
		aa.Pix[i] = a.Pix[i] * a.Pix[i]
		bb.Pix[i] = b.Pix[i] * b.Pix[i]
		ab.Pix[i] = a.Pix[i] * b.Pix[i]
	}
	mx, my := matlab.Imfilter(a, win, matlab.Replicate), matlab.Imfilter(b, win, matlab.Replicate)
	sxx, syy := matlab.Imfilter(aa, win, matlab.Replicate), matlab.Imfilter(bb, win, matlab.Replicate)
	sxy := matlab.Imfilter(ab, win, matlab.Replicate)
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var sum float64
	for x := 0; x < a.W; x++ { // mean(ssimmap(:)): column-major
		for y := 0; y < a.H; y++ {
			i := y*a.W + x
			muxy := mx.Pix[i] * my.Pix[i]
			mux2, muy2 := mx.Pix[i]*mx.Pix[i], my.Pix[i]*my.Pix[i]
			vx, vy, vxy := sxx.Pix[i]-mux2, syy.Pix[i]-muy2, sxy.Pix[i]-muxy
			num := float64(2*muxy+c1) * float64(2*vxy+c2)
			den := float64(mux2+muy2+c1) * float64(vx+vy+c2)
			sum += num / den
		}
	}
	return sum / float64(n)
}
