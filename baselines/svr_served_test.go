package baselines

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/baselines/svr"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/bench/svrtrain"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// channelMeans is a stand-in extractor for the served-SVR path: the mean of each channel.
var channelMeans = extractor.Extractor{Name: "test_channel_means", Version: "1", Len: 3, Catalog: "test",
	Features: func(im *matlab.RGB8) ([]float64, error) {
		n := im.H * im.W
		out := make([]float64, 3)
		for c := 0; c < 3; c++ {
			for _, v := range im.Pix[c*n : (c+1)*n] {
				out[c] += float64(v)
			}
			out[c] /= float64(n)
		}
		return out, nil
	}}

func init() { extractor.Register(channelMeans) }

// trainedRepo trains the stand-in SVR on 24 generated images (2 splits) and returns the repository,
// the images and their decoded pixels.
func trainedRepo(t *testing.T) (string, []dataset.Item) {
	t.Helper()
	dir := t.TempDir()
	ds := &dataset.Dataset{Name: "csv"}
	for i := 0; i < 24; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 6+i%4, 5))
		for p := range img.Pix {
			img.Pix[p] = uint8((7*i + 13*(p%4) + p/4) % 256)
			if p%4 == 3 {
				img.Pix[p] = 255
			}
		}
		name := fmt.Sprintf("i%02d.png", i)
		f, _ := os.Create(filepath.Join(dir, name))
		png.Encode(f, img)
		f.Close()
		ds.Items = append(ds.Items, dataset.Item{Image: name, Path: filepath.Join(dir, name), MOS: float64(i%7) + float64(i)/10, Group: strconv.Itoa(i / 3)})
	}
	sp, err := splits.Make(ds, splits.Paper, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	grid := svr.Grid{Log2C: [3]float64{-1, 3, 2}, Log2G: [3]float64{-3, -1, 2}}
	_, err = svrtrain.Train(context.Background(), svrtrain.Options{Extractor: channelMeans.ForCache(), Dataset: ds, Splits: sp,
		FeatureCache: filepath.Join(repo, ".features"), Repo: repo, Name: "m", Catalog: "test", Preprocess: "native",
		Function: SVRFunction, Folds: 3, Grid: &grid})
	if err != nil {
		t.Fatal(err)
	}
	return repo, ds.Items
}

// The served model computes features at the image's own size, scales them with the version's range
// and predicts with its SVR: the same numbers as the files read here by hand.
func TestServedSVRScoresAsItsFiles(t *testing.T) {
	repo, items := trainedRepo(t)
	for v := 1; v <= 2; v++ {
		vdir := filepath.Join(repo, "m", strconv.Itoa(v))
		f, err := native.Load(context.Background(), SVRFunction, os.DirFS(vdir))
		if err != nil {
			t.Fatal(err)
		}
		mf, _ := os.Open(filepath.Join(vdir, svrtrain.ModelFile))
		model, err := svr.ReadModel(mf)
		mf.Close()
		if err != nil {
			t.Fatal(err)
		}
		rf, _ := os.Open(filepath.Join(vdir, svrtrain.RangeFile))
		scaler, err := svr.ReadRange(rf)
		rf.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items[:6] {
			img, err := preprocess.DecodeFile(it.Path)
			if err != nil {
				t.Fatal(err)
			}
			chw := extractor.FromPacked(img)
			in, _ := tensor.NewUint8("IMAGE", []int64{1, 3, int64(chw.H), int64(chw.W)}, chw.Pix)
			out, err := f(context.Background(), []*tensor.Tensor{in})
			if err != nil {
				t.Fatal(err)
			}
			feats, _ := channelMeans.Features(chw)
			want := float32(model.Predict(scaler.Apply(feats)))
			if got, _ := out[0].Float32s(); got[0] != want {
				t.Errorf("version %d %s: served %v, files give %v", v, it.Image, got[0], want)
			}
		}
	}
}

// A version whose files do not fit the extractor is refused, naming what differs.
func TestServedSVRRefusesMismatchedVersion(t *testing.T) {
	repo, _ := trainedRepo(t)
	vdir := filepath.Join(repo, "m", "1")
	edit := func(name, from, to string) func() {
		p := filepath.Join(vdir, name)
		old, _ := os.ReadFile(p)
		text := strings.Replace(string(old), from, to, 1)
		if from == "" { // drop the last feature's line
			text = text[:strings.LastIndex(strings.TrimSuffix(text, "\n"), "\n")+1]
		}
		os.WriteFile(p, []byte(text), 0o644)
		return func() { os.WriteFile(p, old, 0o644) }
	}
	for _, tc := range []struct {
		file, from, to, want string
	}{
		{svrtrain.TrainFile, `"feature_version": "1"`, `"feature_version": "0"`, "version 0"},
		{svrtrain.TrainFile, `"feature": "test_channel_means"`, `"feature": "nope"`, `"nope" is not in this build`},
		{svrtrain.RangeFile, "", "", "holds 2 features, the test_channel_means extractor gives 3"},
	} {
		undo := edit(tc.file, tc.from, tc.to)
		_, err := native.Load(context.Background(), SVRFunction, os.DirFS(vdir))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q -> %q: %v, want it to say %q", tc.file, tc.from, tc.to, err, tc.want)
		}
		undo()
	}
}
