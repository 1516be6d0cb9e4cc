// Package svrtrain trains the SVR rows of Table 1 the way their authors' protocol does: one
// epsilon-SVR per split, on that split's training images only (features scaled to [-1, 1] with the
// range of the training features, C and gamma chosen by k-fold cross-validation on those images),
// written as a servable per-split repository entry:
//
//	<repo>/<name>/config.pbtxt         native backend, IMAGE [3,-1,-1] at the image's own size
//	<repo>/<name>/<k+1>/model.svr      libsvm text model (svm-predict reads it)
//	<repo>/<name>/<k+1>/model.range    svm-scale range file fitted on split k's training features
//	<repo>/<name>/<k+1>/train.json     what was trained on, the chosen C and gamma, the CV error
//
// Version k+1 scores split k (Triton ignores version 0), as for IP-IQA. Features come from
// bench/featcache, so they are extracted once per image; a split whose version folder already holds a
// train.json for the same features, splits and grid is kept, so an interrupted run resumes.
package svrtrain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/agiqa-bench/agiqa/baselines/svr"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/featcache"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
)

// Files of a version folder.
const (
	ModelFile = "model.svr"
	RangeFile = "model.range"
	TrainFile = "train.json"
)

// Options say what to train and where. Extractor, Dataset, Splits, Repo and Name are required.
type Options struct {
	Extractor featcache.Extractor
	Dataset   *dataset.Dataset
	Splits    *splits.File
	// FeatureCache is the folder of bench/featcache files.
	FeatureCache string
	// Repo is the model repository root; Name the model's folder in it.
	Repo, Name string
	// Catalog is the paper-table row the model fills (agiqa.catalog).
	Catalog string
	// Preprocess is the agiqa.preprocess method the config declares (a method that does not resize).
	Preprocess string
	// Function is the native function (a loader registered under that name) that serves the model.
	Function string
	// Folds of the cross-validation (default 5) and Grid its C x gamma grid (default svr.DefaultGrid());
	// split k's folds are drawn with seed k+1.
	Folds int
	Grid  *svr.Grid
	// Workers extract features in parallel (default GOMAXPROCS).
	Workers int
	// Log receives one line per stage and split (nil: none); Progress the feature extraction's count.
	Log      io.Writer
	Progress func(done, total int)
}

// Record is train.json. JSON fields: feature and feature_version (the extractor), dataset, split
// (0-based index), splits_sha256 (of the splits file's train and test lists), train_images (used),
// skipped_images (train images without features, by name: why), c and gamma (chosen), cv_mse (of the
// chosen pair), folds, grid (log2 C and log2 gamma values tried).
type Record struct {
	Feature        string            `json:"feature"`
	FeatureVersion string            `json:"feature_version"`
	Dataset        string            `json:"dataset"`
	Split          int               `json:"split"`
	SplitsSHA256   string            `json:"splits_sha256"`
	TrainImages    int               `json:"train_images"`
	SkippedImages  map[string]string `json:"skipped_images,omitempty"`
	C              float64           `json:"c"`
	Gamma          float64           `json:"gamma"`
	CVMSE          float64           `json:"cv_mse"`
	Folds          int               `json:"folds"`
	Grid           svr.Grid          `json:"grid"`
}

// Report says what Train did per split.
type Report struct {
	Trained, Kept []int
	Features      *featcache.Result
	Records       []Record
}

