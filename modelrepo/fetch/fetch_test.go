package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

type testServer struct {
	*httptest.Server
	mu       sync.Mutex
	ranges   []string
	requests int
}

// newServer serves body at /w.bin with Range support; dropFirst makes the first
// response stop half way through by closing the connection.
func newServer(t *testing.T, body []byte, dropFirst bool) *testServer {
	ts := &testServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.requests++
		n := ts.requests
		ts.ranges = append(ts.ranges, r.Header.Get("Range"))
		ts.mu.Unlock()
		if r.URL.Path != "/w.bin" {
			http.NotFound(w, r)
			return
		}
		if dropFirst && n == 1 {
			w.Header().Set("Content-Length", "999999")
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		http.ServeContent(w, r, "w.bin", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(ts.Close)
	return ts
}

func payload(n int) ([]byte, string) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	s := sha256.Sum256(b)
	return b, hex.EncodeToString(s[:])
}

func TestFetchDownloadsAndVerifies(t *testing.T) {
	body, sum := payload(300_000)
	ts := newServer(t, body, false)
	dir := t.TempDir()
	var last int64
	f := &Fetcher{Dir: dir, Progress: func(_ string, done, _ int64) { last = done }}
	a := Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: sum, Path: "sub/w.bin"}
	res, err := f.Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "sub", "w.bin"))
	if err != nil || !bytes.Equal(got, body) || !res.Downloaded {
		t.Fatalf("downloaded file wrong: err=%v equal=%v downloaded=%v", err, bytes.Equal(got, body), res.Downloaded)
	}
	if last != int64(len(body)) {
		t.Errorf("last progress %d, want %d", last, len(body))
	}
	// A second fetch finds the verified file and asks the server nothing.
	before := ts.requests
	res, err = f.Fetch(context.Background(), a)
	if err != nil || res.Downloaded || ts.requests != before {
		t.Errorf("second fetch: err=%v downloaded=%v requests %d->%d", err, res.Downloaded, before, ts.requests)
	}
}

func TestFetchResumesPartialFile(t *testing.T) {
	body, sum := payload(200_000)
	ts := newServer(t, body, false)
	dir := t.TempDir()
	dest := filepath.Join(dir, "w.bin")
	if err := os.WriteFile(dest+".part", body[:120_000], 0o644); err != nil {
		t.Fatal(err)
	}
	f := &Fetcher{Dir: dir}
	res, err := f.Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: sum, Path: "w.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 120_000 {
		t.Errorf("Resumed = %d, want 120000", res.Resumed)
	}
	if len(ts.ranges) != 1 || ts.ranges[0] != "bytes=120000-" {
		t.Errorf("Range headers sent: %q", ts.ranges)
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, body) {
		t.Error("resumed file differs from the original")
	}
	if _, err := os.Stat(dest + ".part"); !os.IsNotExist(err) {
		t.Error(".part file left behind")
	}
}

func TestFetchRetriesDroppedConnectionByResuming(t *testing.T) {
	body, sum := payload(100_000)
	ts := newServer(t, body, true)
	f := &Fetcher{Dir: t.TempDir(), Retries: 2}
	if _, err := f.Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: sum, Path: "w.bin"}); err != nil {
		t.Fatal(err)
	}
	if len(ts.ranges) != 2 || ts.ranges[1] != "bytes=50000-" {
		t.Errorf("want a resumed second request from byte 50000, got ranges %q", ts.ranges)
	}
}

func TestFetchRefusesChecksumMismatch(t *testing.T) {
	body, _ := payload(10_000)
	ts := newServer(t, body, false)
	dir := t.TempDir()
	want := strings.Repeat("ab", 32)
	_, err := (&Fetcher{Dir: dir}).Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: want, Path: "w.bin"})
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Want != want || ce.Asset != "w" {
		t.Fatalf("err = %v, want *ChecksumError", err)
	}
	for _, p := range []string{"w.bin", "w.bin.part"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("%s still on disk after a checksum mismatch", p)
		}
	}
}

func TestFetchReplacesCorruptCachedFile(t *testing.T) {
	body, sum := payload(10_000)
	ts := newServer(t, body, false)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "w.bin"), []byte("not the weights"), 0o644)
	res, err := (&Fetcher{Dir: dir}).Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: sum, Path: "w.bin"})
	if err != nil || !res.Downloaded {
		t.Fatalf("err=%v downloaded=%v", err, res.Downloaded)
	}
}

