package baselines

import (
	"context"
	"io/fs"

	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// perImageModel serves a score of one channel-first RGB image as a native model (native.PerImage).
func perImageModel(name string, score func(img []uint8, h, w int) (float64, error)) native.Func {
	return native.PerImage(name, func(_ context.Context, img []uint8, h, w int) (float64, error) { return score(img, h, w) })
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
