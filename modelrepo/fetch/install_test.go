package fetch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// sharedCopies maps each parameter asset to its copy in ../shared/data (the
// files the authors committed; DESIGN.md lists their checksums).
var sharedCopies = map[string][]string{
	NIQEParams:   {"data", "niqe", "modelparameters.mat"},
	BRISQUEModel: {"data", "brisque", "allmodel"},
	BRISQUERange: {"data", "brisque", "allrange"},
	CEIQModel:    {"data", "ceiq", "model.mat"},
}

// The catalogue's checksums and sizes are those of the shared copies,
// computed here, not copied from the catalogue.
func TestParameterAssetsMatchSharedCopies(t *testing.T) {
	for name, rel := range sharedCopies {
		a, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		path := testenv.Shared(t, rel...)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := fileSHA256(path)
		if err != nil || sum != a.SHA256 || st.Size() != a.Size {
			t.Errorf("%s: shared copy %s has sha256 %s and %d bytes (err %v); catalogue says %s, %d", name, path, sum, st.Size(), err, a.SHA256, a.Size)
		}
		if !strings.HasPrefix(a.URL, "https://raw.githubusercontent.com/") || !pinned(a.URL) {
			t.Errorf("%s: URL %s is not raw.githubusercontent.com at a 40-hex commit", name, a.URL)
		}
	}
}

// pinned: the URL's third path element (after owner/repo) is a full commit id.
func pinned(url string) bool {
	parts := strings.Split(strings.TrimPrefix(url, "https://raw.githubusercontent.com/"), "/")
	if len(parts) < 4 || len(parts[2]) != 40 {
		return false
	}
	for _, c := range parts[2] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// Each shared copy installs with --from, lands where Path finds it, and a
// second install keeps the cached file.
func TestInstallSharedCopies(t *testing.T) {
	dir := t.TempDir()
	f := &Fetcher{Dir: dir}
	for name, rel := range sharedCopies {
		a, _ := Lookup(name)
		src := testenv.Shared(t, rel...)
		if _, err := Path(dir, name); err == nil {
			t.Fatalf("%s: Path found it before the install", name)
		}
		res, err := f.Install(context.Background(), a, src)
		if err != nil || !res.Downloaded {
			t.Fatalf("%s: install: %v (installed %v)", name, err, res.Downloaded)
		}
		p, err := Path(dir, name)
		if err != nil || p != filepath.Join(dir, filepath.FromSlash(a.Path)) {
			t.Fatalf("%s: Path = %q, %v", name, p, err)
		}
		if sum, _ := fileSHA256(p); sum != a.SHA256 {
			t.Errorf("%s: installed file has sha256 %s", name, sum)
		}
		if res, err := f.Install(context.Background(), a, src); err != nil || res.Downloaded {
			t.Errorf("%s: second install: %v (installed again %v)", name, err, res.Downloaded)
		}
	}
	leftovers(t, dir)
}

// leftovers fails on anything in dir but installed files and their locks.
func leftovers(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".install-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// A file with another checksum is refused with both digests named, and the
// cache is left as it was: no destination, no temporary file.
func TestInstallRefusesMismatch(t *testing.T) {
	body, sum := payload(50_000)
	src := filepath.Join(t.TempDir(), "offered.bin")
	if err := os.WriteFile(src, body[:49_999], 0o644); err != nil {
		t.Fatal(err)
	}
	gotSum, _ := fileSHA256(src)
	dir := t.TempDir()
	a := Asset{Name: "w", SHA256: sum, Path: "sub/w.bin"}
	_, err := (&Fetcher{Dir: dir}).Install(context.Background(), a, src)
	var me *MismatchError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), sum) || !strings.Contains(err.Error(), gotSum) || !strings.Contains(err.Error(), src) {
		t.Fatalf("err = %v, want a mismatch naming %s, %s and %s", err, src, sum, gotSum)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub", "w.bin")); !os.IsNotExist(err) {
		t.Errorf("destination exists after a refused install: %v", err)
	}
	leftovers(t, dir)
}

