package baselines

import (
	"context"
	"fmt"
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// RMSContrastFunc is the native function name of the contrast baseline.
const RMSContrastFunc = "rms_contrast"

func init() { native.Register(RMSContrastFunc, rmsContrastModel) }

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
	y := make([]float64, plane)
	var sum float64
	for i := range y {
		y[i] = 0.299*float64(img[i]) + 0.587*float64(img[plane+i]) + 0.114*float64(img[2*plane+i])
		sum += y[i]
	}
	// Two passes (mean, then squared deviations), as in LaplacianVariance:
	// the mean luma is large next to the spread of a low-contrast image.
	mean := sum / float64(plane)
	var ss float64
	for _, v := range y {
		d := v - mean
		ss += d * d
	}
	return math.Sqrt(ss / float64(plane)), nil
}

// rmsContrastModel is the native model: IMAGE UINT8 [B,3,H,W] ->
// QUALITY FP32 [B,1], one score per image.
func rmsContrastModel(ctx context.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	img, ok := native.TensorByName(inputs, "IMAGE")
	if !ok {
		return nil, status.Error(codes.InvalidArgument, "rms_contrast: no IMAGE input")
	}
	if img.DataType != tensor.Uint8 || len(img.Shape) != 4 || img.Shape[1] != 3 {
		return nil, status.Errorf(codes.InvalidArgument, "rms_contrast: IMAGE must be UINT8 [B,3,H,W], got %s %v", img.DataType, img.Shape)
	}
	b, h, w := int(img.Shape[0]), int(img.Shape[2]), int(img.Shape[3])
	if err := img.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	per := 3 * h * w
	scores := make([]float32, b)
	for i := 0; i < b; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := RMSContrast(img.Raw[i*per:(i+1)*per], h, w)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		scores[i] = float32(v)
	}
	q, err := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, scores)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{q}, nil
}
