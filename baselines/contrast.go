package baselines

import (
	"fmt"
	"math"

	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// RMSContrastFunc is the native function name of the contrast baseline.
const RMSContrastFunc = "rms_contrast"

func init() { native.Register(RMSContrastFunc, perImageModel(RMSContrastFunc, RMSContrast)) }

// RMSContrast is the classical root-mean-square contrast: the population
// standard deviation of the BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B
// (unrounded, 0..255 scale) over every pixel. Washed-out, hazy or flat
// images score low; it ranges from 0 (constant) to 127.5 (half black, half
// white). img is one RGB image, channel-first, h x w with h, w >= 1.
func RMSContrast(img []uint8, h, w int) (float64, error) {
	if h < 1 || w < 1 {
		return 0, fmt.Errorf("rms contrast: image %dx%d is empty", h, w)
	}
	if len(img) != 3*h*w {
		return 0, fmt.Errorf("rms contrast: %d bytes for a 3x%dx%d image (want %d)", len(img), h, w, 3*h*w)
	}
	plane := h * w
	y := luma(img, plane)
	var sum float64
	for _, v := range y {
		sum += v
	}
	// Two passes (mean, then squared deviations), as in LaplacianVariance:
	// the mean luma is large next to the spread of a low-contrast image.
	mean := sum / float64(plane)
	var ss float64
	for _, v := range y {
		d := v - mean
		ss += float64(d * d) // no FMA: see luma
	}
	return math.Sqrt(ss / float64(plane)), nil
}