func TestFetchHTTPErrorNamesAssetAndURL(t *testing.T) {
	ts := newServer(t, []byte("x"), false)
	_, err := (&Fetcher{Dir: t.TempDir(), Retries: 3}).Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/missing", SHA256: "00", Path: "w.bin"})
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "/missing") {
		t.Fatalf("err = %v", err)
	}
	if ts.requests != 1 {
		t.Errorf("a 404 is permanent: %d requests, want 1", ts.requests)
	}
}

// A server that accepts and then sends nothing (before the headers or in the
// middle of the body) is given up on after Stall, naming the asset and URL,
// instead of hanging the command.
func TestFetchGivesUpOnStalledServer(t *testing.T) {
	body, sum := payload(10_000)
	release := make(chan struct{})
	var mu sync.Mutex
	requests := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		if r.URL.Path == "/half" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); ts.Close() })
	for _, c := range []struct {
		path, want string
		requests   int
	}{
		// No answer at all is not retried; a stalled body is resumed.
		{"/silent", "w: GET " + ts.URL + "/silent: server stalled: nothing received for 100ms", 1},
		{"/half", "w: reading " + ts.URL + "/half after 5000 bytes: server stalled: nothing received for 100ms", 2},
	} {
		mu.Lock()
		requests = 0
		mu.Unlock()
		f := &Fetcher{Dir: t.TempDir(), Retries: 1, Stall: 100 * time.Millisecond}
		_, err := f.Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + c.path, SHA256: sum, Path: "w.bin"})
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: err = %v, want %q", c.path, err, c.want)
		}
		mu.Lock()
		if requests != c.requests {
			t.Errorf("%s: %d requests, want %d", c.path, requests, c.requests)
		}
		mu.Unlock()
	}
}

// A refused connection names the URL once (net/http's own error repeats it).
func TestFetchConnectionErrorNamesURLOnce(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	u := ts.URL + "/w.bin"
	ts.Close()
	_, err := (&Fetcher{Dir: t.TempDir()}).Fetch(context.Background(), Asset{Name: "w", URL: u, SHA256: "00", Path: "w.bin"})
	if err == nil || strings.Count(err.Error(), u) != 1 || !strings.HasPrefix(err.Error(), "w: GET "+u+": ") {
		t.Errorf("err = %v, want the URL named once", err)
	}
}

// Negative Retries still makes one attempt (it used to make none and then
// report the empty .part file as a checksum mismatch).
func TestFetchNegativeRetriesStillDownloads(t *testing.T) {
	body, sum := payload(10_000)
	ts := newServer(t, body, false)
	res, err := (&Fetcher{Dir: t.TempDir(), Retries: -1}).Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: sum, Path: "w.bin"})
	if err != nil || !res.Downloaded {
		t.Fatalf("err=%v downloaded=%v", err, res.Downloaded)
	}
}

func TestCatalogEntriesAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range Catalog {
		// Trust-on-first-use assets have no published checksum, and may have no URL (--from only).
		tofu := a.TrustOnFirstUse && a.SHA256 == "" && (a.URL == "" || strings.HasPrefix(a.URL, "https://"))
		if seen[a.Name] || !(tofu || isHexSHA256(a.SHA256) && strings.HasPrefix(a.URL, "https://")) || a.Path == "" {
			t.Errorf("bad catalogue entry %+v", a)
		}
		// OpenAI names each file by its sha256: the catalogue's must be that one.
		if strings.HasPrefix(a.URL, "https://openaipublic.azureedge.net/clip/models/") &&
			strings.Split(strings.TrimPrefix(a.URL, "https://openaipublic.azureedge.net/clip/models/"), "/")[0] != a.SHA256 {
			t.Errorf("%s: sha256 %s is not the one in its URL %s", a.Name, a.SHA256, a.URL)
		}
		seen[a.Name] = true
	}
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "clip-rn50") {
		t.Errorf("Lookup error should list known assets: %v", err)
	}
}

// The vocabulary's published checksum must be that of the copy in ../shared.
func TestVocabChecksumMatchesSharedCopy(t *testing.T) {
	path := testenv.Shared(t, "data", "clip", "bpe_simple_vocab_16e6.txt.gz")
	a, _ := Lookup("clip-vocab")
	sum, err := fileSHA256(path)
	if err != nil || sum != a.SHA256 {
		t.Errorf("shared vocab sha256 %s (err %v), catalogue says %s", sum, err, a.SHA256)
	}
}

