package baselines

import (
	"context"
	"io/fs"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// perImageModel turns a score of one channel-first RGB image into the native
// model every handcrafted baseline serves: IMAGE UINT8 [B,3,H,W] -> QUALITY
// FP32 [B,1], one score per image. name prefixes its error messages.
func perImageModel(name string, score func(img []uint8, h, w int) (float64, error)) native.Func {
	return func(ctx context.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		img, ok := native.TensorByName(inputs, "IMAGE")
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
		for i := 0; i < b; i++ {
			if err := ctx.Err(); err != nil {
				// Canceled or DeadlineExceeded: the server would report a
				// plain error as Internal, a failure of the model.
				return nil, status.FromContextError(err).Err()
			}
			v, err := score(img.Raw[i*per:(i+1)*per], h, w)
			if err != nil {
				// Every image of a batch has the same H and W, so the first
				// failure stands for all of them.
				return nil, status.Errorf(codes.InvalidArgument, "%s: IMAGE %v: %v", name, img.Shape, err)
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

// perImageLoader is perImageModel for a model whose versions carry files (an
// SVR's model.svr and scaling range): load builds one version's scorer from
// its folder, and the result serves IMAGE -> QUALITY as perImageModel does.
// Register it with native.RegisterLoader.
func perImageLoader(name string, load func(ctx context.Context, files fs.FS) (func(img []uint8, h, w int) (float64, error), error)) native.Loader {
	return func(ctx context.Context, files fs.FS) (native.Func, error) {
		score, err := load(ctx, files)
		if err != nil {
			return nil, err
		}
		return perImageModel(name, score), nil
	}
}
