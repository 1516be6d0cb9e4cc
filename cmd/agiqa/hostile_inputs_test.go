package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// bombPNG declares 100000 x 100000 RGB pixels in 66 bytes.
func bombPNG() []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 2
	for _, c := range [][]byte{append([]byte("IHDR"), ihdr...), []byte("IDAT\x78\x9c\x63\x00\x00\x00\x01\x00\x01"), []byte("IEND")} {
		binary.Write(&b, binary.BigEndian, uint32(len(c)-4))
		b.Write(c)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	return b.Bytes()
}

// runWithin runs the CLI and fails fast if it has not returned after d.
func runWithin(t *testing.T, d time.Duration, args ...string) (string, error) {
	t.Helper()
	type result struct {
		stderr string
		err    error
	}
	done := make(chan result, 1)
	go func() { _, e, err := runCLI(t, args...); done <- result{e, err} }()
	select {
	case r := <-done:
		return r.stderr, r.err
	case <-time.After(d):
		t.Fatalf("%q still running after %v (hangs)", args, d)
		return "", nil
	}
}

// hostileDataset is a CSV dataset whose one image is made by mk.
func hostileDataset(t *testing.T, mk func(path string)) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "labels.csv"), []byte("image,prompt,mos\nx.png,a cat,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	mk(filepath.Join(dir, "images", "x.png"))
	return dir
}

// The hostile test's reproductions: a decompression bomb killed data --preflight and tables, a
// FIFO named like an image hung data, infer and tables. Each now fails at once, saying why; a lower
// --max-pixels is honoured and a bad value is a usage error.
func TestHostileImagesFailFast(t *testing.T) {
	t.Cleanup(func() { preprocess.SetDefaultLimits(preprocess.Limits{}); dataset.SetDefaultLimits(dataset.Limits{}) })
	bomb := hostileDataset(t, func(p string) { os.WriteFile(p, bombPNG(), 0o644) })
	fifo := hostileDataset(t, func(p string) { testenv.Mkfifo(t, p) })
	cache := filepath.Join(t.TempDir(), "cache")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"data", "--dataset", "csv=" + bomb, "--preflight"}, []string{"x.png", "100000x100000", "limit of 178956970 pixels", "--max-pixels"}},
		{[]string{"data", "--dataset", "csv=" + fifo, "--preflight"}, []string{"x.png", "named pipe"}},
		{[]string{"tables", "--cache", cache, "--models", "contrast_rms", "--splits", "1", "--dataset", "csv=" + bomb}, []string{"x.png", "100000x100000"}},
		{[]string{"tables", "--cache", cache, "--models", "contrast_rms", "--splits", "1", "--dataset", "csv=" + fifo}, []string{"x.png", "named pipe"}},
		{[]string{"infer", "--server", "127.0.0.1:1", "--model", "m", "--image", filepath.Join(fifo, "images", "x.png")}, []string{"--image", "named pipe (FIFO), not an image file"}},
		{[]string{"infer", "--server", "127.0.0.1:1", "--model", "m", "--image", filepath.Join(bomb, "images", "x.png")}, []string{"--image", "100000x100000"}},
		{[]string{"infer", "--server", "127.0.0.1:1", "--model", "m", "--image", bomb}, []string{"is a directory, not an image file"}},
	} {
		stderr, err := runWithin(t, 30*time.Second, c.args...)
		if err == nil {
			t.Errorf("%q: no error", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error()+stderr, w) {
				t.Errorf("%q: %v (stderr %q) does not say %q", c.args, err, stderr, w)
			}
		}
	}
	small := hostileDataset(t, func(p string) { os.WriteFile(p, bombPNG()[:0], 0o644) })
	if _, err := runWithin(t, 30*time.Second, "data", "--dataset", "csv="+small, "--preflight"); err == nil || !strings.Contains(err.Error(), "empty file (0 bytes)") {
		t.Errorf("zero-byte image: %v", err)
	}
	wantUsage(t, "--max-pixels 0", "data", "--dataset", "csv="+bomb, "--max-pixels", "0")
	wantUsage(t, "--max-label-bytes -1", "eval", "--dataset", "csv="+bomb, "--predictions", "p.csv", "--max-label-bytes", "-1")
	_, err := runWithin(t, 30*time.Second, "data", "--dataset", "csv="+bomb, "--max-label-bytes", "10")
	if err == nil || !strings.Contains(err.Error(), "over the label-file cap of 10 bytes") {
		t.Errorf("--max-label-bytes 10: %v", err)
	}
}
