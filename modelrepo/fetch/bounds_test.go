package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A server that sends far more than the published size used to fill the disk (3.2 GB for a 1.4 MB
// asset): the download stops at Size, the error names both sizes, and nothing past Size is written.
func TestFetchStopsAtPublishedSize(t *testing.T) {
	body, sum := payload(10_000)
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // no Content-Length: chunked, ends only when the server stops
		w.Write(body)
		junk := bytes.Repeat([]byte{0xAA}, 64<<10)
		for i := 0; i < 1600; i++ { // 100 MiB, unless the client hangs up first
			if _, err := w.Write(junk); err != nil {
				return
			}
		}
	}))
	defer endless.Close()
	dir := t.TempDir()
	f := &Fetcher{Dir: dir, Retries: 2}
	a := Asset{Name: "w", URL: endless.URL + "/w.bin", SHA256: sum, Size: int64(len(body)), Path: "w.bin"}
	done := make(chan error, 1)
	go func() { _, err := f.Fetch(context.Background(), a); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Fetch still running after 20 s against a server that sends too much")
	}
	if err == nil || !strings.Contains(err.Error(), "longer than its published size of 10000 bytes") {
		t.Fatalf("err = %v; want the body named as longer than the published size", err)
	}
	for _, p := range []string{"w.bin", "w.bin.part"} {
		if st, err := os.Stat(filepath.Join(dir, p)); err == nil && st.Size() > a.Size {
			t.Errorf("%s holds %d bytes, more than the asset's %d", p, st.Size(), a.Size)
		}
	}
}

// A body that ends before the published size, with a Content-Length that says it is complete, is
// reported as short with both sizes, not hashed and reported as a checksum mismatch.
func TestFetchShortBodyReportedAsShort(t *testing.T) {
	body, sum := payload(10_000)
	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4000")
		w.WriteHeader(http.StatusOK)
		w.Write(body[:4000])
	}))
	defer short.Close()
	f := &Fetcher{Dir: t.TempDir()}
	_, err := f.Fetch(context.Background(), Asset{Name: "w", URL: short.URL + "/w.bin", SHA256: sum, Size: int64(len(body)), Path: "w.bin"})
	var ce *ChecksumError
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "short") ||
		!strings.Contains(err.Error(), "4000 of 10000 bytes") {
		t.Errorf("err = %v; want it short, naming 4000 of 10000 bytes", err)
	}
}

// A leftover .part that is a symbolic link is refused, never followed: the file it points at keeps
// its bytes.
func TestFetchRefusesSymlinkedPart(t *testing.T) {
	body, sum := payload(5_000)
	ts := newServer(t, body, false)
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	if err := os.Symlink(victim, filepath.Join(dir, "w.bin.part")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	f := &Fetcher{Dir: dir}
	_, err := f.Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: sum, Size: int64(len(body)), Path: "w.bin"})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), "w.bin.part") {
		t.Errorf("err = %v; want the .part refused as a symbolic link", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link's target now holds %d bytes %.20q", len(b), b)
	}
	if ts.requests != 0 {
		t.Errorf("%d requests made before refusing", ts.requests)
	}
}

// A .part that is a directory (or any non-regular file) is refused by name too.
func TestFetchRefusesNonRegularPart(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "w.bin.part"), 0o755)
	f := &Fetcher{Dir: dir}
	_, err := f.Fetch(context.Background(), Asset{Name: "w", URL: "http://127.0.0.1:1/w.bin", SHA256: strings.Repeat("0", 64), Path: "w.bin"})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("err = %v", err)
	}
}

// The size a server states is not trusted over the published one: a Content-Range total larger
// than Size is refused before a byte is written.
func TestFetchRefusesServerSizeAbovePublished(t *testing.T) {
	body, sum := payload(1_000)
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(1<<30))
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}))
	defer big.Close()
	dir := t.TempDir()
	f := &Fetcher{Dir: dir}
	_, err := f.Fetch(context.Background(), Asset{Name: "w", URL: big.URL + "/w.bin", SHA256: sum, Size: int64(len(body)), Path: "w.bin"})
	if err == nil || !strings.Contains(err.Error(), "longer than its published size of 1000 bytes") ||
		!strings.Contains(err.Error(), strconv.Itoa(1<<30)) {
		t.Errorf("err = %v", err)
	}
}
