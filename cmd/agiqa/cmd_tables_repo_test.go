package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const tablesNativeContract = `backend: "native"
max_batch_size: 8
input [ { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 32, 32 ] } ]
output [ { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] } ]
parameters { key: "agiqa.preprocess" value: { string_value: "resize" } }
`

// notReadyRepo is a repository as a user has it before the export ran to the
// end: a ready native model, an ONNX model whose version folder is empty, and a
// per-split model whose version 3 cannot load (its function does not exist).
func notReadyRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"sharp/config.pbtxt":   tablesNativeContract,
		"sharp/1/model.native": "laplacian_variance\n",
		"split/config.pbtxt": tablesNativeContract + "version_policy: { all {} }\n" +
			`parameters { key: "agiqa.per_split" value: { string_value: "true" } }` + "\n",
		"split/1/model.native":     "laplacian_variance\n",
		"split/2/model.native":     "laplacian_variance\n",
		"split/3/model.native":     "no_such_function\n",
		"onnx_nofile/config.pbtxt": `platform: "onnxruntime_onnx"` + "\n" + strings.TrimPrefix(tablesNativeContract, `backend: "native"`+"\n"),
	})
	if err := os.MkdirAll(filepath.Join(dir, "onnx_nofile", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Models left out of the default selection are named with the reason, and a
// per-split model with a version that cannot serve its split is left out
// before any inference, not after the versions before it ran.
func TestTablesNamesModelsNotReady(t *testing.T) {
	repo := notReadyRepo(t)
	args := []string{"tables", "--repo", repo, "--cache", filepath.Join(t.TempDir(), "p"), "--sample-size", "40", "--splits", "3", "--tables", "1"}
	out, stderr, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{
		"onnx_nofile: not ready, left out: ",
		"version folder is empty",
		"split on sample: skipped (version 3 (split 2) not ready: ",
		`"no_such_function"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "split v1:") {
		t.Errorf("split's versions 1 and 2 were run although version 3 cannot be:\n%s", stderr)
	}
	if !strings.Contains(out, "| sharp ") {
		t.Errorf("the ready model is not in the table:\n%s", out)
	}

	// Named, the same model is an error, given before any inference.
	_, stderr, err = runCLI(t, append(args, "--models", "sharp,split")...)
	if err == nil || !strings.Contains(err.Error(), "model split on sample: version 3 (split 2) not ready: ") ||
		!strings.Contains(err.Error(), `"no_such_function"`) {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(stderr, "images, 0 already cached") {
		t.Errorf("inference ran before the error:\n%s", stderr)
	}
}

// A repository where nothing can run says why for each model.
func TestTablesNoReadyModelSaysWhy(t *testing.T) {
	repo := t.TempDir()
	writeTree(t, repo, map[string]string{
		"onnx_nofile/config.pbtxt": `platform: "onnxruntime_onnx"` + "\n" + strings.TrimPrefix(tablesNativeContract, `backend: "native"`+"\n"),
	})
	os.MkdirAll(filepath.Join(repo, "onnx_nofile", "1"), 0o755)
	_, _, err := runCLI(t, "tables", "--repo", repo, "--cache", filepath.Join(t.TempDir(), "p"), "--sample-size", "40", "--splits", "2")
	if err == nil || !strings.Contains(err.Error(), "no ready model") || !strings.Contains(err.Error(), "onnx_nofile: ") ||
		!strings.Contains(err.Error(), "version folder is empty") {
		t.Errorf("err = %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe to write from the command's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve says which models are not ready and why, without -v: a user who
// serves a repository whose ONNX files were never exported learns it at start,
// not from the first failed request. The address line comes after, so a
// script that waits for it has seen the list.
func TestServeNamesModelsNotReady(t *testing.T) {
	repo := notReadyRepo(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		err := runContext(ctx, pw, &stderr, []string{"serve", "--addr", "127.0.0.1:0", "--repo", repo})
		pw.Close()
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	if err != nil || !strings.HasPrefix(line, "agiqa serve: listening on ") {
		t.Fatalf("serve printed %q, %v; stderr:\n%s", line, err, stderr.String())
	}
	got := stderr.String()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	for _, want := range []string{
		"agiqa serve: 2 of 3 models ready",
		"agiqa serve: model onnx_nofile not ready: ",
		"version folder is empty",
		"agiqa serve: model split version 3 not ready: ",
		`"no_such_function"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got)
		}
	}
}

// A bad --repo is named as the flag, and tables finds it before reading
// (and preflighting) the dataset; with --server it would be ignored, so it
// is refused, as perf refuses it.
func TestRepoFlagBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "models.txt")
	os.WriteFile(file, []byte("x"), 0o644)
	absent := filepath.Join(t.TempDir(), "absent")
	noDataset := "agiqa-3k=" + filepath.Join(t.TempDir(), "no-such-dataset")
	cache := filepath.Join(t.TempDir(), "p")
	for _, c := range []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"tables", "--cache", cache, "--repo", absent, "--dataset", noDataset}, "--repo " + absent + ": ", false},
		{[]string{"tables", "--cache", cache, "--repo", file, "--dataset", noDataset}, "--repo " + file + ": is a file", false},
		{[]string{"tables", "--cache", cache, "--server", "127.0.0.1:1", "--repo", notReadyRepo(t)}, "--repo: only for the embedded server, not with --server", true},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--repo", absent}, "--repo " + absent + ": ", false},
		{[]string{"perf", "--model", "m", "--repo", file}, "--repo " + file + ": is a file", false},
	} {
		_, _, err := runCLI(t, c.args...)
		var ue *usageError
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.As(err, &ue) != c.usage {
			t.Errorf("%q: err = %v, want one with %q (usage error: %v)", c.args, err, c.want, c.usage)
		}
	}
}

// serve names --addr when it cannot listen there (no port, port taken).
func TestServeBadAddrNamed(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, addr := range []string{"127.0.0.1", taken.Addr().String()} {
		_, _, err := runCLI(t, "serve", "--addr", addr)
		if err == nil || !strings.Contains(err.Error(), "--addr "+addr+": ") {
			t.Errorf("--addr %s: err = %v, want it to name the flag", addr, err)
		}
	}
}