// Train extracts features (cached) and trains one SVR per split, writing each version folder whole
// or not at all, then the model's config.pbtxt.
func Train(ctx context.Context, opt Options) (*Report, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	grid := svr.DefaultGrid()
	if opt.Grid != nil {
		grid = *opt.Grid
	}
	folds := opt.Folds
	if folds == 0 {
		folds = 5
	}
	logf(opt.Log, "%s features of %d %s images (cache %s)", opt.Extractor.Name, len(opt.Dataset.Items), opt.Dataset.Name,
		featcache.Path(opt.FeatureCache, opt.Dataset.Name, opt.Extractor))
	feats, err := featcache.Extract(ctx, opt.Extractor, opt.Dataset.Name, opt.Dataset.Items, opt.FeatureCache,
		featcache.Options{Workers: opt.Workers, Progress: opt.Progress})
	if err != nil {
		return nil, err
	}
	for _, w := range feats.Warnings {
		logf(opt.Log, "warning: feature cache: %s", w)
	}
	if len(feats.Failed) > 0 {
		logf(opt.Log, "%d images have no features (left out of training): %s", len(feats.Failed), firstFailure(feats.Failed))
	}
	mos := map[string]float64{}
	for _, it := range opt.Dataset.Items {
		mos[it.Image] = it.MOS
	}
	rep := &Report{Features: feats}
	modelDir := filepath.Join(opt.Repo, opt.Name)
	for k, sp := range opt.Splits.Splits {
		want := Record{Feature: opt.Extractor.Name, FeatureVersion: opt.Extractor.Version, Dataset: opt.Dataset.Name,
			Split: k, SplitsSHA256: splitDigest(sp), Folds: folds, Grid: grid}
		dir := filepath.Join(modelDir, strconv.Itoa(k+1))
		if old, ok := keptRecord(dir, want); ok {
			logf(opt.Log, "split %d: kept %s (C %g, gamma %g)", k, dir, old.C, old.Gamma)
			rep.Kept, rep.Records = append(rep.Kept, k), append(rep.Records, old)
			continue
		}
		rec, err := trainSplit(ctx, opt, sp, feats, mos, want, dir)
		if err != nil {
			return rep, fmt.Errorf("svrtrain: %s split %d: %w", opt.Name, k, err)
		}
		logf(opt.Log, "split %d: %d train images, C %g, gamma %g, CV MSE %.4g -> %s", k, rec.TrainImages, rec.C, rec.Gamma, rec.CVMSE, dir)
		rep.Trained, rep.Records = append(rep.Trained, k), append(rep.Records, *rec)
	}
	cfg := filepath.Join(modelDir, "config.pbtxt")
	if err := atomicfile.WriteFile(cfg, []byte(Config(opt))); err != nil {
		return rep, fmt.Errorf("svrtrain: %w", err)
	}
	logf(opt.Log, "wrote %s (%d versions)", cfg, len(opt.Splits.Splits))
	return rep, nil
}

func (o Options) validate() error {
	switch {
	case o.Extractor.Features == nil || o.Extractor.Len <= 0:
		return errors.New("svrtrain: Options.Extractor is not set")
	case o.Dataset == nil || len(o.Dataset.Items) == 0:
		return errors.New("svrtrain: Options.Dataset has no images")
	case o.Splits == nil || len(o.Splits.Splits) == 0:
		return errors.New("svrtrain: Options.Splits has no splits")
	case o.Repo == "" || o.Name == "":
		return errors.New("svrtrain: Options.Repo and Options.Name are required")
	case o.Function == "" || o.Preprocess == "":
		return errors.New("svrtrain: Options.Function and Options.Preprocess are required")
	case o.Folds < 0 || o.Folds == 1:
		return fmt.Errorf("svrtrain: Options.Folds %d: want 0 (default 5) or at least 2", o.Folds)
	}
	if o.Splits.Dataset != o.Dataset.Name {
		return fmt.Errorf("svrtrain: splits file %s is for %s, not %s", o.Splits.Path, o.Splits.Dataset, o.Dataset.Name)
	}
	return o.Splits.Check(o.Dataset)
}

