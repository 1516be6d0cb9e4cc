package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/agiqa-bench/agiqa/baselines"
	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/bench/svrtrain"
	"github.com/agiqa-bench/agiqa/modelrepo/fetch"
)

func init() {
	register(command{name: "train", summary: "train the SVR rows of Table 1 per split into a servable repository entry", run: runTrain})
}

func runTrain(ctx context.Context, io cmdIO, args []string) error {
	if len(args) == 0 || args[0] != "svr" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			args = []string{"svr", args[0]}
		} else {
			return usagef("train: want 'agiqa train svr ...' (the only trainer; IP-IQA trains with python -m agiqa_torch.train)")
		}
	}
	fs := newFlags(io, "train svr", `
Usage: agiqa train svr --feature NAME --dataset NAME=DIR --splits FILE --repo DIR [flags]

Extracts the handcrafted features of every image once (cached under
--cache/features, keyed by the image bytes, so a rerun or another split
extracts nothing again), then trains one epsilon-SVR (RBF kernel, as libsvm)
per split on that split's training images only: features scaled to [-1, 1]
with the training range, C and gamma chosen by k-fold cross-validation on the
training images. Writes REPO/NAME/<k+1>/{model.svr,model.range,train.json}
(version k+1 scores split k) and REPO/NAME/config.pbtxt, which 'agiqa serve'
and Triton (through the agiqa shared library) serve at each image's own size.
A split whose version already holds the same training is kept: rerun the
command after an interruption.

Example:
  agiqa train svr --feature gmlf --dataset agiqa-3k=~/data/AGIQA-3k --splits splits-agiqa-3k.json --repo modelrepo/models`)
	d := addDatasetFlags(fs)
	feature := fs.String("feature", "", "feature `extractor` ("+strings.Join(extractor.Names(), ", ")+")")
	splitsPath := fs.String("splits", "", "splits `file` (agiqa splits -o)")
	repo := fs.String("repo", "", "model repository `dir` to write the model into")
	name := fs.String("name", "", "model `name` in the repository (default <feature>_<dataset>, e.g. gmlf_agiqa3k)")
	folds := fs.Int("folds", 5, "cross-validation `folds` for choosing C and gamma")
	cache := fs.String("cache", fetch.DefaultCacheDir(), "cache `dir` (features go to DIR/features)")
	workers := fs.Int("workers", 0, "feature extraction `workers` (default: one per CPU)")
	quiet := fs.Bool("q", false, "no progress lines")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("train svr: unexpected argument %q", fs.Arg(0))
	}
	ex, ok := extractor.Lookup(*feature)
	switch {
	case *feature == "":
		return usagef("--feature is required (one of %s)", strings.Join(extractor.Names(), ", "))
	case !ok:
		return usagef("--feature %q: unknown extractor (want one of %s)", *feature, strings.Join(extractor.Names(), ", "))
	case *splitsPath == "":
		return usagef("--splits FILE is required (draw one with 'agiqa splits')")
	case *repo == "":
		return usagef("--repo DIR is required (where the model folder is written)")
	case *folds < 2:
		return usagef("--folds %d: want at least 2", *folds)
	case *workers < 0:
		return usagef("--workers %d: want 0 (one per CPU) or more", *workers)
	}
	ds, err := d.open(ctx)
	if err != nil {
		return err
	}
	for _, w := range ds.Warnings {
		fmt.Fprintf(io.stderr, "warning: %s\n", w)
	}
	sp, err := splits.Read(*splitsPath)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = ex.Name + "_" + strings.ReplaceAll(ds.Name, "-", "")
	}
	opt := svrtrain.Options{
		Extractor: ex.ForCache(), Dataset: ds, Splits: sp, FeatureCache: filepath.Join(*cache, "features"),
		Repo: *repo, Name: *name, Catalog: ex.Catalog, Preprocess: preprocess.MethodNative.String(), Function: baselines.SVRFunction,
		Folds: *folds, Workers: *workers, Log: io.stderr,
	}
	if !*quiet {
		opt.Progress = tenthsProgress(io, ex.Name+" features")
	}
	rep, err := svrtrain.Train(ctx, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.stdout, "%s: %d splits trained, %d kept; %d of %d images have features (%d from the cache)\n",
		filepath.Join(*repo, *name), len(rep.Trained), len(rep.Kept), len(rep.Features.Features), len(ds.Items), rep.Features.Cached)
	return nil
}

// tenthsProgress prints "<what>: k/n" at each tenth, for logs as well as terminals.
func tenthsProgress(io cmdIO, what string) func(done, total int) {
	var mu sync.Mutex
	last := -1
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if tenth := done * 10 / max(total, 1); tenth != last {
			last = tenth
			fmt.Fprintf(io.stderr, "%s: %d/%d\n", what, done, total)
		}
	}
}
