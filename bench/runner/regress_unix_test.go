//go:build unix

package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// gateStarted is signalled by runner_test_gate, which then holds its request
// until the server cancels it.
var gateStarted = make(chan struct{}, 16)

func init() {
	native.Register("runner_test_gate", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		gateStarted <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
}

// When the run is interrupted, Run must not return while a preparing worker
// is still going: that worker would later record its item (rep.Failed, the
// cache, Progress.Add after Finish) behind the caller's back. The
// beforePrepare hook holds one worker (image files can no longer: a FIFO is
// refused at once) until the test lets it go; its image is not one.
func TestRunInterruptedWaitsForPreparers(t *testing.T) {
	cfg := strings.ReplaceAll(fmt.Sprintf(meanConfig, "gate", "false"), "runner_test_mean", "runner_test_gate")
	c, _ := serveFS(t, fstest.MapFS{
		"gate/config.pbtxt":   {Data: []byte(cfg)},
		"gate/1/model.native": {Data: []byte("runner_test_gate\n")},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := Describe(ctx, c, "gate")
	if err != nil {
		t.Fatal(err)
	}
	items := makeItems(t, 2)
	slow := filepath.Join(t.TempDir(), "slow.png")
	if err := os.WriteFile(slow, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	items = []dataset.Item{items[0], {Image: "slow.png", Path: slow}, items[1]}
	hold := make(chan struct{})
	beforePrepare = func(it dataset.Item) {
		if it.Image == "slow.png" {
			<-hold
		}
	}
	defer func() { beforePrepare = nil }()
	cf, err := OpenCache(t.TempDir(), "ds", m, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()

	released := make(chan struct{})
	go func() {
		defer close(released)
		<-gateStarted // one image is at the model, the other waits for a sender
		time.Sleep(100 * time.Millisecond)
		cancel()
		time.Sleep(200 * time.Millisecond) // Run used to return in this gap
		close(hold)
	}()
	rep, err := Run(ctx, c, m, "", items, cf, Options{Workers: 2, Concurrency: 1, Batch: 1, Retries: -1})
	failed := rep.Failed
	_, recorded := cf.Lookup("slow.png")
	<-released
	if err == nil {
		t.Fatal("interrupted run returned no error")
	}
	if failed != 1 || !recorded {
		t.Errorf("Run returned before its preparing worker finished: failed %d, recorded %v; want 1, true", failed, recorded)
	}
}

// A failed Append must not leave part of a line behind: the next successful
// Append would continue that fragment and the cache could no longer be opened
// ("line 2: invalid character"). A file size limit makes the write short.
func TestCacheFailedAppendLeavesNoTornLine(t *testing.T) {
	dir := t.TempDir()
	cf, err := OpenCache(dir, "ds", cacheOnly, "1")
	if err != nil {
		t.Fatal(err)
	}
	q := 0.5
	if err := cf.Append(Prediction{Image: "a", Quality: &q}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(cf.Path)
	if err != nil {
		t.Fatal(err)
	}
	restore := testenv.LowerFileSizeLimit(t, uint64(st.Size())+10)
	err = cf.Append(Prediction{Image: "b-with-a-long-name", Quality: &q})
	restore()
	if err == nil {
		t.Fatal("Append past the file size limit succeeded")
	}
	if err := cf.Append(Prediction{Image: "c", Quality: &q}); err != nil {
		t.Fatal(err)
	}
	if err := cf.Close(); err != nil {
		t.Fatal(err)
	}
	cf, err = OpenCache(dir, "ds", cacheOnly, "1")
	if err != nil {
		t.Fatalf("reopening after a failed append: %v", err)
	}
	defer cf.Close()
	got := cf.all()
	if _, ok := got["a"]; !ok || len(got) != 2 {
		t.Errorf("cache holds %v; want a and c", got)
	}
	if _, ok := got["c"]; !ok {
		t.Errorf("cache holds %v; want a and c", got)
	}
}
