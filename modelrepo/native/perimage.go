package native

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/client/tensor"
)

// PerImage turns a score of one channel-first RGB image (img holds 3*h*w bytes: R plane, G, B) into
// the function every handcrafted model serves: IMAGE UINT8 [B,3,H,W] -> QUALITY FP32 [B,1]. An
// image the metric cannot score (too small, constant: zero variance) fails the request with
// InvalidArgument naming the model, the image's index, the shape and the reason, rather than
// answering NaN: the runner retries a failed batch image by image and records the reason against
// the one image, where a NaN would only say "output is NaN". Cancellation ends the batch with the
// context's code.
func PerImage(name string, score func(ctx context.Context, img []uint8, h, w int) (float64, error)) Func {
	return func(ctx context.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		img, ok := TensorByName(inputs, "IMAGE")
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "%s: no IMAGE input", name)
		}
		if img.DataType != tensor.Uint8 || len(img.Shape) != 4 || img.Shape[1] != 3 {
			return nil, status.Errorf(codes.InvalidArgument, "%s: IMAGE must be UINT8 [B,3,H,W], got %s %v", name, img.DataType, img.Shape)
		}
		if err := img.Validate(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "%s: %v", name, err)
		}
		b, h, w := int(img.Shape[0]), int(img.Shape[2]), int(img.Shape[3])
		per := 3 * h * w
		scores := make([]float32, b)
		for i := range scores {
			if err := ctx.Err(); err != nil {
				// Canceled or DeadlineExceeded: a plain error would be reported as Internal.
				return nil, status.FromContextError(err).Err()
			}
			v, err := score(ctx, img.Raw[i*per:(i+1)*per], h, w)
			if err != nil {
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					return nil, status.FromContextError(err).Err()
				}
				return nil, status.Errorf(codes.InvalidArgument, "%s: IMAGE %d of %v: %v", name, i, img.Shape, err)
			}
			scores[i] = float32(v)
		}
		q, err := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, scores)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{q}, nil
	}
}