// A server that ignores Range answers 200 with the whole file: the download
// starts over, and the result must not claim the old bytes were resumed
// (`agiqa fetch` prints "resumed at N bytes" from it).
func TestFetchServerIgnoringRangeStartsOver(t *testing.T) {
	body, sum := payload(200_000)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	t.Cleanup(ts.Close)
	res := fetchOverLeftover(t, Asset{Name: "w", URL: ts.URL, SHA256: sum, Path: "w.bin"}, body[:120_000], body)
	if res.Resumed != 0 {
		t.Errorf("Resumed = %d after the server sent the whole file again, want 0", res.Resumed)
	}
}

// hijackServer answers the first request with a raw HTTP response written by
// first (then closes the connection), and later ones with ServeContent.
func hijackServer(t *testing.T, body []byte, first func(w *bytes.Buffer)) *testServer {
	ts := &testServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.requests++
		n := ts.requests
		ts.ranges = append(ts.ranges, r.Header.Get("Range"))
		ts.mu.Unlock()
		if n == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			var b bytes.Buffer
			first(&b)
			conn.Write(b.Bytes())
			conn.Close()
			return
		}
		http.ServeContent(w, r, "w.bin", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(ts.Close)
	return ts
}

// A response without Content-Length ends when the connection closes, so a
// dropped connection looks like a complete file. With the asset's size known
// the short file is resumed, not hashed, reported as a checksum mismatch and
// deleted.
func TestFetchShortCloseDelimitedBodyIsResumed(t *testing.T) {
	body, sum := payload(100_000)
	ts := hijackServer(t, body, func(w *bytes.Buffer) {
		w.WriteString("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
		w.Write(body[:40_000])
	})
	f := &Fetcher{Dir: t.TempDir(), Retries: 1}
	res, err := f.Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: sum, Size: int64(len(body)), Path: "w.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(res.Path); !bytes.Equal(got, body) {
		t.Error("file differs from the original")
	}
	if len(ts.ranges) != 2 || ts.ranges[1] != "bytes=40000-" {
		t.Errorf("want a second request resuming at 40000, got ranges %q", ts.ranges)
	}
}

// A 206 must carry the bytes asked for; one starting elsewhere (a proxy that
// sends the whole file as 206) is written at the offset it names.
func TestFetchPartialContentAtAnotherOffset(t *testing.T) {
	body, sum := payload(100_000)
	var mu sync.Mutex
	requests := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		w.Header().Set("Content-Range", "bytes 0-99999/100000")
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body)
	}))
	t.Cleanup(ts.Close)
	res := fetchOverLeftover(t, Asset{Name: "w", URL: ts.URL, SHA256: sum, Path: "w.bin"}, body[:30_000], body)
	if requests != 1 || res.Resumed != 0 {
		t.Errorf("%d requests, Resumed %d; want 1 request and 0 resumed bytes", requests, res.Resumed)
	}
}

// A .part file left by an earlier run can be wrong (longer than the asset,
// or holding other bytes). Its bytes were not downloaded by this call, so a
// mismatch is not the server's: the file is fetched whole once more, and only
// a mismatch of a fresh download is reported.
func TestFetchBadLeftoverPartIsDownloadedAgain(t *testing.T) {
	body, sum := payload(100_000)
	for _, c := range []struct {
		name string
		part []byte
		size int64
	}{
		{"longer, size unknown", append(slices.Clone(body), "trailing junk"...), 0},
		{"longer, size known", append(slices.Clone(body), "trailing junk"...), int64(len(body))},
		{"other bytes", bytes.Repeat([]byte{7}, 60_000), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := newServer(t, body, false)
			res := fetchOverLeftover(t, Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: sum, Size: c.size, Path: "w.bin"}, c.part, body)
			if res.Resumed != 0 {
				t.Errorf("Resumed = %d, want 0 (the leftover was discarded)", res.Resumed)
			}
		})
	}
	// A fresh download that does not verify is still refused, once.
	ts := newServer(t, body, false)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "w.bin.part"), body[:10], 0o644)
	_, err := (&Fetcher{Dir: dir}).Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/w.bin", SHA256: strings.Repeat("cd", 32), Path: "w.bin"})
	var ce *ChecksumError
	if !errors.As(err, &ce) || ts.requests != 2 {
		t.Errorf("err = %v after %d requests; want a *ChecksumError after 2 (the resumed one, then a fresh one)", err, ts.requests)
	}
	if _, err := os.Stat(filepath.Join(dir, "w.bin.part")); !os.IsNotExist(err) {
		t.Error(".part file left after a checksum mismatch")
	}
}

