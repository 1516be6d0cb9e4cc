package runner

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// meanModel scores an image by its mean pixel value, so the test knows every
// answer; delay slows it down so a test can stop the server mid-run.
var (
	meanDelay atomic.Int64
	meanCalls atomic.Int64
)

func init() {
	native.Register("runner_test_mean", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		meanCalls.Add(1)
		time.Sleep(time.Duration(meanDelay.Load()))
		img, _ := native.TensorByName(in, "IMAGE")
		b := int(img.Shape[0])
		per := len(img.Raw) / b
		q := make([]float32, b)
		a := make([]float32, b)
		for i := 0; i < b; i++ {
			var s float64
			for _, v := range img.Raw[i*per : (i+1)*per] {
				s += float64(v)
			}
			q[i] = float32(s / float64(per))
			a[i] = -q[i]
		}
		qt, _ := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, q)
		at, _ := tensor.NewFP32("ALIGNMENT", []int64{int64(b), 1}, a)
		return []*tensor.Tensor{qt, at}, nil
	})
}

const meanConfig = `
name: "%s"
backend: "native"
max_batch_size: 4
input [ { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 16, 16 ] } ]
output [
  { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] },
  { name: "ALIGNMENT" data_type: TYPE_FP32 dims: [ 1 ] }
]
version_policy: { all {} }
parameters { key: "native.function" value: { string_value: "runner_test_mean" } }
parameters { key: "agiqa.per_split" value: { string_value: "%s" } }
`

func startServer(t *testing.T) (*client.Client, *server.Server) {
	t.Helper()
	fsys := fstest.MapFS{
		"mean/config.pbtxt":       {Data: []byte(fmt.Sprintf(meanConfig, "mean", "false"))},
		"mean/1/model.native":     {Data: []byte("runner_test_mean\n")},
		"persplit/config.pbtxt":   {Data: []byte(fmt.Sprintf(meanConfig, "persplit", "true"))},
		"persplit/1/model.native": {Data: []byte("runner_test_mean\n")},
		"persplit/2/model.native": {Data: []byte("runner_test_mean\n")},
	}
	return serveFS(t, fsys, client.WithRetry(1, 10*time.Millisecond, 20*time.Millisecond))
}

// serveFS serves the model repository fsys on a loopback port with the embedded server and returns a
// client for it (made with opts); both are closed when the test ends.
func serveFS(t *testing.T, fsys fstest.MapFS, opts ...client.Option) (*client.Client, *server.Server) {
	t.Helper()
	repo, err := modelrepo.OpenFS(fsys, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(repo)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	c, err := client.New(context.Background(), lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.GracefulStop(ctx)
	})
	return c, srv
}

// makeItems writes n flat-grey PNGs whose mean is known: image i has grey level 10*i.
func makeItems(t *testing.T, n int) []dataset.Item {
	t.Helper()
	dir := t.TempDir()
	var items []dataset.Item
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 20, 20))
		for p := range img.Pix {
			img.Pix[p] = uint8(10 * i)
		}
		for y := 0; y < 20; y++ {
			for x := 0; x < 20; x++ {
				img.Set(x, y, color.RGBA{uint8(10 * i), uint8(10 * i), uint8(10 * i), 255})
			}
		}
		name := fmt.Sprintf("img%02d.png", i)
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
		items = append(items, dataset.Item{Image: name, Path: filepath.Join(dir, name), Prompt: "p", MOS: float64(i), MOSAlign: float64(-i), Group: fmt.Sprint(i % 5)})
	}
	return items
}

func TestDescribeReadsContract(t *testing.T) {
	c, _ := startServer(t)
	m, err := Describe(context.Background(), c, "persplit")
	if err != nil {
		t.Fatal(err)
	}
	if m.ImageSize != 16 || m.Prompt || !m.PerSplit || m.MaxBatch != 4 || len(m.Outputs) != 2 || !m.HigherIsBetter {
		t.Errorf("Describe = %+v", m)
	}
	if m.VersionForSplit(1) != "2" {
		t.Errorf("split 1 -> version %q, want 2", m.VersionForSplit(1))
	}
	if _, err := Describe(context.Background(), c, "absent"); !client.IsNotFound(err) {
		t.Errorf("unknown model: %v", err)
	}
}

