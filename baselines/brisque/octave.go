package brisque

import (
	"math"
	"math/big"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// The MSCN coefficients (x - mu) / (sigma + 1) are exactly 0 wherever the
// 7x7 neighbourhood is flat and the filter returns the pixel's own value to
// the last bit; elsewhere they are small but not 0. The AGGD fits count
// negative and positive values, so whether a flat pixel gives 0 or 1e-14
// moves the features by up to 1e-3 and NIQE by up to 3 % (measured on the
// calibration images). Matching the release as run in Octave therefore
// needs Octave's exact arithmetic here, not just an accurate filter:
//
//   - the window as Octave's fspecial builds it: exp(-(y^2 + x^2) /
//     (2*sigma^2)) normalised by sum(f(:)), no eps cut (MATLAB's fspecial
//     writes 2*sigma*sigma and cuts values under eps*max);
//   - filter2 as Octave's conv2 computes it (liboctave dconv2i for 'valid',
//     dconv2o for 'full'/'same'): one axpy per kernel element into a column
//     accumulator, in the order those loops run, each update a fused
//     multiply-add as the optimized BLAS (OpenBLAS daxpy on x86-64 with FMA)
//     performs it.

// OctaveGaussian is Octave's fspecial('gaussian', [n n], sigma).
func OctaveGaussian(n int, sigma float64) *matlab.Gray {
	g := matlab.NewGray(n, n)
	half := float64(n-1) / 2
	den := 2 * (sigma * sigma)
	for y := 0; y < n; y++ {
		yy := -half + float64(y)
		for x := 0; x < n; x++ {
			xx := -half + float64(x)
			g.Pix[y*n+x] = expRounded(-(float64(yy*yy) + float64(xx*xx)) / den)
		}
	}
	var s float64
	for x := 0; x < n; x++ { // sum(f(:)), column-major
		for y := 0; y < n; y++ {
			s += g.Pix[y*n+x]
		}
	}
	for i := range g.Pix {
		g.Pix[i] /= s
	}
	return g
}

// expRounded is exp(x) rounded correctly to float64, as glibc's exp (which
// Octave calls) gives it for these arguments; Go's math.Exp may be 1 ulp
// off. A Taylor series in 256-bit floats after halving x until |x| < 1/2,
// squared back.
func expRounded(x float64) float64 {
	if x == 0 {
		return 1
	}
	const prec = 256
	k := 0
	for math.Abs(x)/math.Ldexp(1, k) >= 0.5 {
		k++
	}
	r := new(big.Float).SetPrec(prec).SetFloat64(math.Ldexp(x, -k))
	sum := new(big.Float).SetPrec(prec).SetInt64(1)
	term := new(big.Float).SetPrec(prec).SetInt64(1)
	for n := int64(1); n < 80; n++ {
		term.Mul(term, r)
		term.Quo(term, new(big.Float).SetPrec(prec).SetInt64(n))
		sum.Add(sum, term)
	}
	for ; k > 0; k-- {
		sum.Mul(sum, sum)
	}
	v, _ := sum.Float64()
	return v
}

// axpy is y += a*x as the BLAS daxpy computes it here (fused).
func axpy(a float64, x, y []float64) {
	for i := range y {
		y[i] = math.FMA(a, x[i], y[i])
	}
}

// colMajorOf returns g's pixels column-major.
func colMajorOf(g *matlab.Gray) []float64 {
	out := make([]float64, g.H*g.W)
	for y := 0; y < g.H; y++ {
		for x := 0; x < g.W; x++ {
			out[x*g.H+y] = g.Pix[y*g.W+x]
		}
	}
	return out
}

// OctaveFilter2Valid is Octave's filter2(k, a, 'valid'): conv2(a,
// rot90(k, 2), 'valid') by dconv2i. Input and output are row-major Grays.
func OctaveFilter2Valid(k, a *matlab.Gray) *matlab.Gray {
	ma, na, mb, nb := a.H, a.W, k.H, k.W
	oh, ow := ma-mb+1, na-nb+1
	if oh < 1 || ow < 1 {
		return matlab.NewGray(max(oh, 0), max(ow, 0))
	}
	ac := colMajorOf(a)
	// b = rot90(k, 2): b(i, j) = k(mb-1-i, nb-1-j), zero-based.
	c := make([]float64, oh*ow)
	for kk := 0; kk < ow; kk++ {
		col := c[kk*oh : (kk+1)*oh]
		for j := 0; j < nb; j++ {
			for i := 0; i < mb; i++ {
				b := k.Pix[(mb-1-i)*nb+(nb-1-j)]
				// a(mb+1-i, k+nb-j) one-based -> zero-based row mb-1-i, column kk+nb-1-j
				src := ac[(kk+nb-1-j)*ma+(mb-1-i):]
				axpy(b, src[:oh], col)
			}
		}
	}
	return fromColMajor(c, oh, ow)
}

// OctaveFilter2Same is Octave's filter2(k, a, 'same'): the full
// convolution with rot90(k, 2) by dconv2o, then its central part.
func OctaveFilter2Same(k, a *matlab.Gray) *matlab.Gray {
	ma, na, mb, nb := a.H, a.W, k.H, k.W
	fh, fw := ma+mb-1, na+nb-1
	ac := colMajorOf(a)
	c := make([]float64, fh*fw)
	for kk := 0; kk < na; kk++ {
		src := ac[kk*ma : (kk+1)*ma]
		for j := 0; j < nb; j++ {
			for i := 0; i < mb; i++ {
				b := k.Pix[(mb-1-i)*nb+(nb-1-j)]
				// c(i:i+ma-1, j+k-1) += b(i,j) * a(:, k)
				axpy(b, src, c[(j+kk)*fh+i:(j+kk)*fh+i+ma])
			}
		}
	}
	// 'same': rows ceil((mb-1)/2) .. +ma-1 of the full result (Octave's convn).
	oy, ox := (mb-1+1)/2, (nb-1+1)/2
	out := matlab.NewGray(ma, na)
	for y := 0; y < ma; y++ {
		for x := 0; x < na; x++ {
			out.Pix[y*na+x] = c[(x+ox)*fh+y+oy]
		}
	}
	return out
}

func fromColMajor(c []float64, h, w int) *matlab.Gray {
	g := matlab.NewGray(h, w)
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			g.Pix[y*w+x] = c[x*h+y]
		}
	}
	return g
}

