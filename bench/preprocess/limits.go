package preprocess

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
)

// DefaultMaxPixels is the default Limits.MaxPixels: Pillow's decompression-bomb error threshold
// (2 * Image.MAX_IMAGE_PIXELS), so every image the training code opens is accepted here too.
const DefaultMaxPixels int64 = 2 * 89478485

// Limits bounds what decoding one image may cost. Every decoder of the harness (preflight, infer,
// tables, perf, feature extraction, NIQE) checks them from the image's header, before the file is
// read past it or a pixel buffer is allocated. The zero value means the process defaults
// (SetDefaultLimits), which start as DefaultMaxPixels.
type Limits struct {
	// MaxPixels bounds width*height as the header declares it; 0 means the default.
	MaxPixels int64
}

// Validate reports a limit that cannot be used.
func (l Limits) Validate() error {
	if l.MaxPixels < 0 {
		return fmt.Errorf("preprocess: pixel limit %d: want a positive number of pixels (0: the default, %d)", l.MaxPixels, DefaultMaxPixels)
	}
	return nil
}

var defaultMaxPixels atomic.Int64

func init() { defaultMaxPixels.Store(DefaultMaxPixels) }

// SetDefaultLimits sets the limits of the zero Decoder and of the package-level functions (Decode,
// DecodeFile, ReadFile, LoadTensor, DecodeCHW), which the harness's packages call. The agiqa
// command sets them once, from --max-pixels, before it decodes anything; zero fields restore the
// defaults.
func SetDefaultLimits(l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if l.MaxPixels == 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	defaultMaxPixels.Store(l.MaxPixels)
	return nil
}

// DefaultLimits returns the limits SetDefaultLimits last set.
func DefaultLimits() Limits { return Limits{MaxPixels: defaultMaxPixels.Load()} }

// maxPixels resolves a zero limit to the process default.
func (l Limits) maxPixels() int64 {
	if l.MaxPixels > 0 {
		return l.MaxPixels
	}
	return defaultMaxPixels.Load()
}

// TooLargeError is an image whose header declares more pixels than the limit; it matches
// ErrTooLarge with errors.Is. Decode wraps it with the image's name.
type TooLargeError struct {
	W, H  int
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("declares %dx%d = %d pixels, over the limit of %d pixels (raise it with agiqa's --max-pixels, Limits.MaxPixels, if the image is genuine)",
		e.W, e.H, int64(e.W)*int64(e.H), e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) hold.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// checkPixels refuses an empty size or one over limit, without overflowing for any int.
func checkPixels(w, h int, limit int64) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("invalid size %dx%d", w, h)
	}
	if int64(h) > limit/int64(w) {
		return &TooLargeError{W: w, H: h, Limit: limit}
	}
	return nil
}

// Header is what an image file's header declares.
type Header struct {
	Format string // "jpeg" or "png"
	W, H   int
}

// errShortHeader means the bytes end before the header does.
var errShortHeader = errors.New("header truncated")

// ParseHeader reads the format and the declared size from the start of an image file: the PNG IHDR
// chunk, or the first JPEG frame header (any SOFn, as libjpeg accepts them, after skipping the
// stray bytes libjpeg skips with a warning). It allocates nothing per pixel, so it is what every
// decoder checks the pixel limit with. Content that is neither JPEG nor PNG is ErrUnsupportedFormat.
func ParseHeader(b []byte) (Header, error) {
	switch {
	case isPNG(b):
		// Signature, then the IHDR chunk: length, "IHDR", width, height (big-endian uint32s).
		if len(b) < 24 {
			return Header{}, fmt.Errorf("png: %w", errShortHeader)
		}
		if string(b[12:16]) != "IHDR" {
			return Header{}, errors.New("png: first chunk is not IHDR")
		}
		w, h := binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:])
		if w > 1<<31-1 || h > 1<<31-1 {
			return Header{}, fmt.Errorf("png: invalid size %dx%d", w, h)
		}
		return Header{Format: "png", W: int(w), H: int(h)}, nil
	case isJPEG(b):
		return jpegHeader(b)
	}
	return Header{}, ErrUnsupportedFormat
}

// jpegHeader walks the JPEG marker segments up to the first frame header.
func jpegHeader(b []byte) (Header, error) {
	i := 2 // after SOI
	for {
		for i < len(b) && b[i] != 0xFF { // extraneous bytes before a marker
			i++
		}
		for i < len(b) && b[i] == 0xFF { // fill bytes
			i++
		}
		if i >= len(b) {
			return Header{}, fmt.Errorf("jpeg: %w (no frame header)", errShortHeader)
		}
		m := b[i]
		i++
		switch {
		case m == 0x00: // FF 00 outside entropy data: libjpeg's next_marker skips it as garbage
			continue
		case m == 0x01 || (m >= 0xD0 && m <= 0xD8): // TEM, RSTn, SOI: no length
			continue
		case m == 0xD9 || m == 0xDA:
			return Header{}, errors.New("jpeg: no frame header before the image data")
		}
		if i+2 > len(b) {
			return Header{}, fmt.Errorf("jpeg: %w", errShortHeader)
		}
		n := int(binary.BigEndian.Uint16(b[i:]))
		if n < 2 {
			return Header{}, fmt.Errorf("jpeg: marker 0x%02X has length %d", m, n)
		}
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC { // SOFn
			if n < 8 || i+7 > len(b) {
				return Header{}, fmt.Errorf("jpeg: %w (frame header)", errShortHeader)
			}
			h, w := binary.BigEndian.Uint16(b[i+3:]), binary.BigEndian.Uint16(b[i+5:])
			return Header{Format: "jpeg", W: int(w), H: int(h)}, nil
		}
		i += n
	}
}

// checkHeader checks data's declared size against d's limit (ErrUnsupportedFormat passes through
// for the caller to report).
func (d Decoder) checkHeader(data []byte) error {
	h, err := ParseHeader(data)
	if err != nil {
		return err
	}
	return checkPixels(h.W, h.H, d.Limits.maxPixels())
}

// maxFileBytes bounds the size of a file declaring h: 16 bytes per pixel (an uncompressed 16-bit
// RGBA PNG needs 8) plus 16 MiB of metadata (ICC profiles, EXIF, XMP), so that a huge file behind a
// small header is refused rather than read into memory.
func maxFileBytes(h Header) int64 { return 16*int64(h.W)*int64(h.H) + headerWindow }

// headerWindow is how much of a file ReadFile reads before it knows the declared size.
const headerWindow = 16 << 20
