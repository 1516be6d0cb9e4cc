package featcache

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
)

// meanRGB is a stand-in extractor: the mean of each channel, counted so tests see what was computed.
func meanRGB(calls *atomic.Int64) Extractor {
	return Extractor{Name: "mean", Version: "1", Len: 3, Features: func(img preprocess.RGB) ([]float64, error) {
		calls.Add(1)
		var s [3]float64
		for i, v := range img.Pix {
			s[i%3] += float64(v)
		}
		n := float64(img.W * img.H)
		return []float64{s[0] / n, s[1] / n, s[2] / n}, nil
	}}
}

// writePNG writes a w x h image of one colour and returns its path.
func writePNG(t *testing.T, dir, name string, w, h int, c color.NRGBA) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, c)
		}
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return p
}

func items(t *testing.T, dir string, n int) []dataset.Item {
	var out []dataset.Item
	for i := 0; i < n; i++ {
		name := string(rune('a'+i)) + ".png"
		out = append(out, dataset.Item{Image: name, Path: writePNG(t, dir, name, 5+i, 4, color.NRGBA{uint8(10 * i), 7, 200, 255})})
	}
	return out
}

func TestExtractCachesAndReusesExactly(t *testing.T) {
	imgDir, cache := t.TempDir(), t.TempDir()
	its := items(t, imgDir, 6)
	var calls atomic.Int64
	ex := meanRGB(&calls)
	var last int
	res, err := Extract(context.Background(), ex, "ds", its, cache, Options{Workers: 3, Progress: func(d, n int) { last = d }})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 6 || len(res.Features) != 6 || res.Cached != 0 || last != 6 {
		t.Fatalf("first run: %d calls, %d vectors, %d cached, progress %d", calls.Load(), len(res.Features), res.Cached, last)
	}
	for i, it := range its {
		if got := res.Features[it.Image]; got[0] != float64(10*i) || got[1] != 7 || got[2] != 200 {
			t.Errorf("%s: %v", it.Image, got)
		}
	}
	// Second run: nothing extracted; one image replaced on disk is extracted again.
	writePNG(t, imgDir, "c.png", 3, 3, color.NRGBA{1, 2, 3, 255})
	calls.Store(0)
	res2, err := Extract(context.Background(), ex, "ds", its, cache, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || res2.Cached != 5 || res2.Features["c.png"][0] != 1 {
		t.Errorf("second run: %d calls, %d cached, c.png %v", calls.Load(), res2.Cached, res2.Features["c.png"])
	}
	for _, it := range its {
		if it.Image != "c.png" && !equal(res2.Features[it.Image], res.Features[it.Image]) {
			t.Errorf("%s: cached %v, computed %v", it.Image, res2.Features[it.Image], res.Features[it.Image])
		}
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A torn last line (a killed run) is dropped and that image extracted again; another extractor's file
// under the same name is refused.
func TestExtractTornLineAndWrongKey(t *testing.T) {
	imgDir, cache := t.TempDir(), t.TempDir()
	its := items(t, imgDir, 3)
	var calls atomic.Int64
	ex := meanRGB(&calls)
	if _, err := Extract(context.Background(), ex, "ds", its, cache, Options{}); err != nil {
		t.Fatal(err)
	}
	p := Path(cache, "ds", ex)
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, b[:len(b)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	calls.Store(0)
	res, err := Extract(context.Background(), ex, "ds", its, cache, Options{})
	if err != nil || calls.Load() != 1 || res.Cached != 2 {
		t.Fatalf("after a torn line: %v, %d calls, %+v", err, calls.Load(), res)
	}
	if _, err := Extract(context.Background(), ex, "ds", its, cache, Options{}); err != nil {
		t.Fatalf("the repaired file does not read back: %v", err)
	}
	other := ex
	other.Len = 4
	os.Rename(p, Path(cache, "ds", other))
	if _, err := Extract(context.Background(), other, "ds", its, cache, Options{}); err == nil || !strings.Contains(err.Error(), ":1: key line") {
		t.Errorf("a file of another extractor: %v", err)
	}
}

// Failures are per image and name it: a missing file, a FIFO (refused, never opened), a wrong length,
// a NaN feature. The run goes on.
func TestExtractFailuresNameTheImage(t *testing.T) {
	imgDir, cache := t.TempDir(), t.TempDir()
	its := items(t, imgDir, 2)
	fifo := filepath.Join(imgDir, "pipe.png")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	its = append(its, dataset.Item{Image: "gone.png", Path: filepath.Join(imgDir, "gone.png")}, dataset.Item{Image: "pipe.png", Path: fifo})
	res, err := Extract(context.Background(), Extractor{Name: "bad", Version: "1", Len: 2, Features: func(img preprocess.RGB) ([]float64, error) {
		if img.W == 5 {
			return []float64{1, 0 / zero()}, nil
		}
		return []float64{1}, nil
	}}, "ds", its, cache, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a.png": "feature 1 is NaN", "b.png": "gave 1 features, want 2", "gone.png": "no such file", "pipe.png": "not a regular file"}
	for img, w := range want {
		if got := res.Failed[img]; !strings.Contains(got, w) {
			t.Errorf("%s: %q, want it to say %q", img, got, w)
		}
	}
}

func zero() float64 { return 0 }

// A cancelled run stops and says where the finished vectors are.
func TestExtractCancelKeepsWhatIsDone(t *testing.T) {
	imgDir, cache := t.TempDir(), t.TempDir()
	its := items(t, imgDir, 5)
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	ex := meanRGB(&calls)
	inner := ex.Features
	ex.Features = func(img preprocess.RGB) ([]float64, error) {
		if calls.Load() == 2 {
			cancel()
		}
		return inner(img)
	}
	_, err := Extract(ctx, ex, "ds", its, cache, Options{Workers: 1})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "kept in") {
		t.Fatalf("err = %v", err)
	}
	calls.Store(0)
	res, err := Extract(context.Background(), meanRGB(&calls), "ds", its, cache, Options{})
	if err != nil || res.Cached < 2 || int(calls.Load())+res.Cached != 5 {
		t.Errorf("resume: %v, cached %d, computed %d", err, res.Cached, calls.Load())
	}
}
