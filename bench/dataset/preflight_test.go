package dataset

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for y := 0; y < 24; y++ {
		for x := 0; x < 32; x++ {
			img.Set(x, y, color.RGBA{uint8(8 * x), uint8(10 * y), 128, 255})
		}
	}
	return img
}

// preflightSet writes good.png, good.jpg, corrupt.jpg (not an image),
// truncated.jpg (first half of a JPEG) and lists missing.png, which is absent.
func preflightSet(t *testing.T) *Dataset {
	t.Helper()
	dir := t.TempDir()
	var pngBuf, jpgBuf bytes.Buffer
	if err := png.Encode(&pngBuf, testImage()); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpgBuf, testImage(), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"good.png":      pngBuf.Bytes(),
		"good.jpg":      jpgBuf.Bytes(),
		"corrupt.jpg":   []byte("this is not an image at all"),
		"truncated.jpg": jpgBuf.Bytes()[:jpgBuf.Len()/2],
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ds := &Dataset{Name: CSV}
	for _, name := range []string{"good.png", "corrupt.jpg", "good.jpg", "missing.png", "truncated.jpg"} {
		ds.Items = append(ds.Items, Item{Image: name, Path: filepath.Join(dir, name), MOSAlign: math.NaN()})
	}
	return ds
}

func TestPreflight(t *testing.T) {
	ds := preflightSet(t)
	for _, workers := range []int{1, 3, 0} {
		rep := Preflight(context.Background(), ds, workers)
		if rep.Checked != 5 || rep.Bad != 3 || rep.Err != nil || rep.OK() {
			t.Fatalf("workers %d: %+v", workers, rep)
		}
		want := []struct{ image, err string }{
			{"corrupt.jpg", "does not decode: unsupported image format"},
			{"missing.png", "missing"},
			{"truncated.jpg", "does not decode"},
		}
		for i, w := range want {
			f := rep.Failures[i]
			if f.Image != w.image || f.Path != ds.Items[indexOf(ds, w.image)].Path || !strings.HasPrefix(f.Err, w.err) {
				t.Errorf("workers %d: failure %d = %+v, want %s: %s", workers, i, f, w.image, w.err)
			}
		}
		if got := strings.Join(rep.BadImages, ","); got != "corrupt.jpg,missing.png,truncated.jpg" {
			t.Errorf("workers %d: BadImages = %s", workers, got)
		}
		msg := rep.Error().Error()
		if !strings.Contains(msg, "3 of 5 images") || !strings.Contains(msg, ds.Items[3].Path+": missing") {
			t.Errorf("summary %q", msg)
		}
	}
}

func indexOf(ds *Dataset, image string) int {
	for i, it := range ds.Items {
		if it.Image == image {
			return i
		}
	}
	return -1
}

func TestPreflightGoodAndNoPath(t *testing.T) {
	ds := preflightSet(t)
	good := &Dataset{Items: []Item{ds.Items[0], ds.Items[2]}}
	if rep := Preflight(context.Background(), good, 2); !rep.OK() || rep.Checked != 2 || rep.Error() != nil {
		t.Errorf("%+v", rep)
	}
	nopath := &Dataset{Items: []Item{{Image: "a.jpg"}}}
	rep := Preflight(context.Background(), nopath, 1)
	if rep.Bad != 1 || !strings.Contains(rep.Failures[0].Err, "no images folder") {
		t.Errorf("%+v", rep)
	}
	// Without a path the failure still names the image.
	if got := rep.Failures[0].String(); got != "a.jpg: no image path (no images folder given)" {
		t.Errorf("String() = %q", got)
	}
}

func TestPreflightKeepsFirstFailures(t *testing.T) {
	ds := &Dataset{}
	for i := 0; i < MaxPreflightFailures+5; i++ {
		ds.Items = append(ds.Items, Item{Image: "x", Path: filepath.Join(t.TempDir(), "absent", string(rune('a'+i)))})
	}
	rep := Preflight(context.Background(), ds, 4)
	if rep.Bad != MaxPreflightFailures+5 || len(rep.Failures) != MaxPreflightFailures || rep.Failures[0].Path != ds.Items[0].Path {
		t.Errorf("%+v", rep)
	}
	if !strings.Contains(rep.Error().Error(), "and 5 more") {
		t.Errorf("%v", rep.Error())
	}
}

func TestPreflightCancelled(t *testing.T) {
	ds := preflightSet(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := Preflight(ctx, ds, 1)
	if rep.Err == nil || rep.Checked != 0 || rep.OK() {
		t.Fatalf("cancelled run: %+v", rep)
	}
	if msg := rep.Error().Error(); !strings.Contains(msg, "stopped after 0 images: context canceled") {
		t.Errorf("summary %q", msg)
	}
}
