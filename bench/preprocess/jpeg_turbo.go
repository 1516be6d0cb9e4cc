//go:build cgo && !noturbojpeg

package preprocess

// libjpeg-turbo is opened at run time (dlopen) rather than linked, so the package builds without
// turbojpeg.h or libturbojpeg.so on the build machine and a binary runs (with the pure-Go decoder)
// where the library is missing. Only the TurboJPEG 2.x calls and constants used below are declared;
// the numeric values are those of turbojpeg.h (libjpeg-turbo 2.1), which are part of its stable ABI.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef void *tjhandle;

enum { TJPF_RGB = 0, TJPF_GRAY = 6, TJPF_CMYK = 11 };
enum { TJCS_RGB = 0, TJCS_YCbCr = 1, TJCS_GRAY = 2, TJCS_CMYK = 3, TJCS_YCCK = 4 };
enum { TJFLAG_ACCURATEDCT = 4096 };
enum { TJERR_WARNING = 0, TJERR_FATAL = 1 };

typedef struct {
	void *lib;
	tjhandle (*initDecompress)(void);
	int (*destroy)(tjhandle);
	char *(*getErrorStr2)(tjhandle);
	int (*getErrorCode)(tjhandle);
	int (*decompressHeader3)(tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *);
	int (*decompress2)(tjhandle, const unsigned char *, unsigned long, unsigned char *, int, int, int, int,
		int);
} tjAPI;

// tjapi_load opens path and resolves every function into *api. On failure it returns -1 with dlerror's
// message in err; dlerror is read in the same call because its state is per thread.
static int tjapi_load(const char *path, tjAPI *api, char *err, size_t errlen) {
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		snprintf(err, errlen, "%s", dlerror());
		return -1;
	}
	static const char *const names[] = {"tjInitDecompress", "tjDestroy", "tjGetErrorStr2",
		"tjGetErrorCode", "tjDecompressHeader3", "tjDecompress2"};
	void **slots[] = {(void **)&api->initDecompress, (void **)&api->destroy, (void **)&api->getErrorStr2,
		(void **)&api->getErrorCode, (void **)&api->decompressHeader3, (void **)&api->decompress2};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		dlerror();
		void *sym = dlsym(lib, names[i]);
		if (sym == NULL) {
			const char *msg = dlerror();
			snprintf(err, errlen, "%s", msg != NULL ? msg : names[i]);
			dlclose(lib);
			return -1;
		}
		*slots[i] = sym;
	}
	api->lib = lib;
	return 0;
}

static void tjapi_unload(tjAPI *api) {
	if (api->lib != NULL) dlclose(api->lib);
	free(api);
}

