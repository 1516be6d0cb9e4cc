package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// The vocabulary in ../shared has the published checksum, so a local mirror
// serving it exercises the real download path end to end.
func TestFetchFromLocalMirror(t *testing.T) {
	vocab := testenv.Shared(t, "data", "clip", "bpe_simple_vocab_16e6.txt.gz")
	mux := http.NewServeMux()
	mux.HandleFunc("/clip/bpe_simple_vocab_16e6.txt.gz", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, vocab) })
	mux.HandleFunc("/clip/RN50.pt", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tampered")) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cache := t.TempDir()

	out, _, err := runCLI(t, "fetch", "--cache", cache, "--mirror", srv.URL, "clip-vocab")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "clip-vocab") || !strings.Contains(out, "sha256 ok") {
		t.Errorf("stdout %q", out)
	}
	out, _, err = runCLI(t, "fetch", "--cache", cache, "--mirror", srv.URL, "clip-vocab")
	if err != nil || !strings.Contains(out, "cached") {
		t.Errorf("second fetch should use the cache: %v %q", err, out)
	}

	_, stderr, err := runCLI(t, "fetch", "--cache", cache, "--mirror", srv.URL, "clip-rn50")
	if err == nil || !strings.Contains(stderr, "sha256 mismatch") {
		t.Errorf("tampered file accepted: err=%v stderr=%q", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(cache, "clip", "RN50.pt")); !os.IsNotExist(err) {
		t.Error("file with a wrong checksum left in the cache")
	}
}

func TestFetchUnknownAsset(t *testing.T) {
	_, _, err := runCLI(t, "fetch", "--cache", t.TempDir(), "nope")
	if err == nil || !strings.Contains(err.Error(), `unknown asset "nope"`) {
		t.Fatalf("err = %v", err)
	}
}
