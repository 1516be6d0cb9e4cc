// Package matlab holds the MATLAB image primitives the classical baselines need, computed as MATLAB
// R20xx + Image Processing Toolbox compute them on the authors' inputs (uint8 RGB images): rgb2gray,
// imresize (bicubic, antialiased), imfilter, conv2, filter2, fspecial, histeq, Wang et al.'s SSIM and
// makecform('srgb2lab'). Images are float64 planes in row-major order (MATLAB stores them
// column-major; only the storage differs). Each function documents the MATLAB call it reproduces and
// how exact it is; the tests compare them with Octave 7 + octave-image, numpy and scikit-image.
package matlab

import (
	"fmt"
	"math"
)

// Gray is one channel of doubles, row-major: Pix[y*W+x] (MATLAB's double image, transposed storage).
type Gray struct {
	H, W int
	Pix  []float64
}

// NewGray returns an h x w image of zeros (negative sizes are taken as 0).
func NewGray(h, w int) *Gray {
	h, w = max(h, 0), max(w, 0)
	return &Gray{H: h, W: w, Pix: make([]float64, h*w)}
}

// At returns the pixel at row y, column x (0-based).
func (g *Gray) At(y, x int) float64 { return g.Pix[y*g.W+x] }

// Set sets the pixel at row y, column x (0-based).
func (g *Gray) Set(y, x int, v float64) { g.Pix[y*g.W+x] = v }

// Clone returns a deep copy of g.
func (g *Gray) Clone() *Gray {
	return &Gray{H: g.H, W: g.W, Pix: append([]float64(nil), g.Pix...)}
}

// Check reports whether g is a well-formed image: non-nil, sizes >= 0 and len(Pix) == H*W.
func (g *Gray) Check() error {
	if g == nil {
		return fmt.Errorf("matlab: nil gray image")
	}
	if g.H < 0 || g.W < 0 || len(g.Pix) != g.H*g.W {
		return fmt.Errorf("matlab: gray image %dx%d holds %d values (want %d)", g.H, g.W, len(g.Pix), max(g.H, 0)*max(g.W, 0))
	}
	return nil
}

// RGB8 is 8-bit RGB, channel-first as the model contract sends it: Pix[c*H*W+y*W+x].
type RGB8 struct {
	H, W int
	Pix  []uint8
}

// Check reports whether im is a well-formed image: non-nil, sizes >= 1 and len(Pix) == 3*H*W.
func (im *RGB8) Check() error {
	if im == nil {
		return fmt.Errorf("matlab: nil RGB image")
	}
	if im.H < 1 || im.W < 1 {
		return fmt.Errorf("matlab: RGB image %dx%d is empty", im.H, im.W)
	}
	if len(im.Pix) != 3*im.H*im.W {
		return fmt.Errorf("matlab: RGB image %dx%d holds %d bytes (want %d)", im.H, im.W, len(im.Pix), 3*im.H*im.W)
	}
	return nil
}

// Round is MATLAB's round: halves away from zero (math.Round).
func Round(x float64) float64 { return math.Round(x) }

// ToUint8 is MATLAB's uint8(x) on a double: round half away from zero, saturate to 0..255, NaN -> 0.
func ToUint8(x float64) uint8 {
	if !(x > 0) { // also NaN
		return 0
	}
	if x >= 255 {
		return 255
	}
	return uint8(math.Round(x))
}

// Uint8 returns uint8(g) as MATLAB computes it (see ToUint8), row-major.
func (g *Gray) Uint8() []uint8 {
	out := make([]uint8, len(g.Pix))
	for i, v := range g.Pix {
		out[i] = ToUint8(v)
	}
	return out
}

// GrayFromUint8 returns double(u) as an h x w image; it fails when len(u) != h*w.
func GrayFromUint8(u []uint8, h, w int) (*Gray, error) {
	if h < 0 || w < 0 || len(u) != h*w {
		return nil, fmt.Errorf("matlab: %d uint8 values for a %dx%d image", len(u), h, w)
	}
	g := NewGray(h, w)
	for i, v := range u {
		g.Pix[i] = float64(v)
	}
	return g, nil
}

// Plane returns channel c (0 R, 1 G, 2 B) of im as double(im(:,:,c)) on the 0..255 scale.
func (im *RGB8) Plane(c int) *Gray {
	n := im.H * im.W
	g := NewGray(im.H, im.W)
	for i, v := range im.Pix[c*n : (c+1)*n] {
		g.Pix[i] = float64(v)
	}
	return g
}

// IsConstant reports whether every value of p equals the first (true for an empty p): an image the
// handcrafted metrics are undefined on (zero variance).
func IsConstant[T ~uint8 | ~float64](p []T) bool {
	for _, v := range p {
		if v != p[0] {
			return false
		}
	}
	return true
}

// NaNs is MATLAB's nan(1, n): a feature vector of an image a metric is undefined on.
func NaNs(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	return out
}
