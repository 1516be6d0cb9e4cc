package runner

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/agiqa-bench/agiqa/bench/clip"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

func init() {
	// Twice runner_test_mean: a retrained version of the same model.
	native.Register("runner_test_mean2", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		img, _ := native.TensorByName(in, "IMAGE")
		b := int(img.Shape[0])
		per := len(img.Raw) / b
		q := make([]float32, b)
		for i := 0; i < b; i++ {
			var s float64
			for _, v := range img.Raw[i*per : (i+1)*per] {
				s += float64(v)
			}
			q[i] = float32(2 * s / float64(per))
		}
		qt, _ := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, q)
		at, _ := tensor.NewFP32("ALIGNMENT", []int64{int64(b), 1}, q)
		return []*tensor.Tensor{qt, at}, nil
	})
	// QUALITY is the sum of the token ids: it changes with the prompt.
	native.Register("runner_test_tokens", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		tok, _ := native.TensorByName(in, "TOKENS")
		ids, _ := tok.Int64s()
		b := int(tok.Shape[0])
		q := make([]float32, b)
		for i := 0; i < b; i++ {
			for _, v := range ids[i*TokenLength : (i+1)*TokenLength] {
				q[i] += float32(v)
			}
		}
		qt, _ := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, q)
		return []*tensor.Tensor{qt}, nil
	})
	// runner_test_mean, but NaN for images of grey level flakyPoison and +Inf
	// for grey level 40.
	native.Register("runner_test_nan", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		img, _ := native.TensorByName(in, "IMAGE")
		b := int(img.Shape[0])
		per := len(img.Raw) / b
		q := make([]float32, b)
		for i := 0; i < b; i++ {
			switch img.Raw[i*per] {
			case flakyPoison:
				q[i] = float32(math.NaN())
			case 40:
				q[i] = float32(math.Inf(1))
			default:
				q[i] = float32(img.Raw[i*per])
			}
		}
		qt, _ := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, q)
		at, _ := tensor.NewFP32("ALIGNMENT", []int64{int64(b), 1}, q)
		return []*tensor.Tensor{qt, at}, nil
	})
}

