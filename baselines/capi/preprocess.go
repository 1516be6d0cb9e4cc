//go:build cgo

package main

// Server-side preprocessing for Triton's Python backend (issue 15): the same
// Go function the embedded server's preprocess_* models run
// (modelrepo/preprocmodel), so both servers give identical pixels. Added to
// ABI 1 without changing what the other functions do.
//
//	int32_t agiqa_preprocess(const char* method, int32_t size, const uint8_t* data, size_t len,
//	                         uint8_t* out, size_t outlen, int32_t* height, int32_t* width,
//	                         char* err, size_t errlen);
//	    Decodes one encoded image (JPEG or PNG, len bytes) and brings it to the
//	    IMAGE layout, UINT8 [3, H, W] in C order, by method ("resize",
//	    "resize_center_crop", "resize_pad", or "native" with size 0: the image
//	    at its own size). *height and *width receive H and W. Returns 0 with the
//	    pixels in out; 11 OUT_OF_RANGE when outlen < 3*H*W (height and width
//	    set, out untouched: call again with a larger buffer); 3
//	    INVALID_ARGUMENT with the decoder's reason in err for an image that
//	    does not decode or a bad method or size.

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"google.golang.org/grpc/codes"
)

//export agiqa_preprocess
func agiqa_preprocess(method *C.char, size C.int32_t, data *C.uint8_t, n C.size_t, out *C.uint8_t, outLen C.size_t,
	height, width *C.int32_t, errBuf *C.char, errLen C.size_t) (code C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			setErr(errBuf, errLen, fmt.Sprintf("agiqa_preprocess: panic: %v", r))
			code = C.int32_t(codes.Internal)
		}
	}()
	fail := func(c codes.Code, msg string) C.int32_t {
		setErr(errBuf, errLen, msg)
		return C.int32_t(c)
	}
	if method == nil || height == nil || width == nil || (data == nil && n > 0) {
		return fail(codes.InvalidArgument, "agiqa_preprocess: NULL method, data, height or width")
	}
	var src []byte
	if n > 0 {
		src = unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n))
	}
	img, err := preprocessImage(C.GoString(method), int(size), src)
	if err != nil {
		return fail(codes.InvalidArgument, err.Error())
	}
	*height, *width = C.int32_t(img.H), C.int32_t(img.W)
	if uint64(outLen) < uint64(len(img.Pix)) || (len(img.Pix) > 0 && out == nil) {
		return fail(codes.OutOfRange, fmt.Sprintf("agiqa_preprocess: output buffer holds %d bytes; the image needs %d (3x%dx%d)", outLen, len(img.Pix), img.H, img.W))
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(out)), len(img.Pix)), img.Pix)
	setErr(errBuf, errLen, "")
	return 0
}
