package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/baselines/niqe"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
)

func init() {
	register(command{name: "niqe", summary: "fit a NIQE pristine model to a folder of high-quality images", run: runNIQE})
}

func runNIQE(ctx context.Context, io cmdIO, args []string) error {
	if len(args) == 0 || args[0] != "fit" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			args = []string{"fit", args[0]}
		} else {
			return usagef("niqe: want 'agiqa niqe fit DIR -o FILE' (the only subcommand)")
		}
	}
	fs := newFlags(io, "niqe fit", `
Usage: agiqa niqe fit DIR -o FILE [flags]

Fits a NIQE pristine model to the JPEG and PNG images in DIR (not its
subfolders; other files are ignored), as the authors' estimatemodelparam.m
does: each image's 96x96 blocks at two scales, the blocks whose sharpness
(mean local deviation) exceeds --threshold times the image's sharpest, and the
mean and covariance of their 36 features. Images are read in name order.
An image smaller than one block or of one gray level is skipped (said on
stderr); one that cannot be read stops the fit. Writes FILE as JSON
(agiqa-niqe-model/1), which a served niqe model reads as its version folder's
niqe.json in place of the published modelparameters.mat.

Example:
  agiqa niqe fit ~/pristine -o modelrepo/models/niqe_mine/1/niqe.json`)
	out := fs.String("o", "", "output `file` (JSON)")
	threshold := fs.Float64("threshold", niqe.DefaultThreshold, "sharpness `fraction` of the image's sharpest block a block must exceed")
	workers := fs.Int("workers", 0, "images decoded and measured at once (default: one per CPU)")
	quiet := fs.Bool("q", false, "no per-image progress")
	limits := addLimitFlags(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := limits.apply(); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 1:
		return usagef("niqe fit: want one image folder, got %d arguments", fs.NArg())
	case *out == "":
		return usagef("niqe fit: -o FILE is required")
	case *workers < 0:
		return usagef("--workers %d: want 0 (one per CPU) or more", *workers)
	}
	fitter, err := niqe.NewFitter(*threshold)
	if err != nil {
		return usagef("--threshold: %v", err)
	}
	dir := fs.Arg(0)
	paths, err := imageFiles(dir)
	if err != nil {
		return err
	}
	progress := io.stderr
	if *quiet {
		progress = nil
	}
	if err := fitFolder(ctx, fitter, paths, *workers, progress); err != nil {
		return err
	}
	m, info, err := fitter.Model()
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if err := writeNIQEModel(*out, m, info); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(io.stdout, "%s: NIQE model from %d blocks of %d of %d images (threshold %g)\n", *out, info.Blocks, info.Images, len(paths), info.Threshold)
	return nil
}

// writeNIQEModel writes the model whole or not at all.
func writeNIQEModel(path string, m *niqe.Model, info niqe.FitInfo) error {
	return atomicfile.Write(path, func(w io.Writer) error { return m.WriteJSON(w, info) })
}

// imageFiles lists DIR's JPEG and PNG files by name.
func imageFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".jpg", ".jpeg", ".png":
			if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s holds no .jpg, .jpeg or .png image", dir)
	}
	sort.Strings(paths)
	return paths, nil
}

type blockResult struct {
	b   *niqe.Blocks
	err error
}

// fitFolder measures the images on workers goroutines and adds them to f in
// name order, so the model does not depend on the number of workers.
func fitFolder(ctx context.Context, f *niqe.Fitter, paths []string, workers int, progress io.Writer) error {
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan blockResult, len(paths))
	for i := range results {
		results[i] = make(chan blockResult, 1)
	}
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range paths {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < min(workers, len(paths)); w++ {
		go func() {
			for i := range next {
				results[i] <- measure(ctx, paths[i])
			}
		}()
	}
	for i, p := range paths {
		var r blockResult
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		name := filepath.Base(p)
		switch {
		case r.err != nil && niqe.Skippable(r.err):
			logf(progress, "niqe fit: [%d/%d] %s: skipped: %v\n", i+1, len(paths), name, r.err)
		case r.err != nil:
			return fmt.Errorf("niqe fit: %s: %w", p, r.err)
		default:
			kept := f.AddBlocks(r.b)
			logf(progress, "niqe fit: [%d/%d] %s: %d of %d blocks kept\n", i+1, len(paths), name, kept, r.b.N)
		}
	}
	return nil
}

func measure(ctx context.Context, path string) blockResult {
	img, err := preprocess.DecodeFile(path)
	if err != nil {
		return blockResult{err: err}
	}
	b, err := niqe.BlockFeatures(ctx, extractor.FromPacked(img))
	return blockResult{b: b, err: err}
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}
