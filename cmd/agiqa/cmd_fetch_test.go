package main

import (
	"errors"
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
	if err == nil || !strings.Contains(err.Error(), `unknown asset "nope" (known: clip-rn50, clip-vocab, resnet50-imagenet)`) {
		t.Fatalf("err = %v", err)
	}
}

func TestFetchBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mirror", "ftp://host/x", "clip-vocab"}, `--mirror "ftp://host/x": want an http:// or https:// URL`},
		{[]string{"--mirror", "mirror.local", "clip-vocab"}, `--mirror "mirror.local"`},
		// -1 used to skip the download and report the empty file as a checksum mismatch.
		{[]string{"--retries", "-1", "clip-vocab"}, "--retries -1: want 0 or more"},
	} {
		_, _, err := runCLI(t, append([]string{"fetch", "--cache", t.TempDir()}, c.args...)...)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want usage error %q", c.args, err, c.want)
		}
	}
}

// With no network the error names the URL right away (here: nothing listens).
func TestFetchUnreachableMirrorNamesURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	_, stderr, err := runCLI(t, "fetch", "--cache", t.TempDir(), "--mirror", base, "--retries", "0", "clip-vocab")
	if err == nil || !strings.Contains(stderr, "clip-vocab: GET "+base+"/clip/bpe_simple_vocab_16e6.txt.gz: ") {
		t.Errorf("err %v, stderr %q: want the URL named", err, stderr)
	}
}
