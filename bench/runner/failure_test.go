package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// flakyPoison is the grey level the flaky model refuses; flakyPoisonCalls
// counts the requests that held such an image.
const flakyPoison = 30

var flakyPoisonCalls atomic.Int64

func init() {
	// Scores like runner_test_mean but fails (an error: Internal on the wire)
	// every request holding an image of grey level flakyPoison.
	native.Register("runner_test_flaky", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		img, _ := native.TensorByName(in, "IMAGE")
		b := int(img.Shape[0])
		per := len(img.Raw) / b
		q := make([]float32, b)
		for i := 0; i < b; i++ {
			if img.Raw[i*per] == flakyPoison {
				flakyPoisonCalls.Add(1)
				return nil, errors.New("flaky: poisoned image")
			}
			q[i] = float32(img.Raw[i*per])
		}
		qt, _ := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, q)
		at, _ := tensor.NewFP32("ALIGNMENT", []int64{int64(b), 1}, q)
		return []*tensor.Tensor{qt, at}, nil
	})
}

func startFlakyServer(t *testing.T) *client.Client {
	t.Helper()
	cfg := strings.ReplaceAll(fmt.Sprintf(meanConfig, "flaky", "false"), "runner_test_mean", "runner_test_flaky")
	c, _ := serveFS(t, fstest.MapFS{
		"flaky/config.pbtxt":   {Data: []byte(cfg)},
		"flaky/1/model.native": {Data: []byte("runner_test_flaky\n")},
	})
	return c
}

// An item the model keeps failing on is retried (in its batch, then alone),
// recorded with its error, and the run finishes; Evaluate counts the failure
// for the model and the table measurement says so.
func TestFailedItemRetriedRecordedAndCounted(t *testing.T) {
	c := startFlakyServer(t)
	ctx := context.Background()
	m, err := Describe(ctx, c, "flaky")
	if err != nil {
		t.Fatal(err)
	}
	items := makeItems(t, 8) // item 3 has grey level 30
	ds := &dataset.Dataset{Name: "toy", Items: items}
	sp, err := splits.Make(ds, splits.Paper, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	flakyPoisonCalls.Store(0)
	opt := EvalOptions{CacheDir: t.TempDir(), Run: Options{Batch: 4, Concurrency: 1, Retries: 1, Backoff: time.Millisecond}}
	res, err := Evaluate(ctx, c, m, ds, sp, opt)
	if err != nil {
		t.Fatal(err)
	}
	// Batch of 4: 1 try + 1 retry; then item 3 alone: 1 try + 1 retry.
	if n := flakyPoisonCalls.Load(); n != 4 {
		t.Errorf("%d requests held the failing image, want 4 (batch and alone, each retried once)", n)
	}
	if res.Failed != 1 || len(res.Runs) != 1 || res.Runs[0].Inferred != 7 || res.Runs[0].Failed != 1 {
		t.Fatalf("failed %d, runs %+v; want 1 failed, 7 inferred", res.Failed, res.Runs)
	}
	if e := res.Runs[0].Errors; len(e) != 1 || e[0].Image != "img03.png" || !strings.Contains(e[0].Error, "poisoned image") {
		t.Errorf("recorded errors %+v", e)
	}
	missing := 0
	for _, s := range res.Splits {
		missing += s.Missing
	}
	if missing == 0 {
		t.Error("no split reports the failed image as missing")
	}
	ms := Measurements([]*ModelResult{res})
	if len(ms) == 0 || ms[0].SRCC.Reason != "failed: 1 images" {
		t.Errorf("measurements %+v; want the failure noted", ms)
	}
}
