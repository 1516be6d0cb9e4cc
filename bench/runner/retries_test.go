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

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

var failingCalls atomic.Int64

func init() {
	// Fails every request (Internal on the wire, which Run retries), counting them.
	native.Register("runner_test_failing", func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) {
		failingCalls.Add(1)
		return nil, errors.New("failing: always")
	})
}

// Retries counts extra attempts: NoRetries sends each request once (`--retries 0` maps to it),
// the zero value the default two more, and n exactly n more; counted at the model.
func TestRetriesCountAttempts(t *testing.T) {
	cfg := strings.ReplaceAll(fmt.Sprintf(meanConfig, "failing", "false"), "runner_test_mean", "runner_test_failing")
	c, _ := serveFS(t, fstest.MapFS{
		"failing/config.pbtxt":   {Data: []byte(cfg)},
		"failing/1/model.native": {Data: []byte("runner_test_failing\n")},
	})
	ctx := context.Background()
	m, err := Describe(ctx, c, "failing")
	if err != nil {
		t.Fatal(err)
	}
	items := makeItems(t, 1)
	for _, tc := range []struct {
		retries int
		want    int64
	}{{NoRetries, 1}, {0, 3}, {1, 2}, {4, 5}} {
		cf, err := OpenCache(t.TempDir(), "ds", m, "")
		if err != nil {
			t.Fatal(err)
		}
		failingCalls.Store(0)
		rep, err := Run(ctx, c, m, "", items, cf, Options{Batch: 1, Concurrency: 1, Retries: tc.retries, Backoff: time.Millisecond})
		cf.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n := failingCalls.Load(); n != tc.want || rep.Failed != 1 {
			t.Errorf("Retries %d: %d attempts, %d failed; want %d attempts, 1 failed", tc.retries, n, rep.Failed, tc.want)
		}
	}
}
