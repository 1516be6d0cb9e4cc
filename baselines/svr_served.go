package baselines

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/baselines/svr"
	"github.com/agiqa-bench/agiqa/bench/svrtrain"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// SVRFunction is the native function of every model `agiqa train svr` writes: it reads the version's
// train.json to learn which extractor the SVR was trained on, so one loader serves every feature.
const SVRFunction = "svr"

func init() { native.RegisterLoader(SVRFunction, perImageLoader(SVRFunction, loadSVR)) }

// loadSVR builds one version's scorer: features of the image at its own size, scaled with the
// training range, then the SVR. A version trained on another extractor version or feature length
// is refused, naming both, rather than scored with features it never saw.
func loadSVR(_ context.Context, files fs.FS) (func(img []uint8, h, w int) (float64, error), error) {
	var rec svrtrain.Record
	b, err := fs.ReadFile(files, svrtrain.TrainFile)
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", svrtrain.TrainFile, err)
	}
	ex, ok := extractor.Lookup(rec.Feature)
	if !ok {
		return nil, fmt.Errorf("%s: feature extractor %q is not in this build (have %s)", svrtrain.TrainFile, rec.Feature, strings.Join(extractor.Names(), ", "))
	}
	if ex.Version != rec.FeatureVersion {
		return nil, fmt.Errorf("%s: trained on %s features version %s, this build extracts version %s: retrain with agiqa train svr",
			svrtrain.TrainFile, rec.Feature, rec.FeatureVersion, ex.Version)
	}
	model, err := readWith(files, svrtrain.ModelFile, svr.ReadModel)
	if err != nil {
		return nil, err
	}
	scaler, err := readWith(files, svrtrain.RangeFile, svr.ReadRange)
	if err != nil {
		return nil, err
	}
	if len(scaler.Min) != ex.Len {
		return nil, fmt.Errorf("%s holds %d features, the %s extractor gives %d", svrtrain.RangeFile, len(scaler.Min), ex.Name, ex.Len)
	}
	return func(img []uint8, h, w int) (float64, error) {
		f, err := ex.Features(&matlab.RGB8{H: h, W: w, Pix: img})
		if err != nil {
			return 0, err
		}
		return model.Predict(scaler.Apply(f)), nil
	}, nil
}

func readWith[T any](files fs.FS, name string, read func(r io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := files.Open(name)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	v, err := read(f)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}