// OctaveImfilterReplicate is Octave's imfilter(a, k, 'replicate') for an
// odd square k: padarray(a, floor(size(k)/2), 'replicate') then
// filter2(k, ., 'valid').
func OctaveImfilterReplicate(a, k *matlab.Gray) *matlab.Gray {
	py, px := k.H/2, k.W/2
	p := matlab.NewGray(a.H+2*py, a.W+2*px)
	for y := 0; y < p.H; y++ {
		sy := min(max(y-py, 0), a.H-1)
		for x := 0; x < p.W; x++ {
			sx := min(max(x-px, 0), a.W-1)
			p.Pix[y*p.W+x] = a.Pix[sy*a.W+sx]
		}
	}
	return OctaveFilter2Valid(k, p)
}

// GrayOctave is Octave 7's rgb2gray on a uint8 image, which the reference
// run used: im2double, the weights rounded to six decimals (0.298936,
// 0.587043, 0.114021), times 255, rounded to uint8. MATLAB's rgb2gray
// (matlab.RGB2Gray, full-precision weights on the 0..255 scale) differs from
// it on a few pixels per image whose sum lies near a half; the packages use
// MATLAB's, and the tests use this one to reproduce the Octave figures.
func GrayOctave(im *matlab.RGB8) *matlab.Gray {
	n := im.H * im.W
	g := matlab.NewGray(im.H, im.W)
	for i := 0; i < n; i++ {
		r, gr, b := float64(im.Pix[i])/255, float64(im.Pix[n+i])/255, float64(im.Pix[2*n+i])/255
		v := float64(r*0.298936) + float64(gr*0.587043) + float64(b*0.114021)
		g.Pix[i] = float64(matlab.ToUint8(v * 255))
	}
	return g
}
