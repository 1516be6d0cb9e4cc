package brisque

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/modelrepo/fetch"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// NativeName is the native model that serves the published LIVE model:
// IMAGE UINT8 [B,3,H,W] -> QUALITY FP32 [B,1], each image at its own size.
const NativeName = "brisque"

// The files a version folder may carry instead of the cached published ones
// (both or neither), as the release names them.
const (
	ModelFile = "allmodel"
	RangeFile = "allrange"
)

func init() {
	native.RegisterLoader(NativeName, loadServed)
	extractor.Register(extractor.Extractor{Name: "brisque", Version: "1", Len: NumFeatures, Catalog: "brisque_svr", Features: Features})
}

// loadServed reads allmodel and allrange from the version folder when it
// holds them (a Triton repository carries its parameters), else the
// published copies that `agiqa fetch` installs in the cache.
func loadServed(_ context.Context, files fs.FS) (native.Func, error) {
	model, err := openPair(files)
	if err != nil {
		return nil, err
	}
	return PerImage(NativeName, func(_ context.Context, im *matlab.RGB8) (float64, error) {
		return model.Score(im)
	}), nil
}

func openPair(files fs.FS) (*Model, error) {
	hasModel, hasRange := exists(files, ModelFile), exists(files, RangeFile)
	if hasModel != hasRange {
		have, missing := ModelFile, RangeFile
		if hasRange {
			have, missing = RangeFile, ModelFile
		}
		return nil, fmt.Errorf("brisque: version folder holds %s but not %s (put both, or neither to use the published ones)", have, missing)
	}
	if hasModel {
		mf, err := files.Open(ModelFile)
		if err != nil {
			return nil, fmt.Errorf("brisque: %w", err)
		}
		defer mf.Close()
		rf, err := files.Open(RangeFile)
		if err != nil {
			return nil, fmt.Errorf("brisque: %w", err)
		}
		defer rf.Close()
		return ReadModel(mf, rf)
	}
	return ReadPublished("")
}

// ReadPublished reads the published allmodel and allrange from the fetch
// cache under cacheDir ("" for fetch.DefaultCacheDir()); when absent the
// error names the `agiqa fetch` command that installs them.
func ReadPublished(cacheDir string) (*Model, error) {
	if cacheDir == "" {
		cacheDir = fetch.DefaultCacheDir()
	}
	mp, err := fetch.Path(cacheDir, fetch.BRISQUEModel)
	if err != nil {
		return nil, fmt.Errorf("brisque: %w", err)
	}
	rp, err := fetch.Path(cacheDir, fetch.BRISQUERange)
	if err != nil {
		return nil, fmt.Errorf("brisque: %w", err)
	}
	mf, err := os.Open(mp)
	if err != nil {
		return nil, fmt.Errorf("brisque: %w", err)
	}
	defer mf.Close()
	rf, err := os.Open(rp)
	if err != nil {
		return nil, fmt.Errorf("brisque: %w", err)
	}
	defer rf.Close()
	return ReadModel(mf, rf)
}

func exists(files fs.FS, name string) bool {
	if files == nil {
		return false
	}
	_, err := fs.Stat(files, name)
	return err == nil
}

// PerImage serves a per-image score of a channel-first RGB image as a native model (native.PerImage:
// a failure names the model, the image and the reason).
func PerImage(name string, score func(ctx context.Context, im *matlab.RGB8) (float64, error)) native.Func {
	return native.PerImage(name, func(ctx context.Context, img []uint8, h, w int) (float64, error) {
		return score(ctx, &matlab.RGB8{H: h, W: w, Pix: img})
	})
}
