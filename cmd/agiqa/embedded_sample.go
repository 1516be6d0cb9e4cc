package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/agiqa-bench/agiqa/baselines"
	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/svrtrain"
	"github.com/agiqa-bench/agiqa/modelrepo/fetch"
)

// sampleSVRModel is the repository name of the SVR on extractor ex's features trained on the sample.
func sampleSVRModel(ex extractor.Extractor) string { return ex.Name + "_sample" }

// trainSampleModels makes the embedded default measure Table 1's SVR rows: every registered extractor
// with a paper-table row gets an SVR trained per split on the sample's own splits, in
// <cache root>/sample-models (features in <cache root>/features). A split already trained for the same
// splits is kept, so only the first run trains. A model that cannot be trained is reported and left
// out; the others still run. only, when not empty, limits training to the models it names.
func trainSampleModels(ctx context.Context, io cmdIO, cacheRoot string, datasets []evalDataset, only []string) (string, error) {
	var sample *evalDataset
	for i := range datasets {
		if datasets[i].ds.Name == dataset.Sample {
			sample = &datasets[i]
		}
	}
	if sample == nil {
		return "", nil
	}
	dir := filepath.Join(cacheRoot, "sample-models")
	for _, name := range extractor.Names() {
		ex, _ := extractor.Lookup(name)
		model := sampleSVRModel(ex)
		if ex.Catalog == "" || (len(only) > 0 && !slices.Contains(only, model)) {
			continue
		}
		_, err := svrtrain.Train(ctx, svrtrain.Options{
			Extractor: ex.ForCache(), Dataset: sample.ds, Splits: sample.splits,
			FeatureCache: filepath.Join(cacheRoot, "features"), Repo: dir, Name: model, Catalog: ex.Catalog,
			Preprocess: preprocess.MethodNative.String(), Function: baselines.SVRFunction,
			Progress: tenthsProgress(io, model+": "+ex.Name+" features"),
		})
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err != nil {
			fmt.Fprintf(io.stderr, "%s: not trained, left out: %v\n", model, err)
		} else if err := writeSplitEnsembles(dir, model); err != nil { // input_mode.go: for --input encoded
			fmt.Fprintf(io.stderr, "%s: no ensembles for --input encoded: %v\n", model, err)
		}
	}
	return dir, nil
}

// publishedParams are the parameter files the built-in NIQE, BRISQUE and CEIQ models load.
var publishedParams = []string{fetch.NIQEParams, fetch.BRISQUEModel, fetch.BRISQUERange, fetch.CEIQModel}

// EnvOffline, set to "1", keeps the embedded default from downloading anything (tests set it).
const EnvOffline = "AGIQA_OFFLINE"

// fetchPublishedParams downloads the published parameter files the built-in models need and the cache
// lacks, each within a minute; one that cannot be had (an offline machine) is reported, and its model's
// row then says why it was not measured.
func fetchPublishedParams(ctx context.Context, io cmdIO) {
	if os.Getenv(EnvOffline) == "1" {
		return
	}
	dir := fetch.DefaultCacheDir()
	f := &fetch.Fetcher{Dir: dir, Client: &http.Client{Timeout: time.Minute}}
	for _, name := range publishedParams {
		if _, err := fetch.Path(dir, name); err == nil {
			continue
		}
		a, err := fetch.Lookup(name)
		if err != nil {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err = f.Fetch(actx, a)
		cancel()
		if err != nil {
			fmt.Fprintf(io.stderr, "note: %s could not be downloaded (%v); its model is left out\n", name, err)
		} else {
			fmt.Fprintf(io.stderr, "fetched %s into %s\n", name, dir)
		}
	}
}