// A wrong file already in the cache is replaced by a verified install.
func TestInstallReplacesWrongCachedFile(t *testing.T) {
	body, sum := payload(10_000)
	dir := t.TempDir()
	dest := filepath.Join(dir, "w.bin")
	os.WriteFile(dest, []byte("stale"), 0o644)
	src := filepath.Join(t.TempDir(), "w.bin")
	os.WriteFile(src, body, 0o644)
	a := Asset{Name: "w", SHA256: sum, Path: "w.bin"}
	if res, err := (&Fetcher{Dir: dir}).Install(context.Background(), a, src); err != nil || !res.Downloaded {
		t.Fatalf("install: %v %v", err, res.Downloaded)
	}
	if got, _ := fileSHA256(dest); got != sum {
		t.Errorf("cached file not replaced (sha256 %s)", got)
	}
}

func TestInstallMissingSourceAndFolder(t *testing.T) {
	a := Asset{Name: "w", SHA256: strings.Repeat("0", 64), Path: "w.bin"}
	f := &Fetcher{Dir: t.TempDir()}
	missing := filepath.Join(t.TempDir(), "nope.bin")
	if _, err := f.Install(context.Background(), a, missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing source: err = %v", err)
	}
	if _, err := f.Install(context.Background(), a, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder as source: err = %v", err)
	}
}

func TestInstallCancelledLeavesNothing(t *testing.T) {
	body, sum := payload(10_000)
	src := filepath.Join(t.TempDir(), "w.bin")
	os.WriteFile(src, body, 0o644)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&Fetcher{Dir: dir}).Install(ctx, Asset{Name: "w", SHA256: sum, Path: "w.bin"}, src)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "w.bin")); !os.IsNotExist(err) {
		t.Error("destination written by a cancelled install")
	}
	leftovers(t, dir)
}

// Path names the fetch command when the asset is absent, and refuses an
// altered file, naming its checksum.
func TestPathMissingAndAltered(t *testing.T) {
	dir := t.TempDir()
	_, err := Path(dir, NIQEParams)
	var me *MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "agiqa fetch niqe-params") || !strings.Contains(err.Error(), "--from FILE") ||
		!strings.Contains(err.Error(), filepath.Join(dir, "niqe", "modelparameters.mat")) {
		t.Errorf("absent: err = %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "niqe"), 0o755)
	os.WriteFile(filepath.Join(dir, "niqe", "modelparameters.mat"), []byte("x"), 0o644)
	xSum := "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" // sha256("x")
	if _, err := Path(dir, NIQEParams); !errors.As(err, &me) || !strings.Contains(err.Error(), xSum) || !strings.Contains(err.Error(), "agiqa fetch niqe-params") {
		t.Errorf("altered: err = %v", err)
	}
	if _, err := Path(dir, "nope"); err == nil || !strings.Contains(err.Error(), `unknown asset "nope"`) {
		t.Errorf("unknown: err = %v", err)
	}
}

// The parameter assets download through the ordinary path from a local
// server that serves the shared copies at the URLs' paths.
func TestFetchParameterAssetsFromLocalServer(t *testing.T) {
	files := map[string]string{}
	for name, rel := range sharedCopies {
		a, _ := Lookup(name)
		files["/"+strings.SplitN(strings.TrimPrefix(a.URL, "https://"), "/", 2)[1]] = testenv.Shared(t, rel...)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, p)
	}))
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	f := &Fetcher{Dir: dir}
	for name := range sharedCopies {
		a, _ := Lookup(name)
		a.URL = ts.URL + "/" + strings.SplitN(strings.TrimPrefix(a.URL, "https://"), "/", 2)[1]
		if res, err := f.Fetch(context.Background(), a); err != nil || !res.Downloaded {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := Path(dir, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
