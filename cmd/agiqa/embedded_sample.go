package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/agiqa-bench/agiqa/baselines"
	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/svrtrain"
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
		}
	}
	return dir, nil
}
