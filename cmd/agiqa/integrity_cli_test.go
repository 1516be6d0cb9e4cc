package main

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

var (
	cliFailCalls atomic.Int64
	cliStopCalls atomic.Int64
	cliStopMu    sync.Mutex
	cliStop      func() // called by cli_stop_after_3 on its third request
	cliNaNCalls  atomic.Int64
)

func init() {
	// Fails every request (Internal on the wire, which tables retries), counting them.
	native.Register("cli_always_fail", func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) {
		cliFailCalls.Add(1)
		return nil, errors.New("cli_always_fail: always")
	})
	// Scores an image by its first byte; its third request interrupts the run (as Ctrl-C would).
	native.Register("cli_stop_after_3", func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if cliStopCalls.Add(1) == 3 {
			cliStopMu.Lock()
			if cliStop != nil {
				cliStop()
			}
			cliStopMu.Unlock()
		}
		img, _ := native.TensorByName(in, "IMAGE")
		b := int(img.Shape[0])
		q := make([]float32, b)
		for i := range q {
			q[i] = float32(img.Raw[i*len(img.Raw)/b])
		}
		out, err := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, q)
		return []*tensor.Tensor{out}, err
	})
	// Answers NaN.
	native.Register("cli_nan", func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		cliNaNCalls.Add(1)
		img, _ := native.TensorByName(in, "IMAGE")
		b := int(img.Shape[0])
		q := make([]float32, b)
		for i := range q {
			q[i] = float32(math.NaN())
		}
		out, err := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, q)
		return []*tensor.Tensor{out}, err
	})
}

// nativeRepo is a repository of one native model name serving function fn.
func nativeRepo(t *testing.T, name, fn string) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		name + "/config.pbtxt":   tablesNativeContract,
		name + "/1/model.native": fn + "\n",
	})
	return dir
}

// `--retries 0` used to retry twice (the runner's zero value is its default). Counted at the
// model: with --batch 1 each image is one request, sent once with --retries 0 and twice with
// --retries 1. A model all of whose images failed makes tables exit non-zero, naming it.
func TestTablesRetriesZeroMeansNone(t *testing.T) {
	repo := nativeRepo(t, "failing", "cli_always_fail")
	for _, c := range []struct {
		retries string
		want    int64
	}{{"0", 40}, {"1", 80}} {
		cliFailCalls.Store(0)
		_, stderr, err := runCLI(t, "tables", "--repo", repo, "--cache", filepath.Join(t.TempDir(), "c"), "--sample-size", "40",
			"--splits", "2", "--models", "failing", "--tables", "1", "--batch", "1", "--concurrency", "1", "--retries", c.retries)
		if n := cliFailCalls.Load(); n != c.want {
			t.Errorf("--retries %s: %d requests for 40 images, want %d", c.retries, n, c.want)
		}
		if err == nil || !strings.Contains(err.Error(), "failing on sample: every one of its 40 images failed") {
			t.Errorf("--retries %s: err = %v; want a non-zero exit naming the model\n%s", c.retries, err, stderr)
		}
	}
}

// A run that stops part way used to overwrite a good -o (and --report) with a partial table. The
// files are kept, the partial output goes beside them as .partial, and the error says so; the
// next complete run writes them and removes the .partial files.
func TestTablesStoppedRunKeepsOutputs(t *testing.T) {
	repo := nativeRepo(t, "stopper", "cli_stop_after_3")
	dir := t.TempDir()
	out, report := filepath.Join(dir, "t.md"), filepath.Join(dir, "r.json")
	os.WriteFile(out, []byte("GOOD TABLE\n"), 0o644)
	os.WriteFile(report, []byte("{\"good\": true}\n"), 0o644)
	args := []string{"tables", "--repo", repo, "--cache", filepath.Join(dir, "c"), "--sample-size", "40", "--splits", "2",
		"--models", "stopper", "--tables", "1", "--batch", "1", "--concurrency", "1", "-o", out, "--report", report}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cliStopMu.Lock()
	cliStop = cancel
	cliStopMu.Unlock()
	cliStopCalls.Store(0)
	var o, e syncBuffer
	err := runContext(ctx, &o, &e, args)
	cliStopMu.Lock()
	cliStop = nil
	cliStopMu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "-o "+out+" left as it was (the run did not complete); the partial output is in "+out+".partial") ||
		!strings.Contains(err.Error(), "--report "+report+" left as it was") {
		t.Fatalf("stopped run: err = %v\n%s", err, e.String())
	}
	if b, _ := os.ReadFile(out); string(b) != "GOOD TABLE\n" {
		t.Errorf("-o after a stopped run holds %q", b)
	}
	if b, _ := os.ReadFile(report); string(b) != "{\"good\": true}\n" {
		t.Errorf("--report after a stopped run holds %q", b)
	}
	if b, err := os.ReadFile(out + ".partial"); err != nil || !strings.Contains(string(b), "Table 1") {
		t.Errorf("partial tables: %v %q", err, b)
	}

	// Complete now (the cache holds what the first run scored): written, .partial gone.
	if _, stderr, err := runCLI(t, args...); err != nil {
		t.Fatalf("complete run: %v\n%s", err, stderr)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "Table 1") {
		t.Errorf("-o after a complete run holds %q", b)
	}
	for _, p := range []string{out + ".partial", report + ".partial"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after a complete run (%v)", p, err)
		}
	}
}

// infer used to print NaN and exit 0; now it exits non-zero naming the model, output and image.
func TestInferNaNExitsNonZero(t *testing.T) {
	addr := startServer(t, "--repo", nativeRepo(t, "nanmodel", "cli_nan"))
	img := testImage(t, false)
	for _, format := range []string{"text", "json"} {
		stdout, _, err := runCLI(t, "infer", "--server", addr, "--model", "nanmodel", "--image", img, "--format", format)
		if err == nil || !strings.Contains(err.Error(), "model nanmodel output QUALITY is NaN for image "+img) {
			t.Errorf("--format %s: err = %v, stdout %q; want a non-zero exit naming model, output and image", format, err, stdout)
		}
	}
	if cliNaNCalls.Load() == 0 {
		t.Error("the model was never asked")
	}
}
