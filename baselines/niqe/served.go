package niqe

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/agiqa-bench/agiqa/baselines/brisque"
	"github.com/agiqa-bench/agiqa/modelrepo/fetch"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// NativeName is the native model that serves NIQE: IMAGE UINT8 [B,3,H,W] ->
// QUALITY FP32 [B,1], each image at its own size (at least one 96x96 block).
const NativeName = "niqe"

// The files a version folder may carry instead of the published pristine
// model: the release's MAT file, or a model `agiqa niqe fit` wrote.
const (
	MATFile  = "modelparameters.mat"
	JSONFile = "niqe.json"
)

func init() { native.RegisterLoader(NativeName, loadServed) }

// loadServed reads the version folder's pristine model when it holds one
// (a Triton repository carries its parameters, or a fitted model), else the
// published one that `agiqa fetch niqe-params` installs in the cache.
func loadServed(_ context.Context, files fs.FS) (native.Func, error) {
	m, err := openServed(files)
	if err != nil {
		return nil, err
	}
	return brisque.PerImage(NativeName, m.Score), nil
}

func openServed(files fs.FS) (*Model, error) {
	var found []string
	for _, name := range []string{MATFile, JSONFile} {
		if files == nil {
			break
		}
		if _, err := fs.Stat(files, name); err == nil {
			found = append(found, name)
		}
	}
	switch len(found) {
	case 0:
		return ReadPublished("")
	case 2:
		return nil, fmt.Errorf("niqe: version folder holds both %s and %s: keep the one to serve", MATFile, JSONFile)
	}
	fh, err := files.Open(found[0])
	if err != nil {
		return nil, fmt.Errorf("niqe: %w", err)
	}
	defer fh.Close()
	m, err := Read(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", found[0], err)
	}
	return m, nil
}

// ReadPublished reads the published pristine model (modelparameters.mat)
// from the fetch cache under cacheDir ("" for fetch.DefaultCacheDir());
// when absent the error names `agiqa fetch niqe-params`.
func ReadPublished(cacheDir string) (*Model, error) {
	if cacheDir == "" {
		cacheDir = fetch.DefaultCacheDir()
	}
	p, err := fetch.Path(cacheDir, fetch.NIQEParams)
	if err != nil {
		return nil, fmt.Errorf("niqe: %w", err)
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("niqe: %w", err)
	}
	defer fh.Close()
	m, err := ReadMAT(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}
