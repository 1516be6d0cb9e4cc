// Package higrade computes the HIGRADE-1 features of Kundu, Ghadiyaram, Bovik and Evans,
// "No-Reference Quality Assessment of Tone-Mapped HDR Pictures" (IEEE TIP 2017), as the authors' release
// (github.com/utlive/higrade, higrade_1.m) computes them on an 8-bit RGB image: the image is taken to
// CIELAB by applycform(im, makecform('srgb2lab')), which for uint8 input returns the ICC 8-bit encoding
// (L*255/100, a+128, b+128, rounded); each of L, a, b and its Sobel gradient magnitude (MATLAB's
// imgradient: imfilter 'replicate', hypot) gets the 18 BRISQUE-like spatial features of
// higrade_spatial.m at two scales (the second after imresize(., 0.5)). 3 channels x 2 maps x 2 scales x
// 18 = 216 values. The paper's row trains an SVR on them; this package only extracts.
package higrade

import (
	"errors"
	"fmt"
	"math"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// NumFeatures is the length of the feature vector.
const NumFeatures = 216

// PerMap is the number of features of one map at one scale (higrade_spatial's spatial_feature).
const PerMap = 18

// MinSize is the smallest height and width accepted: the half-size second scale keeps at least 2x2
// pixels, so that every local statistic has neighbours.
const MinSize = 4

// ErrConstant is wrapped by Features' error for an image without any variation.
var ErrConstant = errors.New("constant image (zero variance)")

// Features returns the 216 HIGRADE-1 features of im, in the release's order: for L, a, b in turn, the
// 36 spatial features of the channel (scale 1, then scale 2) and the 36 of its gradient magnitude. An
// image under MinSize in either dimension is an error naming its size; a constant image returns NaN
// features and an error wrapping ErrConstant. A channel without variation in an otherwise varying image
// (the a and b of some gray images) gets the values the release computes for it, including +Inf.
func Features(im *matlab.RGB8) ([]float64, error) {
	if err := im.Check(); err != nil {
		return nil, fmt.Errorf("higrade: %w", err)
	}
	if im.H < MinSize || im.W < MinSize {
		return nil, fmt.Errorf("higrade: image %dx%d (HxW) is smaller than %dx%d", im.H, im.W, MinSize, MinSize)
	}
	if constantRGB(im) {
		return matlab.NaNs(NumFeatures), fmt.Errorf("higrade: image %dx%d (HxW): %w", im.H, im.W, ErrConstant)
	}
	out := make([]float64, 0, NumFeatures)
	for _, ch := range Lab8(im) {
		out = append(out, spatial(ch)...)
		out = append(out, spatial(gradientMagnitude(ch))...)
	}
	return out, nil
}

// Lab8 is applycform(im, makecform('srgb2lab')) on a uint8 image: matlab.SRGB2Lab's L*a*b*, encoded as
// lab2uint8 does (L*(255/100), a+128, b+128, rounded half away from zero and saturated), returned as
// doubles (double(lab(:,:,k))).
func Lab8(im *matlab.RGB8) [3]*matlab.Gray {
	l, a, b := matlab.SRGB2Lab(im)
	enc := func(g *matlab.Gray, scale, offset float64) *matlab.Gray {
		out := matlab.NewGray(g.H, g.W)
		for i, v := range g.Pix {
			if math.IsNaN(v) {
				out.Pix[i] = 255 // lab2uint8 maps NaN to 255
				continue
			}
			out.Pix[i] = float64(matlab.ToUint8(v*scale + offset))
		}
		return out
	}
	return [3]*matlab.Gray{enc(l, 255.0/100, 0), enc(a, 1, 128), enc(b, 1, 128)}
}

// gradientMagnitude is imgradient(I) (Sobel) on a double image: Gx and Gy by imfilter with
// -fspecial('sobel') transposed and not, 'replicate' borders, then hypot.
func gradientMagnitude(g *matlab.Gray) *matlab.Gray {
	ky := &matlab.Gray{H: 3, W: 3, Pix: []float64{-1, -2, -1, 0, 0, 0, 1, 2, 1}}
	kx := &matlab.Gray{H: 3, W: 3, Pix: []float64{-1, 0, 1, -2, 0, 2, -1, 0, 1}}
	gx := matlab.Imfilter(g, kx, matlab.Replicate)
	gy := matlab.Imfilter(g, ky, matlab.Replicate)
	out := matlab.NewGray(g.H, g.W)
	for i := range out.Pix {
		out.Pix[i] = math.Hypot(gx.Pix[i], gy.Pix[i])
	}
	return out
}

func constantRGB(im *matlab.RGB8) bool {
	n := im.H * im.W
	for c := 0; c < 3; c++ {
		if !matlab.IsConstant(im.Pix[c*n : (c+1)*n]) {
			return false
		}
	}
	return true
}
