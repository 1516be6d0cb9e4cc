// Package preprocess turns image files into the uint8 [3,S,S] RGB channel-first tensors of the model
// contract, reproducing what the training code does with Pillow: decode with libjpeg-turbo (JPEG) or a
// PNG decoder, convert to RGB like Image.convert("RGB"), resize with Pillow's antialiased bicubic filter,
// optionally centre-crop like CLIP's torchvision transform.
//
// JPEG decoding goes through libjpeg-turbo, which is what Pillow links, so decoded pixels match Pillow's
// exactly. The library is opened at run time (cgo + dlopen of libturbojpeg.so.0, or the file named by
// AGIQA_TURBOJPEG_LIB), so building needs neither its header nor its .so. Where it cannot be loaded
// (TurboUnavailableReason says why), in builds without cgo or with the build tag noturbojpeg, and with
// Decoder{PureGoJPEG: true} or the environment variable AGIQA_PURE_GO_JPEG=1, JPEG decoding uses a
// pure-Go path: Go's image/jpeg for entropy decoding and IDCT, followed by libjpeg's "fancy"
// chroma upsampling and fixed-point YCbCr->RGB conversion re-implemented here; only the IDCT then
// differs from libjpeg's, which leaves pixels within a few grey levels of Pillow's (see the tests).
// Like Image.open, decoding ignores EXIF orientation.
package preprocess

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
)

// RGB is a packed 8-bit RGB image: Pix holds W*H pixels row by row, 3 bytes (R, G, B) per pixel.
type RGB struct {
	W, H int
	Pix  []uint8
}

// NewRGB allocates a zeroed w x h image.
func NewRGB(w, h int) RGB { return RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)} }

// valid reports whether the buffer length matches the dimensions.
func (m RGB) valid() bool { return m.W > 0 && m.H > 0 && len(m.Pix) == 3*m.W*m.H }

// EnvPureGoJPEG names the environment variable that forces the pure-Go JPEG decoder when set to "1".
const EnvPureGoJPEG = "AGIQA_PURE_GO_JPEG"

// EnvTurboJPEGLib names the environment variable holding the libturbojpeg shared library to load
// (a path or a soname) instead of libturbojpeg.so.0 / libturbojpeg.so. It is read once, on first use.
const EnvTurboJPEGLib = "AGIQA_TURBOJPEG_LIB"

var (
	// ErrUnsupportedFormat is returned for content that is neither JPEG nor PNG.
	ErrUnsupportedFormat = errors.New("unsupported image format (want JPEG or PNG)")
	// ErrTooLarge is returned (as a *TooLargeError) when an image declares more pixels than the
	// decoder's Limits.MaxPixels.
	ErrTooLarge = errors.New("image too large")
)

// Decoder decodes JPEG and PNG content into RGB. The zero value uses libjpeg-turbo when available
// and the process's default limits.
type Decoder struct {
	// PureGoJPEG forces the pure-Go JPEG path even when libjpeg-turbo is available.
	PureGoJPEG bool
	// Limits bounds each image; zero fields take the process defaults (SetDefaultLimits).
	Limits Limits
}

// TurboAvailable reports whether JPEG can be decoded with libjpeg-turbo: the build supports it and the
// library was loaded (once per process, on the first call here or the first JPEG decoded).
func TurboAvailable() bool { return turboReady() }

// TurboUnavailableReason says why TurboAvailable is false (the build, or each library tried and the
// loader's error); it is "" when libjpeg-turbo is in use.
func TurboUnavailableReason() string { return turboReason() }

// UsesTurbo reports whether d decodes JPEG with libjpeg-turbo, taking the option, AGIQA_PURE_GO_JPEG,
// the build and the library's presence into account.
func (d Decoder) UsesTurbo() bool {
	return !d.PureGoJPEG && os.Getenv(EnvPureGoJPEG) != "1" && turboReady()
}

// DecodeFile reads (ReadFile, without cancellation) and decodes the image at path.
func (d Decoder) DecodeFile(path string) (RGB, error) {
	data, err := d.ReadFile(context.Background(), path)
	if err != nil {
		return RGB{}, err
	}
	return d.Decode(data, path)
}

// Decode decodes JPEG or PNG content, chosen by its signature (not by name); name (usually the path)
// is only used in error messages. The size the header declares is checked against d's pixel limit
// before anything is decoded.
func (d Decoder) Decode(data []byte, name string) (RGB, error) {
	var (
		img RGB
		err error
	)
	limit := d.Limits.maxPixels()
	if err = d.Limits.Validate(); err == nil {
		err = d.checkHeader(data)
	}
	switch {
	case err != nil && !errors.Is(err, errShortHeader):
		// A short header is left to the codec, whose message for a truncated file is the usual one.
	case isJPEG(data):
		if d.UsesTurbo() {
			img, err = decodeJPEGTurbo(data, limit)
		} else {
			img, err = decodeJPEGPure(data, limit)
		}
	case isPNG(data):
		img, err = decodePNG(data, limit)
	default:
		err = ErrUnsupportedFormat
	}
	if err != nil {
		return RGB{}, fmt.Errorf("preprocess: decode image %s: %w", name, err)
	}
	return img, nil
}

// DecodeFile decodes the image at path with the default Decoder.
func DecodeFile(path string) (RGB, error) { return Decoder{}.DecodeFile(path) }

// Decode decodes in-memory JPEG or PNG content with the default Decoder; name is used in errors.
func Decode(data []byte, name string) (RGB, error) { return Decoder{}.Decode(data, name) }

func isJPEG(b []byte) bool { return len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF }

func isPNG(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }

