package ceiq

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/modelrepo/fetch"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// NativeName is the native function that serves the published model: IMAGE UINT8 [B,3,H,W] ->
// QUALITY FP32 [B,1], each image scored at its own size.
const NativeName = "ceiq"

// ModelFile is the model a version folder may carry; without it the loader reads the published
// model.mat from the fetch cache (agiqa fetch ceiq-model installs it).
const ModelFile = "model.mat"

func init() { native.RegisterLoader(NativeName, loadPublished) }

func loadPublished(_ context.Context, files fs.FS) (native.Func, error) {
	var m *Model
	if _, err := fs.Stat(files, ModelFile); err == nil {
		fh, err := files.Open(ModelFile)
		if err != nil {
			return nil, fmt.Errorf("ceiq: %w", err)
		}
		defer fh.Close()
		if m, err = ReadMAT(fh); err != nil {
			return nil, err
		}
	} else if m, err = ReadPublished(""); err != nil {
		return nil, err
	}
	return m.NativeFunc(NativeName), nil
}

// ReadPublished reads the published model.mat from the fetch cache under cacheDir (""
// for fetch.DefaultCacheDir()); when it is absent the error names the `agiqa fetch` command.
func ReadPublished(cacheDir string) (*Model, error) {
	if cacheDir == "" {
		cacheDir = fetch.DefaultCacheDir()
	}
	p, err := fetch.Path(cacheDir, fetch.CEIQModel)
	if err != nil {
		return nil, fmt.Errorf("ceiq: %w", err)
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("ceiq: %w", err)
	}
	defer fh.Close()
	return ReadMAT(fh)
}

// NativeFunc serves m as a native model named name (native.PerImage: a constant image, ErrConstant,
// fails with InvalidArgument naming the image and the reason, as the other handcrafted models do).
func (m *Model) NativeFunc(name string) native.Func {
	return native.PerImage(name, func(_ context.Context, img []uint8, h, w int) (float64, error) {
		return m.Score(&matlab.RGB8{H: h, W: w, Pix: img})
	})
}
