package main

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/baselines/niqe"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
)

// writeTexture writes a w x h PNG of smooth random structure plus noise
// whose strength changes across the image, so the blocks differ in
// sharpness and the selection keeps some and drops others.
func writeTexture(t *testing.T, path string, w, h int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fx, fy, ph := 0.02+0.05*r.Float64(), 0.02+0.05*r.Float64(), 6*r.Float64()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			amp := 10 + 50*float64(x)/float64(w)
			base := 128 + 60*math.Sin(fx*float64(x)+ph)*math.Cos(fy*float64(y))
			v := func() uint8 { return uint8(math.Max(0, math.Min(255, base+amp*r.NormFloat64()))) }
			img.Set(x, y, color.RGBA{v(), v(), v(), 255})
		}
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := png.Encode(fh, img); err != nil {
		t.Fatal(err)
	}
}

func decodeRGB8(t *testing.T, path string) *matlab.RGB8 {
	t.Helper()
	img, err := preprocess.DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return extractor.FromPacked(img)
}

// niqe fit on generated images, against niqe.Fit on the same images: the
// written model is the same model (to the bit, JSON keeps 17 digits), so it
// scores an image exactly as the in-memory fit does. Images under one block
// or constant are skipped and said so; other files are ignored.
func TestNiqeFitMatchesPackageFit(t *testing.T) {
	dir := t.TempDir()
	writeTexture(t, filepath.Join(dir, "a.png"), 288, 192, 1)
	writeTexture(t, filepath.Join(dir, "b.png"), 200, 300, 2)
	writeTexture(t, filepath.Join(dir, "c.PNG"), 400, 250, 3)
	writeTexture(t, filepath.Join(dir, "small.png"), 60, 50, 4)
	flat := image.NewGray(image.Rect(0, 0, 120, 100))
	for i := range flat.Pix {
		flat.Pix[i] = 90
	}
	fh, err := os.Create(filepath.Join(dir, "flat.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(fh, flat); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pristine.json")
	stdout, stderr, err := runCLI(t, "niqe", "fit", dir, "-o", out, "--workers", "2")
	if err != nil {
		t.Fatalf("niqe fit: %v\n%s", err, stderr)
	}
	checkGolden(t, "niqe_fit", []byte(strings.ReplaceAll(stdout+stderr, out, "OUT")))

	var images []*matlab.RGB8
	for _, name := range []string{"a.png", "b.png", "c.PNG", "flat.png", "small.png"} { // name order
		images = append(images, decodeRGB8(t, filepath.Join(dir, name)))
	}
	want, info, err := niqe.Fit(context.Background(), images)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	got, err := niqe.Read(fr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want.Cov {
		if i < len(want.Mu) && got.Mu[i] != want.Mu[i] {
			t.Errorf("mu[%d] %.17g, niqe.Fit %.17g", i, got.Mu[i], want.Mu[i])
		}
		if got.Cov[i] != want.Cov[i] {
			t.Errorf("cov[%d] %.17g, niqe.Fit %.17g", i, got.Cov[i], want.Cov[i])
		}
	}
	if info.Images != 3 {
		t.Errorf("niqe.Fit used %d images, want 3", info.Images)
	}
	probe := images[1]
	q1, err1 := got.Score(context.Background(), probe)
	q2, err2 := want.Score(context.Background(), probe)
	if err1 != nil || err2 != nil || q1 != q2 || math.IsNaN(q1) {
		t.Errorf("b.png: file model %v (%v), niqe.Fit model %v (%v)", q1, err1, q2, err2)
	}
}

func TestNiqeFitErrors(t *testing.T) {
	dir := t.TempDir()
	writeTexture(t, filepath.Join(dir, "a.png"), 200, 200, 1)
	out := filepath.Join(t.TempDir(), "m.json")
	var ue *usageError
	if _, _, err := runCLI(t, "niqe", "fit", dir); !errors.As(err, &ue) || !strings.Contains(err.Error(), "-o FILE is required") {
		t.Errorf("no -o: %v", err)
	}
	if _, _, err := runCLI(t, "niqe", "fit", dir, "-o", out, "--threshold", "1"); !errors.As(err, &ue) {
		t.Errorf("--threshold 1: %v, want a usage error", err)
	}
	if _, _, err := runCLI(t, "niqe", "estimate"); !errors.As(err, &ue) {
		t.Errorf("unknown subcommand: %v, want a usage error", err)
	}
	empty := t.TempDir()
	if _, _, err := runCLI(t, "niqe", "fit", empty, "-o", out); err == nil || !strings.Contains(err.Error(), empty+" holds no .jpg") {
		t.Errorf("empty folder: %v", err)
	}
	bad := filepath.Join(dir, "b.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nbroken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "niqe", "fit", dir, "-o", out, "-q"); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt image: %v, want an error naming %s", err, bad)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed fit left %s (%v)", out, err)
	}
	// One image with a single sharp block cannot make a covariance.
	one := t.TempDir()
	writeTexture(t, filepath.Join(one, "a.png"), 100, 100, 1)
	if _, _, err := runCLI(t, "niqe", "fit", one, "-o", out, "-q"); err == nil || !strings.Contains(err.Error(), "need at least 2") {
		t.Errorf("one block: %v", err)
	}
}