// evalOnce scores ds with model name on a fresh server holding fsys, with the
// prediction cache in dir, and returns the single run's report.
func evalOnce(t *testing.T, fsys fstest.MapFS, name string, ds *dataset.Dataset, dir string, tok *clip.Tokenizer) (*ModelResult, *Report) {
	t.Helper()
	c, _ := serveFS(t, fsys)
	ctx := context.Background()
	m, err := Describe(ctx, c, name)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := splits.Make(ds, splits.Paper, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Evaluate(ctx, c, m, ds, sp, EvalOptions{CacheDir: dir, Run: Options{Batch: 4, Concurrency: 2, Tokenizer: Tokenizers{CLIP: tok}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 1 {
		t.Fatalf("runs %+v", res.Runs)
	}
	return res, res.Runs[0]
}

// A zero-shot model is asked for its latest version (""). When a newer
// version is deployed, the predictions of the old one must not be reused.
func TestCacheNotReusedForNewLatestVersion(t *testing.T) {
	items := makeItems(t, 6)
	ds := &dataset.Dataset{Name: "toy", Items: items}
	dir := t.TempDir()
	cfg := []byte(fmt.Sprintf(meanConfig, "m", "false"))
	v1 := fstest.MapFS{
		"m/config.pbtxt":   {Data: cfg},
		"m/1/model.native": {Data: []byte("runner_test_mean\n")},
	}
	if _, rep := evalOnce(t, v1, "m", ds, dir, nil); rep.Inferred != 6 {
		t.Fatalf("first run %+v", rep)
	}
	v2 := fstest.MapFS{
		"m/config.pbtxt":   {Data: cfg},
		"m/1/model.native": {Data: []byte("runner_test_mean\n")},
		"m/2/model.native": {Data: []byte("runner_test_mean2\n")},
	}
	res, rep := evalOnce(t, v2, "m", ds, dir, nil)
	if rep.Cached != 0 || rep.Inferred != 6 {
		t.Errorf("after version 2 was deployed: cached %d, inferred %d; want 0, 6 (version 1's predictions reused)", rep.Cached, rep.Inferred)
	}
	for i, p := range res.Pred["quality"] {
		if want := 2 * res.MOS["quality"][i] * 10; math.Abs(p-want) > 1e-3 {
			t.Errorf("prediction %d = %v, want version 2's %v", i, p, want)
		}
	}
	// Back on version 1 only: its predictions are still there.
	if _, rep := evalOnce(t, v1, "m", ds, dir, nil); rep.Cached != 6 {
		t.Errorf("back on version 1: cached %d, want 6", rep.Cached)
	}
}

// The same model name and version served with another preprocessing (input
// size, resize method) gives other predictions: the cache must not answer.
func TestCacheNotReusedAfterPreprocessingChange(t *testing.T) {
	items := makeItems(t, 6)
	ds := &dataset.Dataset{Name: "toy", Items: items}
	dir := t.TempDir()
	base := fmt.Sprintf(meanConfig, "m", "false")
	for _, tc := range []struct {
		what, cfg string
		cached    int
	}{
		{"first run", base, 0},
		{"same config", base, 6},
		{"input 32x32", strings.ReplaceAll(base, "dims: [ 3, 16, 16 ]", "dims: [ 3, 32, 32 ]"), 0},
		{"resize_center_crop", base + `parameters { key: "agiqa.preprocess" value: { string_value: "resize_center_crop" } }` + "\n", 0},
		{"QUALITY only", strings.Replace(base, ",\n  { name: \"ALIGNMENT\" data_type: TYPE_FP32 dims: [ 1 ] }", "", 1), 0},
	} {
		fsys := fstest.MapFS{
			"m/config.pbtxt":   {Data: []byte(tc.cfg)},
			"m/1/model.native": {Data: []byte("runner_test_mean\n")},
		}
		_, rep := evalOnce(t, fsys, "m", ds, dir, nil)
		if rep.Cached != tc.cached {
			t.Errorf("%s: cached %d, want %d", tc.what, rep.Cached, tc.cached)
		}
	}
}

// Another dataset under the same name (a generic CSV dataset, a re-download)
// can hold other images under the same names: they must be inferred again.
func TestCacheNotReusedForChangedImages(t *testing.T) {
	items := makeItems(t, 6)
	ds := &dataset.Dataset{Name: "toy", Items: items}
	dir := t.TempDir()
	fsys := fstest.MapFS{
		"m/config.pbtxt":   {Data: []byte(fmt.Sprintf(meanConfig, "m", "false"))},
		"m/1/model.native": {Data: []byte("runner_test_mean\n")},
	}
	evalOnce(t, fsys, "m", ds, dir, nil)

	// Same names, other pixels: image i now has grey level 10*(i+10).
	other := t.TempDir()
	items2 := make([]dataset.Item, len(items))
	for i, it := range items {
		img := image.NewGray(image.Rect(0, 0, 20, 20))
		for p := range img.Pix {
			img.Pix[p] = uint8(10 * (i + 10))
		}
		path := filepath.Join(other, it.Image)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
		it.Path = path
		items2[i] = it
	}
	res, rep := evalOnce(t, fsys, "m", &dataset.Dataset{Name: "toy", Items: items2}, dir, nil)
	if rep.Cached != 0 {
		t.Errorf("other images under the same names: %d predictions taken from the cache", rep.Cached)
	}
	for i, p := range res.Pred["quality"] {
		if want := 10 * (res.MOS["quality"][i] + 10); math.Abs(p-want) > 1e-3 {
			t.Errorf("prediction %d = %v, want %v (the new image's)", i, p, want)
		}
	}
}

// A prompt-aware model's prediction depends on the prompt: a label file with
// another prompt for an image must not get the old prediction.
func TestCacheNotReusedForChangedPrompt(t *testing.T) {
	tok, err := clip.Load(testenv.Shared(t, "data", "clip", "bpe_simple_vocab_16e6.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := `
name: "tok"
backend: "native"
max_batch_size: 4
input [
  { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 16, 16 ] },
  { name: "TOKENS" data_type: TYPE_INT64 dims: [ 77 ] }
]
output [ { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] } ]
`
	fsys := fstest.MapFS{
		"tok/config.pbtxt":   {Data: []byte(cfg)},
		"tok/1/model.native": {Data: []byte("runner_test_tokens\n")},
	}
	items := makeItems(t, 6)
	dir := t.TempDir()
	if _, rep := evalOnce(t, fsys, "tok", &dataset.Dataset{Name: "toy", Items: items}, dir, tok); rep.Inferred != 6 {
		t.Fatalf("first run %+v", rep)
	}
	items[2].Prompt = "a photo of a cat"
	_, rep := evalOnce(t, fsys, "tok", &dataset.Dataset{Name: "toy", Items: items}, dir, tok)
	if rep.Cached != 5 || rep.Inferred != 1 {
		t.Errorf("one prompt changed: cached %d, inferred %d; want 5, 1", rep.Cached, rep.Inferred)
	}
	// A prompt prefix is part of what the model sees.
	fsys["tok/config.pbtxt"] = &fstest.MapFile{Data: []byte(cfg + `parameters { key: "agiqa.prompt_prefix" value: { string_value: "A photo depicts " } }` + "\n")}
	if _, rep := evalOnce(t, fsys, "tok", &dataset.Dataset{Name: "toy", Items: items}, dir, tok); rep.Cached != 0 {
		t.Errorf("prompt prefix added: cached %d, want 0", rep.Cached)
	}
}

// A model answering NaN or Inf for one image must not stop the run (JSON has
// no NaN, so such a line cannot be cached): that image is a failed item named
// with its value, the others are scored.
func TestNonFiniteOutputIsAnItemFailure(t *testing.T) {
	cfg := strings.ReplaceAll(fmt.Sprintf(meanConfig, "nan", "false"), "runner_test_mean", "runner_test_nan")
	fsys := fstest.MapFS{
		"nan/config.pbtxt":   {Data: []byte(cfg)},
		"nan/1/model.native": {Data: []byte("runner_test_nan\n")},
	}
	c, _ := serveFS(t, fsys)
	ctx := context.Background()
	m, err := Describe(ctx, c, "nan")
	if err != nil {
		t.Fatal(err)
	}
	items := makeItems(t, 8) // img03 is grey 30 (NaN), img04 grey 40 (+Inf)
	dir := t.TempDir()
	cf, err := OpenCache(dir, "toy", m, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, c, m, "", items, cf, Options{Batch: 4, Concurrency: 1, Retries: -1})
	if err != nil {
		t.Fatalf("run stopped: %v", err)
	}
	if rep.Inferred != 6 || rep.Failed != 2 {
		t.Errorf("inferred %d, failed %d; want 6, 2", rep.Inferred, rep.Failed)
	}
	for _, e := range rep.Errors {
		if (e.Image != "img03.png" || !strings.Contains(e.Error, "NaN")) && (e.Image != "img04.png" || !strings.Contains(e.Error, "Inf")) {
			t.Errorf("error %+v does not name the image and its value", e)
		}
	}
	if err := cf.Close(); err != nil {
		t.Fatal(err)
	}
	cf, err = OpenCache(dir, "toy", m, "")
	if err != nil {
		t.Fatalf("cache after non-finite outputs: %v", err)
	}
	defer cf.Close()
	if p, ok := cf.Lookup("img02.png"); !ok || p.Quality == nil || *p.Quality != 20 {
		t.Errorf("img02 = %+v, %v", p, ok)
	}
	if p, ok := cf.Lookup("img03.png"); !ok || p.Error == "" {
		t.Errorf("img03 = %+v, %v; want recorded with its error", p, ok)
	}
}

// A dataset where only some images have an alignment MOS (a generic CSV with
// empty mos_align cells): alignment is scored on those images, not turned
// into NaN by the others.
func TestAlignmentScoredOnImagesThatHaveIt(t *testing.T) {
	items := makeItems(t, 20)
	for i := range items {
		items[i].Group = fmt.Sprint(i)
		if i%4 == 0 {
			items[i].MOSAlign = math.NaN()
		}
	}
	fsys := fstest.MapFS{
		"m/config.pbtxt":   {Data: []byte(fmt.Sprintf(meanConfig, "m", "false"))},
		"m/1/model.native": {Data: []byte("runner_test_mean\n")},
	}
	res, _ := evalOnce(t, fsys, "m", &dataset.Dataset{Name: "toy", Items: items}, t.TempDir(), nil)
	s := res.Summary["alignment"]
	if math.IsNaN(s.SRCC.Mean) || math.Abs(s.SRCC.Mean-1) > 1e-12 {
		t.Errorf("alignment SRCC %v (reasons %v), want 1", s.SRCC.Mean, s.SRCC.Reasons)
	}
	for _, sc := range res.Splits {
		if sc.Missing != 0 {
			t.Errorf("split %d %s: %d missing; images without a MOS are not missing predictions", sc.Split, sc.Target, sc.Missing)
		}
	}
}
