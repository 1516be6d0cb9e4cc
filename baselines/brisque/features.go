// Package brisque computes BRISQUE (Mittal, Moorthy, Bovik, TIP 2012) as the
// authors' MATLAB release (utlive/BRISQUE, MATLAB/brisquescore.m) computes
// it: 36 spatial natural-scene-statistics features of the gray image at two
// scales, written with %f, scaled by libsvm's svm-scale with the published
// ranges and predicted by the published epsilon-SVR (svm-predict). Lower is
// better (0 good, 100 bad on LIVE's DMOS scale).
//
// The package also holds the release's GGD and AGGD estimators (nss.go),
// which NIQE shares.
package brisque

import (
	"errors"
	"fmt"
	"math"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// NumFeatures is the length of a BRISQUE feature vector: per scale the GGD
// shape and variance of the MSCN coefficients, then for each of the four
// orientations the AGGD shape, mean, left and right variances of the paired
// products.
const NumFeatures = 36

// ZeroVarianceError reports an image whose gray levels are all equal: its
// normalised coefficients are 0/0 and the metric is undefined. Functions
// that return it return NaN as the score.
type ZeroVarianceError struct{ H, W int }

func (e *ZeroVarianceError) Error() string {
	return fmt.Sprintf("image %dx%d has zero variance (all gray levels equal): the score is undefined (NaN)", e.H, e.W)
}

// ErrZeroVariance matches every *ZeroVarianceError with errors.Is.
var ErrZeroVariance = errors.New("zero variance")

// Is makes errors.Is(err, ErrZeroVariance) true.
func (e *ZeroVarianceError) Is(target error) bool { return target == ErrZeroVariance }

// Window is the LIVE releases' window: fspecial('gaussian', 7, 7/6) (as
// Octave builds it) divided again by sum(sum(.)).
func Window() *matlab.Gray {
	return Renormalize(OctaveGaussian(7, 7.0/6))
}

// Renormalize returns k / sum(sum(k)) with MATLAB's order of summation
// (each column top to bottom, then the column sums left to right), as both
// LIVE releases normalise their window a second time.
func Renormalize(k *matlab.Gray) *matlab.Gray {
	var total float64
	for x := 0; x < k.W; x++ {
		var col float64
		for y := 0; y < k.H; y++ {
			col += k.Pix[y*k.W+x]
		}
		total += col
	}
	out := matlab.NewGray(k.H, k.W)
	for i, v := range k.Pix {
		out.Pix[i] = v / total
	}
	return out
}

// Features returns the 36 BRISQUE features of an 8-bit RGB image, computed
// on rgb2gray(im) as brisquescore.m does.
func Features(im *matlab.RGB8) ([]float64, error) {
	if im == nil || im.H < 1 || im.W < 1 || len(im.Pix) != 3*im.H*im.W {
		return nil, badImage(im)
	}
	return FeaturesGray(matlab.RGB2Gray(im))
}

func badImage(im *matlab.RGB8) error {
	if im == nil {
		return errors.New("brisque: no image")
	}
	return fmt.Errorf("brisque: image %dx%d with %d bytes (want 3*H*W = %d, H and W >= 1)", im.H, im.W, len(im.Pix), 3*im.H*im.W)
}

// FeaturesGray returns the BRISQUE features of a gray image on the 0..255
// scale (brisque_feature.m's input). A constant image returns NaN features
// and a *ZeroVarianceError; a NaN feature of any other image (a side of a
// distribution with no values, as on tiny images) is an error naming it.
func FeaturesGray(g *matlab.Gray) ([]float64, error) {
	if g == nil || g.H < 1 || g.W < 1 || len(g.Pix) != g.H*g.W {
		return nil, errors.New("brisque: empty or malformed gray image")
	}
	if matlab.IsConstant(g.Pix) {
		feat := make([]float64, NumFeatures)
		for i := range feat {
			feat[i] = math.NaN()
		}
		return feat, &ZeroVarianceError{H: g.H, W: g.W}
	}
	win := Window()
	feat := make([]float64, 0, NumFeatures)
	im := g
	for scale := 0; scale < 2; scale++ {
		feat = appendScale(feat, mscn(im, win))
		if scale == 0 {
			im = matlab.Imresize(im, 0.5)
		}
	}
	for i, v := range feat {
		if math.IsNaN(v) {
			return feat, fmt.Errorf("brisque: image %dx%d: feature %d is NaN (a distribution side with no values)", g.H, g.W, i+1)
		}
	}
	return feat, nil
}

// colMajor is an h x w matrix held as MATLAB holds it: a[j*h+i] = A(i+1, j+1).
type colMajor struct {
	h, w int
	a    []float64
}

// mscn returns (im - mu) ./ (sigma + 1) with mu and sigma from filter2(win,
// ., 'same'), zero padding, as brisque_feature.m, computed as Octave does
// (octave.go says why); column-major.
func mscn(im, win *matlab.Gray) colMajor {
	sq := matlab.NewGray(im.H, im.W)
	for i, v := range im.Pix {
		sq.Pix[i] = v * v
	}
	mu := OctaveFilter2Same(win, im)
	mu2 := OctaveFilter2Same(win, sq)
	h, w := im.H, im.W
	out := colMajor{h: h, w: w, a: make([]float64, h*w)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			m := mu.Pix[i]
			sigma := math.Sqrt(math.Abs(mu2.Pix[i] - float64(m*m)))
			out.a[x*h+y] = (im.Pix[i] - m) / (sigma + 1)
		}
	}
	return out
}

// appendScale appends one scale's 18 features of the MSCN coefficients sd.
func appendScale(feat []float64, sd colMajor) []float64 {
	alpha, sigma := GGD(sd.a)
	feat = append(feat, alpha, sigma*sigma)
	pair := make([]float64, len(sd.a))
	for _, s := range Shifts {
		ShiftProducts(sd.a, sd.h, sd.w, s[0], s[1], pair)
		a, l, r := AGGD(pair)
		c := math.Sqrt(math.Gamma(1/a)) / math.Sqrt(math.Gamma(3/a))
		mean := (r - l) * (math.Gamma(2/a) / math.Gamma(1/a)) * c
		feat = append(feat, a, mean, l*l, r*r)
	}
	return feat
}