// Go cannot call C function pointers, hence these trampolines.
static tjhandle tjw_initDecompress(const tjAPI *a) { return a->initDecompress(); }
static int tjw_destroy(const tjAPI *a, tjhandle h) { return a->destroy(h); }
static char *tjw_getErrorStr2(const tjAPI *a, tjhandle h) { return a->getErrorStr2(h); }
static int tjw_getErrorCode(const tjAPI *a, tjhandle h) { return a->getErrorCode(h); }
static int tjw_decompressHeader3(const tjAPI *a, tjhandle h, const unsigned char *src, unsigned long n,
		int *w, int *hh, int *subsamp, int *cs) {
	return a->decompressHeader3(h, src, n, w, hh, subsamp, cs);
}
static int tjw_decompress2(const tjAPI *a, tjhandle h, const unsigned char *src, unsigned long n,
		unsigned char *dst, int w, int pitch, int hh, int pf, int flags) {
	return a->decompress2(h, src, n, dst, w, pitch, hh, pf, flags);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// turboBuilt: this build tries to load libjpeg-turbo (TurboAvailable still depends on the library).
const turboBuilt = true

// defaultTurboLibs are tried in order when AGIQA_TURBOJPEG_LIB is unset: the runtime package's soname
// (Debian's libturbojpeg0) first, then the unversioned name that only the -dev package provides.
var defaultTurboLibs = []string{"libturbojpeg.so.0", "libturbojpeg.so"}

// turboCandidates returns the libraries to try: only the override when one is given, so a wrong
// AGIQA_TURBOJPEG_LIB is reported rather than silently replaced by another copy.
func turboCandidates(override string) []string {
	if override != "" {
		return []string{override}
	}
	return defaultTurboLibs
}

// loadTurboFrom opens the first of paths that loads and has every function used here. The result is
// C memory, released by unloadTurbo.
func loadTurboFrom(paths []string) (*C.tjAPI, error) {
	var errs []string
	for _, p := range paths {
		cpath := C.CString(p)
		api := (*C.tjAPI)(C.calloc(1, C.size_t(unsafe.Sizeof(C.tjAPI{}))))
		var msg [512]C.char
		rc := C.tjapi_load(cpath, api, &msg[0], C.size_t(len(msg)))
		C.free(unsafe.Pointer(cpath))
		if rc == 0 {
			return api, nil
		}
		C.free(unsafe.Pointer(api))
		m := C.GoString(&msg[0])
		if !strings.Contains(m, p) { // dlerror usually names the file already
			m = p + ": " + m
		}
		errs = append(errs, m)
	}
	return nil, fmt.Errorf("cannot load libjpeg-turbo (%s)", strings.Join(errs, "; "))
}

// unloadTurbo closes a library opened by loadTurboFrom; no handle made from api may be used after.
func unloadTurbo(api *C.tjAPI) { C.tjapi_unload(api) }

// turbo is the process-wide library, loaded on first use.
var turbo struct {
	once   sync.Once
	api    *C.tjAPI
	reason string
}

func turboAPI() *C.tjAPI {
	turbo.once.Do(func() {
		override := os.Getenv(EnvTurboJPEGLib)
		api, err := loadTurboFrom(turboCandidates(override))
		if err != nil {
			hint := "install libjpeg-turbo (Debian: libturbojpeg0) or set " + EnvTurboJPEGLib + " to its path"
			if override != "" {
				hint = "check " + EnvTurboJPEGLib
			}
			turbo.reason = fmt.Sprintf("%v; %s", err, hint)
			return
		}
		turbo.api = api
	})
	return turbo.api
}

func turboReady() bool { return turboAPI() != nil }

func turboReason() string {
	turboAPI()
	return turbo.reason
}

// handles recycles TurboJPEG decompressors (each holds a libjpeg state of a few KiB); a bounded
// free list rather than sync.Pool so that dropped handles are always tjDestroy'ed.
var handles = make(chan C.tjhandle, 2*runtime.GOMAXPROCS(0))

func getHandle(api *C.tjAPI) (C.tjhandle, error) {
	select {
	case h := <-handles:
		return h, nil
	default:
	}
	h := C.tjw_initDecompress(api)
	if h == nil {
		return nil, errors.New("libjpeg-turbo: tjInitDecompress failed")
	}
	return h, nil
}

func putHandle(api *C.tjAPI, h C.tjhandle) {
	select {
	case handles <- h:
	default:
		C.tjw_destroy(api, h)
	}
}

func turboError(api *C.tjAPI, h C.tjhandle, what string) error {
	return fmt.Errorf("libjpeg-turbo %s: %s", what, C.GoString(C.tjw_getErrorStr2(api, h)))
}

// decodeJPEGTurbo decodes with the same libjpeg defaults Pillow uses: full size, accurate integer
// IDCT (JDCT_ISLOW), fancy upsampling. Greyscale comes out as replicated grey and CMYK/YCCK through
// Pillow's CMYK->RGB formula, as Image.convert("RGB") would do. Without the library it falls back to
// the pure-Go decoder (callers check UsesTurbo first, so this is only a guard).
func decodeJPEGTurbo(data []byte, limit int64) (RGB, error) {
	api := turboAPI()
	if api == nil {
		return decodeJPEGPure(data, limit)
	}
	// TurboJPEG keeps part of its error state (tjGetErrorStr2, tjGetErrorCode) per OS thread: the
	// calls that read it must run on the thread that decoded, and Go may move a goroutine between
	// cgo calls (seen: a truncated file's "Premature end" read back as "No error", so accepted).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := getHandle(api)
	if err != nil {
		return RGB{}, err
	}
	// A handle whose last call failed is left in a state where the next header read on it fails
	// too ("Bogus Huffman table definition" for a good image after a truncated one): only a handle
	// that finished cleanly goes back to the pool.
	clean := false
	defer func() {
		if clean {
			putHandle(api, h)
		} else {
			C.tjw_destroy(api, h)
		}
	}()

	src := (*C.uchar)(unsafe.Pointer(&data[0]))
	n := C.ulong(len(data))
	var w, hh, subsamp, cs C.int
	if C.tjw_decompressHeader3(api, h, src, n, &w, &hh, &subsamp, &cs) != 0 {
		return RGB{}, turboError(api, h, "header")
	}
	width, height := int(w), int(hh)
	if err := checkPixels(width, height, limit); err != nil {
		return RGB{}, err
	}

	decode := func(buf []byte, pf C.int, pixelSize int) error {
		rc := C.tjw_decompress2(api, h, src, n, (*C.uchar)(unsafe.Pointer(&buf[0])), w, C.int(width*pixelSize), hh,
			pf, C.TJFLAG_ACCURATEDCT)
		if rc == 0 {
			clean = true
			return nil
		}
		// libjpeg warnings (e.g. stray bytes before a marker) still yield an image and Pillow accepts
		// them, except a truncated file, which Pillow reports as "image file is truncated".
		msg := C.GoString(C.tjw_getErrorStr2(api, h))
		if C.tjw_getErrorCode(api, h) == C.TJERR_WARNING && !strings.Contains(msg, "Premature end") {
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
