package svrtrain

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/svr"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/featcache"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// meanAndSpread is a two-feature stand-in extractor: mean grey and its range.
var meanAndSpread = featcache.Extractor{Name: "toy", Version: "1", Len: 2, Features: func(img preprocess.RGB) ([]float64, error) {
	lo, hi, s := 255.0, 0.0, 0.0
	for _, v := range img.Pix {
		f := float64(v)
		s += f
		lo, hi = min(lo, f), max(hi, f)
	}
	return []float64{s / float64(len(img.Pix)), hi - lo}, nil
}}

// toyDataset writes n images whose grey level sets the MOS (plus a deterministic wobble), in n/2 groups.
func toyDataset(t *testing.T, n int) *dataset.Dataset {
	dir := t.TempDir()
	ds := &dataset.Dataset{Name: "csv"}
	for i := 0; i < n; i++ {
		img := image.NewGray(image.Rect(0, 0, 8+i%3, 8))
		for p := range img.Pix {
			img.Pix[p] = uint8(5*i + (p%4)*(i%5))
		}
		name := fmt.Sprintf("img%02d.png", i)
		var b bytes.Buffer
		png.Encode(&b, img)
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		ds.Items = append(ds.Items, dataset.Item{Image: name, Path: filepath.Join(dir, name), MOS: float64(i)/4 + float64(i%3)/10,
			Group: strconv.Itoa(i / 2)})
	}
	return ds
}

func options(t *testing.T, ds *dataset.Dataset, sp *splits.File, repo string) Options {
	grid := svr.Grid{Log2C: [3]float64{-1, 3, 2}, Log2G: [3]float64{-3, 1, 2}}
	return Options{Extractor: meanAndSpread, Dataset: ds, Splits: sp, FeatureCache: filepath.Join(repo, ".features"),
		Repo: repo, Name: "toy_csv", Catalog: "toy", Preprocess: "native", Function: "svr_toy", Folds: 3, Grid: &grid}
}

// Each split's version folder holds a model Debian's svm-predict reads and scores as our Predict does,
// a range fitted on that split's training features only, and a record of the choice; a rerun keeps it.
func TestTrainWritesServableVersionsAndResumes(t *testing.T) {
	ds := toyDataset(t, 30)
	sp, err := splits.Make(ds, splits.Paper, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	var log bytes.Buffer
	opt := options(t, ds, sp, repo)
	opt.Log = &log
	rep, err := Train(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Trained) != 2 || len(rep.Kept) != 0 {
		t.Fatalf("trained %v kept %v\n%s", rep.Trained, rep.Kept, log.String())
	}
	cfg, err := os.ReadFile(filepath.Join(repo, "toy_csv", "config.pbtxt"))
	if err != nil || !strings.Contains(string(cfg), `dims: [ 3, -1, -1 ]`) || !strings.Contains(string(cfg), `"svr_toy"`) {
		t.Fatalf("config: %v\n%s", err, cfg)
	}
	for k, s := range sp.Splits {
		dir := filepath.Join(repo, "toy_csv", strconv.Itoa(k+1))
		checkVersion(t, dir, s, rep.Features.Features)
	}
	rep2, err := Train(context.Background(), opt)
	if err != nil || len(rep2.Kept) != 2 || len(rep2.Trained) != 0 || rep2.Features.Cached != 30 {
		t.Errorf("rerun: %v, kept %v trained %v, %d cached", err, rep2.Kept, rep2.Trained, rep2.Features.Cached)
	}
	// Other splits under the same model retrain every version.
	sp2, _ := splits.Make(ds, splits.Paper, 2, 8)
	opt.Splits = sp2
	if rep3, err := Train(context.Background(), opt); err != nil || len(rep3.Trained) != 2 {
		t.Errorf("new splits: %v, trained %v", err, rep3.Trained)
	}
}

func checkVersion(t *testing.T, dir string, s splits.Split, feats map[string][]float64) {
	t.Helper()
	mf, err := os.Open(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	model, err := svr.ReadModel(mf)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := os.Open(filepath.Join(dir, RangeFile))
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	scaler, err := svr.ReadRange(rf)
	if err != nil {
		t.Fatal(err)
	}
	// The range is the training features' own: every scaled training value lies in [-1, 1], exactly
	// reaching both ends.
	lo, hi := 1.0, -1.0
	for _, img := range s.Train {
		for _, v := range scaler.Apply(feats[img]) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if lo != -1 || hi != 1 {
		t.Errorf("%s: scaled training features span [%g, %g], want [-1, 1]", dir, lo, hi)
	}
	// svm-predict on the scaled test features gives our predictions.
	svmPredict, err := exec.LookPath("svm-predict")
	if err != nil {
		testenv.SkipOrFail(t, "AGIQA_REQUIRE_LIBSVM", "no svm-predict (Debian libsvm-tools): %v", err)
	}
	var in bytes.Buffer
	var ours []float64
	for _, img := range s.Test {
		x := scaler.Apply(feats[img])
		ours = append(ours, model.Predict(x))
		in.WriteString("0")
		for j, v := range x {
			fmt.Fprintf(&in, " %d:%.17g", j+1, v)
		}
		in.WriteString("\n")
	}
	tmp := t.TempDir()
	os.WriteFile(filepath.Join(tmp, "test.txt"), in.Bytes(), 0o644)
	out := filepath.Join(tmp, "pred.txt")
	if b, err := exec.Command(svmPredict, filepath.Join(tmp, "test.txt"), filepath.Join(dir, ModelFile), out).CombinedOutput(); err != nil {
		t.Fatalf("svm-predict: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Fields(string(b))
	if len(lines) != len(ours) {
		t.Fatalf("svm-predict gave %d predictions for %d images", len(lines), len(ours))
	}
	for i, l := range lines {
		v, _ := strconv.ParseFloat(l, 64)
		if d := v - ours[i]; d > 1e-5 || d < -1e-5 {
			t.Errorf("%s test image %d: svm-predict %g, ours %g", dir, i, v, ours[i])
		}
	}
}

func TestTrainRefusesBadOptions(t *testing.T) {
	ds := toyDataset(t, 6)
	sp, _ := splits.Make(ds, splits.Paper, 1, 1)
	for name, mutate := range map[string]func(*Options){
		"Options.Extractor": func(o *Options) { o.Extractor = featcache.Extractor{} },
		"Options.Repo":      func(o *Options) { o.Repo = "" },
		"Options.Folds":     func(o *Options) { o.Folds = 1 },
		"is for":            func(o *Options) { o.Splits = &splits.File{Dataset: "agiqa-3k", Splits: sp.Splits} },
	} {
		o := options(t, ds, sp, t.TempDir())
		mutate(&o)
		if _, err := Train(context.Background(), o); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A feature-cache line that cannot be read is reported on the log (its image is extracted again),
// not dropped in silence.
func TestTrainLogsBadFeatureCacheLines(t *testing.T) {
	ds := toyDataset(t, 12)
	sp, err := splits.Make(ds, splits.Paper, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	opt := options(t, ds, sp, repo)
	if _, err := Train(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	path := featcache.Path(opt.FeatureCache, ds.Name, opt.Extractor)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{not json}\n")
	f.Close()
	var log bytes.Buffer
	opt.Log = &log
	if _, err := Train(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "warning: feature cache:") {
		t.Errorf("log does not report the bad line:\n%s", log.String())
	}
}
