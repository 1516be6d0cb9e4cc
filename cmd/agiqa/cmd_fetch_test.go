package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/fetch"
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
	names := make([]string, 0, len(fetch.Catalog))
	for _, a := range fetch.Catalog {
		names = append(names, a.Name)
	}
	sort.Strings(names)
	if err == nil || !strings.Contains(err.Error(), `unknown asset "nope" (known: `+strings.Join(names, ", ")+`)`) {
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

// cancelOn cancels when the text it is written contains trigger (the
// command's progress line), standing in for Ctrl-C mid-download.
type cancelOn struct {
	syncBuffer
	trigger string
	cancel  context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	n, err := c.syncBuffer.Write(p)
	if strings.Contains(c.String(), c.trigger) {
		c.cancel()
	}
	return n, err
}

// Ctrl-C stops the fetch: the assets after the interrupted one are not
// tried (each failing with "context canceled"), the partial file is kept
// and the error says how to resume.
func TestFetchInterruptKeepsPartAndStops(t *testing.T) {
	var asked []string
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Length", "1000000")
		w.Write(make([]byte, 4096))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes: only the interrupt ends this
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cache := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelOn{trigger: "clip-rn50: ", cancel: cancel}
	var stdout bytes.Buffer
	err := runContext(ctx, &stdout, stderr, []string{"fetch", "--cache", cache, "--mirror", srv.URL, "clip-rn50", "clip-vocab"})
	part := filepath.Join(cache, "clip", "RN50.pt.part")
	if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), part) {
		t.Errorf("err = %v, want it to say interrupted and name %s", err, part)
	}
	if st, serr := os.Stat(part); serr != nil || st.Size() == 0 {
		t.Errorf("partial download not kept: %v", serr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 {
		t.Errorf("requests after the interrupt: %v", asked)
	}
	if strings.Contains(stderr.String(), "clip-vocab") {
		t.Errorf("clip-vocab reported after the interrupt:\n%s", stderr.String())
	}
}

// A --cache that cannot be a folder (a file, or a path below one) is refused
// up front as a usage error naming the flag, as --plots is: not once per
// asset by fetch, nor by tables after the dataset and server are set up.
func TestCacheFlagThatIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cache")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"fetch", "--cache", file, "--mirror", "http://127.0.0.1:1", "clip-vocab"},
		{"fetch", "--cache", filepath.Join(file, "sub"), "--mirror", "http://127.0.0.1:1", "clip-vocab"},
		{"tables", "--cache", file, "--sample-size", "40"},
		{"tables", "--cache", filepath.Join(file, "predictions"), "--sample-size", "40"},
	} {
		_, stderr, err := runCLI(t, args...)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--cache "+args[2]+": ") || !strings.Contains(err.Error(), file) {
			t.Errorf("%q: err = %v (stderr %q), want a usage error naming --cache and %s", args, err, stderr, file)
		}
	}
}

// --from installs the shared copy of NIQE's parameters; a file with another
// checksum is refused naming both digests, and nothing is left behind.
func TestFetchFromFile(t *testing.T) {
	src := testenv.Shared(t, "data", "niqe", "modelparameters.mat")
	cache := t.TempDir()
	out, _, err := runCLI(t, "fetch", "--cache", cache, "niqe-params", "--from", src)
	dest := filepath.Join(cache, "niqe", "modelparameters.mat")
	if err != nil || !strings.Contains(out, "niqe-params\t"+dest+"\tsha256 ok\tinstalled from "+src) {
		t.Fatalf("err %v, stdout %q", err, out)
	}
	out, _, err = runCLI(t, "fetch", "--cache", cache, "niqe-params", "--from", src)
	if err != nil || !strings.Contains(out, "cached") {
		t.Errorf("second install: err %v, stdout %q", err, out)
	}

	wrong := testenv.Shared(t, "data", "brisque", "allrange")
	cache = t.TempDir()
	_, _, err = runCLI(t, "fetch", "--cache", cache, "niqe-params", "--from", wrong)
	if err == nil || !strings.Contains(err.Error(), "e47d753d96b631e1aa2dbac8c4e51ade767f2def8ce678c7130b6b3f90ee915f") ||
		!strings.Contains(err.Error(), "fa2aa4d12dd9595c3fb6bf8b4e1a15c79d5d1469238d0901c88dead195be578d") || !strings.Contains(err.Error(), "nothing installed") {
		t.Errorf("mismatch: err = %v, want both digests named", err)
	}
	entries, _ := os.ReadDir(filepath.Join(cache, "niqe"))
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left in the cache after a refused install: %s", e.Name())
		}
	}

	for _, args := range [][]string{
		{"--from", src},
		{"niqe-params", "ceiq-model", "--from", src},
		{"niqe-params", "--from", src, "--mirror", "http://127.0.0.1:1"},
	} {
		_, _, err := runCLI(t, append([]string{"fetch", "--cache", t.TempDir()}, args...)...)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "exactly one asset NAME") {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

// --list names every asset with its size, full sha256 and source URL.
func TestFetchList(t *testing.T) {
	out, _, err := runCLI(t, "fetch", "--list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{
		{"niqe-params", "8347", "fa2aa4d12dd9595c3fb6bf8b4e1a15c79d5d1469238d0901c88dead195be578d",
			"https://raw.githubusercontent.com/utlive/niqe/d80aead297ff48b0254c39806f3a277b3ecbfc8d/modelparameters.mat"},
		{"brisque-model", "353497", "8b04d6045f1b27261610c8ab1730fdcc14ec80bfab0f1ab5f703bbc2927314de", "utlive/BRISQUE/"},
		{"brisque-range", "741", "e47d753d96b631e1aa2dbac8c4e51ade767f2def8ce678c7130b6b3f90ee915f", "/MATLAB/allrange"},
		{"ceiq-model", "22821", "f2c2300adbf6fbe09dfa46c5b05e47e8fb96c810f7b582344f6c3bf201e93d6d",
			"https://raw.githubusercontent.com/mtobeiyf/CEIQ/c92b6a19ccf45d783928e00ae4262cb9f289fed2/data/model.mat"},
		{"clip-rn50", "unknown", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", "https://openaipublic.azureedge.net/"},
		{"resnet50-imagenet", "102530333", "https://download.pytorch.org/models/resnet50-0676ba61.pth"},
		{"clip-vocab", "1356917", "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"},
	} {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, want[0]+" ") {
				line = l
			}
		}
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("--list line for %s lacks %q: %q", want[0], w, line)
			}
		}
	}
}