// trainSplit fits the scaler, searches the grid and trains on split sp's training images, then
// writes the version folder through a temporary sibling renamed into place.
func trainSplit(ctx context.Context, opt Options, sp splits.Split, feats *featcache.Result, mos map[string]float64,
	rec Record, dir string) (*Record, error) {
	var x [][]float64
	var y []float64
	for _, img := range sp.Train {
		f, ok := feats.Features[img]
		if !ok {
			if rec.SkippedImages == nil {
				rec.SkippedImages = map[string]string{}
			}
			rec.SkippedImages[img] = feats.Failed[img]
			continue
		}
		x, y = append(x, f), append(y, mos[img])
	}
	if len(x) < max(rec.Folds, 2) {
		return nil, fmt.Errorf("%d training images with features, too few for %d-fold cross-validation", len(x), rec.Folds)
	}
	scaler, err := svr.FitScaler(x)
	if err != nil {
		return nil, err
	}
	xs := make([][]float64, len(x))
	for i, v := range x {
		xs[i] = scaler.Apply(v)
	}
	best, err := svr.GridSearch(ctx, xs, y, rec.Folds, rec.Grid, svr.DefaultParams(), rec.Seed())
	if err != nil {
		return nil, err
	}
	model, err := svr.Train(ctx, xs, y, best.Params)
	if err != nil {
		return nil, err
	}
	rec.TrainImages, rec.C, rec.Gamma, rec.CVMSE = len(x), best.Params.C, best.Params.Gamma, best.MSE
	var mb, rb bytes.Buffer
	if err := model.Write(&mb); err != nil {
		return nil, err
	}
	if err := scaler.WriteRange(&rb); err != nil {
		return nil, err
	}
	tb, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, err
	}
	return &rec, writeVersion(dir, map[string][]byte{ModelFile: mb.Bytes(), RangeFile: rb.Bytes(), TrainFile: append(tb, '\n')})
}

// Seed is the fold-assignment seed of one split: the split index + 1 (seed 1 is svm-train's own), so
// each split's search is reproducible on its own.
func (r Record) Seed() uint32 { return uint32(r.Split) + 1 }

// writeVersion writes files into a temporary folder beside dir and renames it over dir, so a server
// never sees a version folder with a model but no range file.
func writeVersion(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".version-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// keptRecord returns dir's train.json when it describes the same training (features, dataset, split
// lists, folds and grid) and the model and range files are there.
func keptRecord(dir string, want Record) (Record, bool) {
	var old Record
	b, err := os.ReadFile(filepath.Join(dir, TrainFile))
	if err != nil || json.Unmarshal(b, &old) != nil {
		return old, false
	}
	for _, f := range []string{ModelFile, RangeFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return old, false
		}
	}
	same := old.Feature == want.Feature && old.FeatureVersion == want.FeatureVersion && old.Dataset == want.Dataset &&
		old.Split == want.Split && old.SplitsSHA256 == want.SplitsSHA256 && old.Folds == want.Folds &&
		gridEqual(old.Grid, want.Grid)
	return old, same
}

func gridEqual(a, b svr.Grid) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// splitDigest ties a version to the exact train and test lists it was trained for.
func splitDigest(sp splits.Split) string {
	h := sha256.Sum256([]byte("train " + splits.ImagesDigest(sp.Train) + "\ntest " + splits.ImagesDigest(sp.Test) + "\n"))
	return hex.EncodeToString(h[:])
}

func firstFailure(failed map[string]string) string {
	names := make([]string, 0, len(failed))
	for n := range failed {
		names = append(names, n)
	}
	sort.Strings(names)
	return failed[names[0]]
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// Config is the model's config.pbtxt: the native backend runs Options.Function, one version per
// split, each image at its own size.
func Config(o Options) string {
	return fmt.Sprintf(`# Written by agiqa train svr: %s features + epsilon-SVR (RBF), one version per split of %s.
name: "%s"
backend: "native"
max_batch_size: 8
input [
  { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, -1, -1 ] }
]
output [
  { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] }
]
version_policy: { all { } }
instance_group [ { kind: KIND_CPU count: 2 } ]
parameters { key: "native.function" value: { string_value: "%s" } }
parameters { key: "agiqa.catalog" value: { string_value: "%s" } }
parameters { key: "agiqa.preprocess" value: { string_value: "%s" } }
parameters { key: "agiqa.per_split" value: { string_value: "true" } }
parameters { key: "agiqa.dataset" value: { string_value: "%s" } }
parameters { key: "agiqa.higher_is_better" value: { string_value: "true" } }
`, o.Extractor.Name, o.Dataset.Name, o.Name, o.Function, o.Catalog, o.Preprocess, o.Dataset.Name)
}
