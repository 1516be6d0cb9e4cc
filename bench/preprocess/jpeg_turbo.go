//go:build cgo && !noturbojpeg

package preprocess

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

const turboAvailable = true

// handles recycles TurboJPEG decompressors (each holds a libjpeg state of a few KiB); a bounded
// free list rather than sync.Pool so that dropped handles are always tjDestroy'ed.
var handles = make(chan C.tjhandle, 2*runtime.GOMAXPROCS(0))

func getHandle() (C.tjhandle, error) {
	select {
	case h := <-handles:
		return h, nil
	default:
	}
	h := C.tjInitDecompress()
	if h == nil {
		return nil, errors.New("libjpeg-turbo: tjInitDecompress failed")
	}
	return h, nil
}

func putHandle(h C.tjhandle) {
	select {
	case handles <- h:
	default:
		C.tjDestroy(h)
	}
}

func turboError(h C.tjhandle, what string) error {
	return fmt.Errorf("libjpeg-turbo %s: %s", what, C.GoString(C.tjGetErrorStr2(h)))
}

// decodeJPEGTurbo decodes with the same libjpeg defaults Pillow uses: full size, accurate integer
// IDCT (JDCT_ISLOW), fancy upsampling. Greyscale comes out as replicated grey and CMYK/YCCK through
// Pillow's CMYK->RGB formula, as Image.convert("RGB") would do.
func decodeJPEGTurbo(data []byte) (RGB, error) {
	h, err := getHandle()
	if err != nil {
		return RGB{}, err
	}
	defer putHandle(h)

	src := (*C.uchar)(unsafe.Pointer(&data[0]))
	n := C.ulong(len(data))
	var w, hh, subsamp, cs C.int
	if C.tjDecompressHeader3(h, src, n, &w, &hh, &subsamp, &cs) != 0 {
		return RGB{}, turboError(h, "header")
	}
	width, height := int(w), int(hh)
	if err := checkSize(width, height); err != nil {
		return RGB{}, err
	}

	decode := func(buf []byte, pf C.int, pixelSize int) error {
		rc := C.tjDecompress2(h, src, n, (*C.uchar)(unsafe.Pointer(&buf[0])), w, C.int(width*pixelSize), hh, pf,
			C.TJFLAG_ACCURATEDCT)
		if rc == 0 {
			return nil
		}
		// libjpeg warnings (e.g. stray bytes before a marker) still yield an image and Pillow accepts
		// them, except a truncated file, which Pillow reports as "image file is truncated".
		msg := C.GoString(C.tjGetErrorStr2(h))
		if C.tjGetErrorCode(h) == C.TJERR_WARNING && !strings.Contains(msg, "Premature end") {
			return nil
		}
		return fmt.Errorf("libjpeg-turbo: %s", msg)
	}

	out := NewRGB(width, height)
	switch cs {
	case C.TJCS_GRAY:
		g := make([]byte, width*height)
		if err := decode(g, C.TJPF_GRAY, 1); err != nil {
			return RGB{}, err
		}
		for i, v := range g {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = v, v, v
		}
	case C.TJCS_CMYK, C.TJCS_YCCK:
		c := make([]byte, 4*width*height)
		if err := decode(c, C.TJPF_CMYK, 4); err != nil {
			return RGB{}, err
		}
		// Pillow reads 4-channel JPEGs with rawmode "CMYK;I" (Adobe's inverted convention).
		for i := 0; i < width*height; i++ {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] =
				cmykToRGB(255-c[4*i], 255-c[4*i+1], 255-c[4*i+2], 255-c[4*i+3])
		}
	default:
		if err := decode(out.Pix, C.TJPF_RGB, 3); err != nil {
			return RGB{}, err
		}
	}
	return out, nil
}