func TestRunScoresCachesAndRecordsFailures(t *testing.T) {
	c, _ := startServer(t)
	ctx := context.Background()
	m, _ := Describe(ctx, c, "mean")
	items := makeItems(t, 9)
	items[4].Path = filepath.Join(t.TempDir(), "gone.png") // a missing image fails alone
	dir := t.TempDir()
	cf, err := OpenCache(dir, "ds", m, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, c, m, "", items, cf, Options{Batch: 4, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inferred != 8 || rep.Failed != 1 || rep.Cached != 0 || !strings.Contains(rep.Errors[0].Error, "gone.png") {
		t.Fatalf("report %+v", rep)
	}
	for i, it := range items {
		p, ok := cf.Lookup(it.Image)
		if i == 4 {
			if !ok || p.Error == "" {
				t.Errorf("failed item not recorded: %+v", p)
			}
			continue
		}
		if !ok || p.Quality == nil || math.Abs(*p.Quality-float64(10*i)) > 1e-4 || *p.Alignment != -*p.Quality {
			t.Errorf("%s: %+v", it.Image, p)
		}
	}
	cf.Close()

	// Reopened: nothing is sent again except the failed item.
	cf, err = OpenCache(dir, "ds", m, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	before := meanCalls.Load()
	rep, err = Run(ctx, c, m, "", items, cf, Options{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Cached != 8 || rep.Failed != 1 || meanCalls.Load() != before {
		t.Errorf("second run: %+v, %d model calls", rep, meanCalls.Load()-before)
	}
}

func TestCacheDropsTornLineAndNamesBadLine(t *testing.T) {
	dir := t.TempDir()
	cf, _ := OpenCache(dir, "ds", cacheOnly, "3")
	q := 1.5
	cf.Append(Prediction{Image: "a", Quality: &q})
	cf.Close()
	f, _ := os.OpenFile(cf.Path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"image":"b","qual`) // killed mid-write
	f.Close()
	cf, err := OpenCache(dir, "ds", cacheOnly, "3")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cf.Lookup("b"); ok {
		t.Error("torn line loaded")
	}
	cf.Append(Prediction{Image: "c", Quality: &q})
	cf.Close()
	cf, _ = OpenCache(dir, "ds", cacheOnly, "3")
	if len(cf.all()) != 2 {
		t.Errorf("after torn tail and append: %v", cf.all())
	}
	cf.Close()

	header := newCacheKey("ds", cacheOnly, "3").line()
	// A bad line is skipped with a warning naming it (cache_test.go tests the rest), not fatal.
	os.WriteFile(cf.Path, append(header, "{\"image\":\"a\"}\nnot json\n"...), 0o644)
	cf, err = OpenCache(dir, "ds", cacheOnly, "3")
	if err != nil {
		t.Fatalf("cache with bad lines: %v", err)
	}
	if w := cf.takeWarnings(); len(w) != 1 || !strings.Contains(w[0], "skipped 2 unreadable line(s), first line 2") {
		t.Errorf("warnings %q", w)
	}
	cf.Close()
	// A file whose first line is not its key (edited by hand) is refused, not
	// read as predictions for this model.
	os.WriteFile(cf.Path, []byte("{\"image\":\"a\",\"quality\":1}\n"), 0o644)
	if _, err := OpenCache(dir, "ds", cacheOnly, "3"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("cache without its key line: %v", err)
	}
}

// cacheOnly is a model for tests of the cache file alone.
var cacheOnly = &Model{Name: "m", ImageSize: 16, Outputs: []string{OutputQuality}}

// The server goes away mid-run: Run retries, then stops with ErrServerGone, and
// every answer received before is in the cache; a rerun sends only the rest.
func TestRunServerGoneKeepsPredictions(t *testing.T) {
	c, srv := startServer(t)
	ctx := context.Background()
	m, _ := Describe(ctx, c, "mean")
	items := makeItems(t, 24)
	dir := t.TempDir()
	cf, _ := OpenCache(dir, "ds", m, "")
	meanDelay.Store(int64(30 * time.Millisecond))
	defer meanDelay.Store(0)
	go func() {
		time.Sleep(150 * time.Millisecond)
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.GracefulStop(sctx)
	}()
	rep, err := Run(ctx, c, m, "", items, cf, Options{Batch: 1, Concurrency: 1, Retries: 1, Backoff: 10 * time.Millisecond})
	if !errors.Is(err, ErrServerGone) {
		t.Fatalf("err = %v, want ErrServerGone", err)
	}
	if !strings.Contains(err.Error(), "predictions kept in") {
		t.Errorf("error does not say what was kept: %v", err)
	}
	if rep.Inferred == 0 || rep.Inferred >= len(items) {
		t.Fatalf("inferred %d of %d before the stop", rep.Inferred, len(items))
	}
	cf.Close()
	cf, _ = OpenCache(dir, "ds", m, "")
	defer cf.Close()
	ok := 0
	for _, p := range cf.all() {
		if p.Error == "" {
			ok++
		}
	}
	if ok != rep.Inferred {
		t.Errorf("cache holds %d predictions, run reported %d", ok, rep.Inferred)
	}

	// The rerun against a server that is back asks the model for the missing images only, one call
	// each at batch 1, and ends with every image scored as the model scores it (grey level 10*i).
	c2, _ := startServer(t)
	before := meanCalls.Load()
	rep2, err := Run(ctx, c2, m, "", items, cf, Options{Batch: 1, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	rest := len(items) - rep.Inferred
	if sent := meanCalls.Load() - before; sent != int64(rest) || rep2.Inferred != rest || rep2.Cached != rep.Inferred {
		t.Errorf("rerun sent %d images to the model and reports %d inferred, %d cached; want %d sent and inferred, %d cached",
			sent, rep2.Inferred, rep2.Cached, rest, rep.Inferred)
	}
	all := cf.all()
	for i, it := range items {
		p, ok := all[it.Image]
		if !ok || p.Quality == nil || math.Abs(*p.Quality-float64(10*i)) > 1e-4 {
			t.Errorf("after the rerun %s holds %+v, want quality %d", it.Image, p, 10*i)
		}
	}
}

func TestEvaluatePerSplitUsesVersionK(t *testing.T) {
	c, _ := startServer(t)
	ctx := context.Background()
	items := makeItems(t, 10)
	ds := &dataset.Dataset{Name: "toy", Items: items}
	sp, err := splits.Make(ds, splits.Paper, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Describe(ctx, c, "persplit")
	dir := t.TempDir()
	res, err := Evaluate(ctx, c, m, ds, sp, EvalOptions{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || res.Runs[0].Version != "1" || res.Runs[1].Version != "2" {
		t.Fatalf("runs %+v", res.Runs)
	}
	for k, s := range sp.Splits {
		if res.Runs[k].Total != len(s.Test) {
			t.Errorf("version %d scored %d images, split %d has %d test images", k+1, res.Runs[k].Total, k, len(s.Test))
		}
	}
	// mean grey = 10*MOS exactly: every correlation is 1 (alignment = -quality vs -MOS too).
	for _, target := range []string{"quality", "alignment"} {
		s := res.Summary[target]
		if s.Splits != 2 || math.Abs(s.SRCC.Mean-1) > 1e-12 || math.Abs(s.PLCC.Mean-1) > 1e-6 || math.Abs(s.KRCC.Mean-1) > 1e-12 {
			t.Errorf("%s summary %+v", target, s)
		}
	}
	ms := Measurements([]*ModelResult{res})
	if len(ms) != 2 || ms[0].Dataset != "toy" {
		t.Errorf("measurements %+v", ms)
	}
	// A model trained on another dataset is skipped, not scored.
	m.Dataset = "agiqa-3k"
	res, _ = Evaluate(ctx, c, m, ds, sp, EvalOptions{CacheDir: dir})
	if res.Skipped == "" {
		t.Error("model for another dataset was scored")
	}
}
