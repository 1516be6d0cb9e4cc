// Package reftest holds what the handcrafted baselines' reference tests share: reading the PNG images
// the Octave fixtures were computed on (from testdata, or ../shared/data/calibra), their JSON fixtures,
// and relative errors.
package reftest

import (
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// ReadPNG decodes the PNG at path into the channel-first layout the extractors take, as MATLAB's
// imread gives it (8-bit samples; alpha ignored).
func ReadPNG(tb testing.TB, path string) *matlab.RGB8 {
	tb.Helper()
	fh, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return ToRGB8(img)
}

// LoadImage reads a fixture image named as the fixtures name them: "calibra/NAME" from
// ../shared/data/calibra (skipping, or failing under AGIQA_REQUIRE_SHARED=1, without it), anything
// else from the test package's testdata folder.
func LoadImage(tb testing.TB, file string) *matlab.RGB8 {
	tb.Helper()
	path := filepath.Join("testdata", file)
	if rest, ok := strings.CutPrefix(file, "calibra/"); ok {
		path = testenv.Shared(tb, "data", "calibra", rest)
	}
	return ReadPNG(tb, path)
}

// ToRGB8 converts any decoded image to 8-bit channel-first RGB.
func ToRGB8(img image.Image) *matlab.RGB8 {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	n := h * w
	out := &matlab.RGB8{H: h, W: w, Pix: make([]uint8, 3*n)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := y*w + x
			out.Pix[i], out.Pix[n+i], out.Pix[2*n+i] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
		}
	}
	return out
}

// ReadJSON decodes the fixture testdata/name into v.
func ReadJSON(tb testing.TB, name string, v any) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		tb.Fatalf("testdata/%s: %v", name, err)
	}
}

// RelErr is |got - want| / |want|, or |got - want| when want is 0.
func RelErr(got, want float64) float64 {
	d := math.Abs(got - want)
	if want == 0 {
		return d
	}
	return d / math.Abs(want)
}