// A refused request leaves no empty .part file behind.
func TestFetchHTTPErrorLeavesNoPartFile(t *testing.T) {
	ts := newServer(t, []byte("x"), false)
	dir := t.TempDir()
	if _, err := (&Fetcher{Dir: dir}).Fetch(context.Background(), Asset{Name: "w", URL: ts.URL + "/missing", SHA256: "00", Path: "w.bin"}); err == nil {
		t.Fatal("no error for a 404")
	}
	if _, err := os.Stat(filepath.Join(dir, "w.bin.part")); !os.IsNotExist(err) {
		t.Errorf("empty .part file left behind after a 404 (stat: %v)", err)
	}
}

// Cancelling the context stops the download, keeps what arrived for the next
// run to resume from, and does not retry. (Progress always reports the first
// write, which is when this test cancels.)
func TestFetchCancelKeepsPartial(t *testing.T) {
	body, sum := payload(100_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	var requests int
	var mu sync.Mutex
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:30_000])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); ts.Close() })
	dir := t.TempDir()
	f := &Fetcher{Dir: dir, Retries: 3, Progress: func(_ string, done, _ int64) {
		if done > 0 {
			cancel()
		}
	}}
	_, err := f.Fetch(ctx, Asset{Name: "w", URL: ts.URL, SHA256: sum, Path: "w.bin"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	kept, err := os.ReadFile(filepath.Join(dir, "w.bin.part"))
	if err != nil || len(kept) == 0 || !bytes.Equal(kept, body[:len(kept)]) {
		t.Errorf(".part after cancel: %d bytes (%v); want the bytes that arrived kept", len(kept), err)
	}
	if requests != 1 {
		t.Errorf("%d requests after cancel, want 1", requests)
	}
}

// Redirects are followed and the Range header goes with them.
func TestFetchResumesThroughRedirect(t *testing.T) {
	body, sum := payload(50_000)
	ts := newServer(t, body, false)
	redir := httptest.NewServer(http.RedirectHandler(ts.URL+"/w.bin", http.StatusFound))
	t.Cleanup(redir.Close)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "w.bin.part"), body[:20_000], 0o644)
	res, err := (&Fetcher{Dir: dir}).Fetch(context.Background(), Asset{Name: "w", URL: redir.URL + "/x", SHA256: sum, Path: "w.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 20_000 || len(ts.ranges) != 1 || ts.ranges[0] != "bytes=20000-" {
		t.Errorf("Resumed %d, ranges at the target %q; want 20000 and bytes=20000-", res.Resumed, ts.ranges)
	}
}

// Two fetches of one asset into one cache (two terminals, two CI jobs) must
// not append to the same .part file: the second is refused while the first
// runs, and succeeds without a download once the first is done.
func TestFetchRefusesAConcurrentFetchOfTheSameAsset(t *testing.T) {
	body, sum := payload(100_000)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:30_000])
		w.(http.Flusher).Flush()
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
			w.Write(body[30_000:])
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	dir := t.TempDir()
	a := Asset{Name: "w", URL: ts.URL, SHA256: sum, Path: "w.bin"}
	first := make(chan error, 1)
	go func() {
		_, err := (&Fetcher{Dir: dir}).Fetch(context.Background(), a)
		first <- err
	}()
	<-arrived
	_, err := (&Fetcher{Dir: dir}).Fetch(context.Background(), a)
	var busy *BusyError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), "w: another fetch is writing "+filepath.Join(dir, "w.bin")) {
		t.Errorf("second fetch while the first runs: %v; want a BusyError naming the asset and file", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first fetch: %v", err)
	}
	res, err := (&Fetcher{Dir: dir}).Fetch(context.Background(), a)
	if err != nil || res.Downloaded {
		t.Errorf("fetch after the first finished: downloaded=%v err=%v; want the cached file", res.Downloaded, err)
	}
}

// fetchOverLeftover fetches a into a cache whose w.bin.part holds leftover,
// and checks the result is the original body.
func fetchOverLeftover(t *testing.T, a Asset, leftover, body []byte) Result {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin.part"), leftover, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := (&Fetcher{Dir: dir}).Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(res.Path); !bytes.Equal(got, body) {
		t.Error("file differs from the original")
	}
	return res
}
