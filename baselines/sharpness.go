package baselines

import (
	"fmt"

	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// LaplacianVarianceFunc is the native function name of the sharpness baseline.
const LaplacianVarianceFunc = "laplacian_variance"

func init() {
	native.Register(LaplacianVarianceFunc, perImageModel(LaplacianVarianceFunc, LaplacianVariance))
}

// LaplacianVariance is a classical no-reference sharpness measure: the
// variance of the 3x3 Laplacian (0 1 0 / 1 -4 1 / 0 1 0) of the BT.601 luma
// Y = 0.299 R + 0.587 G + 0.114 B (unrounded, 0..255 scale). The Laplacian is
// taken on interior pixels only (a "valid" convolution, (H-2) x (W-2)
// values), so no border rule enters the score; the variance is the
// population one (divide by the count). Blur removes high frequencies and
// lowers it. img is one RGB image, channel-first, h x w with h, w >= 3.
func LaplacianVariance(img []uint8, h, w int) (float64, error) {
	if h < 3 || w < 3 {
		return 0, fmt.Errorf("laplacian variance: image %dx%d is smaller than the 3x3 kernel", h, w)
	}
	if len(img) != 3*h*w {
		return 0, fmt.Errorf("laplacian variance: %d bytes for a 3x%dx%d image (want %d)", len(img), h, w, 3*h*w)
	}
	y := luma(img, h*w)
	lap := make([]float64, 0, (h-2)*(w-2))
	var sum float64
	for r := 1; r < h-1; r++ {
		for c := 1; c < w-1; c++ {
			i := r*w + c
			v := y[i-w] + y[i+w] + y[i-1] + y[i+1] - float64(4*y[i]) // no FMA: see luma
			lap = append(lap, v)
			sum += v
		}
	}
	// Two passes: the mean first, then squared deviations, which keeps
	// precision when the mean is large next to the spread.
	mean := sum / float64(len(lap))
	var ss float64
	for _, v := range lap {
		d := v - mean
		ss += float64(d * d) // no FMA: see luma
	}
	return ss / float64(len(lap)), nil
}

// luma returns Y = 0.299 R + 0.587 G + 0.114 B of a channel-first image with
// plane pixels per channel. The explicit conversions round each product on
// its own: without them the compiler may fuse a*b+c into one FMA (arm64,
// GOAMD64=v3), and the scores would then differ in their last bits from
// numpy's, which the Triton Python backend computes with.
func luma(img []uint8, plane int) []float64 {
	y := make([]float64, plane)
	for i := range y {
		y[i] = float64(0.299*float64(img[i])) + float64(0.587*float64(img[plane+i])) + float64(0.114*float64(img[2*plane+i]))
	}
	return y
}