func decodePNG(data []byte, limit int64) (RGB, error) {
	im, err := decodeStd(data, limit, "png", png.DecodeConfig, png.Decode)
	if err != nil {
		return RGB{}, err
	}
	// 16-bit grey with a tRNS colour key comes back as NRGBA64, which toRGB would treat as colour
	// (high byte); Pillow opens it as mode "I" like any 16-bit grey and clips. IHDR is the first
	// chunk (DecodeConfig checked): bit depth at byte 24, colour type at byte 25.
	if m, ok := im.(*image.NRGBA64); ok && data[24] == 16 && data[25] == 0 {
		return gray16ToRGB(m.Pix, m.Stride, 8, m.Rect.Dx(), m.Rect.Dy()), nil
	}
	return toRGB(im), nil
}

// gray16ToRGB replicates big-endian 16-bit grey samples, bpp bytes apart in rows stride bytes apart,
// clipped to 255 as Pillow's I->RGB conversion does (it clips rather than scales).
func gray16ToRGB(pix []uint8, stride, bpp, w, h int) RGB {
	out := NewRGB(w, h)
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+bpp*w]
		o := out.Pix[3*w*y : 3*w*(y+1)]
		for x := 0; x < w; x++ {
			v := uint8(255)
			if row[bpp*x] == 0 {
				v = row[bpp*x+1]
			}
			o[3*x], o[3*x+1], o[3*x+2] = v, v, v
		}
	}
	return out
}

// decodeStd decodes with one of the standard library's codecs, checking the codec's view of the
// header's size against limit again before the pixels are allocated; format prefixes the codec's
// errors.
func decodeStd(data []byte, limit int64, format string, config func(io.Reader) (image.Config, error),
	decode func(io.Reader) (image.Image, error)) (image.Image, error) {
	cfg, err := config(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", format, err)
	}
	if err := checkPixels(cfg.Width, cfg.Height, limit); err != nil {
		return nil, err
	}
	im, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", format, err)
	}
	return im, nil
}

// toRGB converts what image/png (and image/jpeg for non-YCbCr content) returns into packed RGB the way
// Pillow's convert("RGB") does: alpha is dropped without premultiplying (colour values are
// taken as stored), 16-bit RGB(A) keeps the high byte, and 16-bit grey is clipped to 255 (Pillow opens
// it as mode "I" and I->RGB clips rather than scales).
func toRGB(src image.Image) RGB {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	out := NewRGB(w, h)
	p := out.Pix
	switch m := src.(type) {
	case *image.NRGBA:
		dropAlpha(p, m.Pix, m.Stride, w, h, 4)
	case *image.RGBA:
		// image/png only returns RGBA for opaque images, so premultiplication is the identity.
		dropAlpha(p, m.Pix, m.Stride, w, h, 4)
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			o := p[3*w*y : 3*w*(y+1)]
			for x, v := range row {
				o[3*x], o[3*x+1], o[3*x+2] = v, v, v
			}
		}
	case *image.Gray16:
		return gray16ToRGB(m.Pix, m.Stride, 2, w, h)
	case *image.NRGBA64:
		dropAlpha(p, m.Pix, m.Stride, w, h, 8)
	case *image.RGBA64:
		// Opaque 16-bit RGB from image/png: premultiplication is the identity.
		dropAlpha(p, m.Pix, m.Stride, w, h, 8)
	case *image.Paletted:
		var lut [256][3]uint8
		for i, c := range m.Palette {
			lut[i] = paletteRGB(c)
		}
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			o := p[3*w*y : 3*w*(y+1)]
			for x, idx := range row {
				e := lut[idx]
				o[3*x], o[3*x+1], o[3*x+2] = e[0], e[1], e[2]
			}
		}
	case *image.CMYK:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			o := p[3*w*y : 3*w*(y+1)]
			for x := 0; x < w; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = cmykToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
			}
		}
	default:
		// Any other type: un-premultiply through NRGBA64 and keep the high byte.
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBA64Model.Convert(src.At(x, y)).(color.NRGBA64)
				p[i], p[i+1], p[i+2] = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8)
				i += 3
			}
		}
	}
	return out
}

// dropAlpha packs the R, G and B of w x h RGBA-ordered pixels of bpp bytes (4: 8-bit, 8: 16-bit
// big-endian, so each channel's high byte comes first) from rows stride bytes apart into dst, dropping
// alpha and the low bytes.
func dropAlpha(dst, pix []uint8, stride, w, h, bpp int) {
	cs := bpp / 4 // bytes per channel
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+bpp*w]
		o := dst[3*w*y : 3*w*(y+1)]
		for x := 0; x < w; x++ {
			o[3*x], o[3*x+1], o[3*x+2] = row[bpp*x], row[bpp*x+cs], row[bpp*x+2*cs]
		}
	}
}

// paletteRGB returns a palette entry's stored colour; image/png uses RGBA for opaque entries and NRGBA
// for entries with tRNS alpha, and Pillow ignores the alpha when converting P to RGB.
func paletteRGB(c color.Color) [3]uint8 {
	switch v := c.(type) {
	case color.RGBA:
		return [3]uint8{v.R, v.G, v.B}
	case color.NRGBA:
		return [3]uint8{v.R, v.G, v.B}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return [3]uint8{n.R, n.G, n.B}
}

// cmykToRGB is Pillow's cmyk2rgb (libImaging/Convert.c): each channel is (255-K) scaled by (255-C)
// with the rounding division-by-255 macro MULDIV255.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := int(255 - k)
	f := func(v uint8) uint8 {
		t := int(v)*nk + 128
		r := nk - ((t>>8)+t)>>8
		if r < 0 {
			return 0
		}
		return uint8(r)
	}
	return f(c), f(m), f(y)
}
