//go:build cgo

package main

// The C ABI (ABI 1). The build writes libagiqa.h beside libagiqa.so.
//
//	int32_t agiqa_abi(void);
//	    The ABI version, 1. A caller built for another refuses the library.
//	const char* agiqa_version(void);
//	    "libagiqa ABI 1 (go1.26.8; functions: a, b, ...)": static, never freed.
//	int32_t agiqa_load(const char* function, const char* version_dir, int64_t* handle,
//	                   char* err, size_t errlen);
//	    Builds one model version: function is the model's native.function
//	    parameter (or its name); a model.native file in version_dir names the
//	    function instead, as in the embedded server. A loader reads its files
//	    (model.svr, ...) from version_dir; NULL or "" for none. Returns 0 and
//	    *handle > 0, or a status code (below) with *handle = 0 and the message
//	    in err: 5 NOT_FOUND (function not registered, no such folder),
//	    3 INVALID_ARGUMENT (a bad model file or folder).
//	int32_t agiqa_run(int64_t handle, const uint8_t* image, const int64_t* shape, int32_t ndim,
//	                  float* quality, size_t nquality, char* err, size_t errlen);
//	    Scores one batch: image holds the IMAGE tensor (UINT8, C order, the
//	    product of shape[0..ndim) bytes; [B,3,H,W] for the image models), and
//	    quality receives QUALITY (FP32), which must have exactly nquality values
//	    (B for [B,1]). Returns 0, or a gRPC status code with the message in err:
//	    3 INVALID_ARGUMENT (bad input), 5 NOT_FOUND (unknown handle),
//	    13 INTERNAL (a failure of the model), 1 CANCELLED.
//	int32_t agiqa_free(int64_t handle);
//	    Drops a handle: 0, or 5 for one not loaded.
//
// err, when errlen > 0, always receives a NUL-terminated message, truncated
// to errlen-1 bytes ("" on success). Every call may come from any thread at
// any time; one handle may run several batches at once. No Go panic crosses
// into C: it is returned as INTERNAL (a panic in a goroutine a model starts
// itself still ends the process). Memory passed in is only read (image,
// shape) or written (quality, err) during the call and never kept.

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	"google.golang.org/grpc/codes"
)

// maxDims bounds ndim: no tensor has more, and a garbage ndim must not make
// Go read past the caller's array.
const maxDims = 16

//export agiqa_abi
func agiqa_abi() C.int32_t { return ABI }

var (
	versionOnce sync.Once
	versionC    *C.char
)

//export agiqa_version
func agiqa_version() *C.char {
	versionOnce.Do(func() { versionC = C.CString(versionString()) }) // kept for the life of the process
	return versionC
}

//export agiqa_load
func agiqa_load(function, versionDir *C.char, handle *C.int64_t, errBuf *C.char, errLen C.size_t) (code C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			setErr(errBuf, errLen, fmt.Sprintf("agiqa_load: panic: %v", r))
			code = C.int32_t(codes.Internal)
		}
	}()
	if handle == nil {
		setErr(errBuf, errLen, "agiqa_load: NULL handle pointer")
		return C.int32_t(codes.InvalidArgument)
	}
	*handle = 0
	if function == nil {
		setErr(errBuf, errLen, "agiqa_load: no function named (NULL)")
		return C.int32_t(codes.InvalidArgument)
	}
	dir := ""
	if versionDir != nil {
		dir = C.GoString(versionDir)
	}
	id, err := load(C.GoString(function), dir)
	if err != nil {
		c, msg := errorCode(err)
		setErr(errBuf, errLen, msg)
		return C.int32_t(c)
	}
	*handle = C.int64_t(id)
	setErr(errBuf, errLen, "")
	return 0
}

//export agiqa_run
func agiqa_run(h C.int64_t, image *C.uint8_t, shape *C.int64_t, ndim C.int32_t,
	quality *C.float, nquality C.size_t, errBuf *C.char, errLen C.size_t) (code C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			setErr(errBuf, errLen, fmt.Sprintf("agiqa_run: panic: %v", r))
			code = C.int32_t(codes.Internal)
		}
	}()
	fail := func(c codes.Code, msg string) C.int32_t {
		setErr(errBuf, errLen, msg)
		return C.int32_t(c)
	}
	if ndim < 1 || ndim > maxDims || shape == nil {
		return fail(codes.InvalidArgument, fmt.Sprintf("IMAGE: %d dimensions (want 1 to %d, shape not NULL)", ndim, maxDims))
	}
	dims := append([]int64(nil), unsafe.Slice((*int64)(unsafe.Pointer(shape)), int(ndim))...)
	n, err := elements(dims)
	if err != nil {
		return fail(codes.InvalidArgument, fmt.Sprintf("IMAGE shape %v: %v", dims, err))
	}
	var img []byte
	if n > 0 {
		if image == nil {
			return fail(codes.InvalidArgument, fmt.Sprintf("IMAGE shape %v: NULL data", dims))
		}
		img = unsafe.Slice((*byte)(unsafe.Pointer(image)), n)
	}
	var out []float32
	if nquality > 0 {
		if quality == nil {
			return fail(codes.InvalidArgument, "QUALITY: NULL buffer")
		}
		out = unsafe.Slice((*float32)(unsafe.Pointer(quality)), int(nquality))
	}
	if err := run(context.Background(), int64(h), img, dims, out); err != nil {
		c, msg := errorCode(err)
		return fail(c, msg)
	}
	setErr(errBuf, errLen, "")
	return 0
}

//export agiqa_free
func agiqa_free(h C.int64_t) C.int32_t {
	if err := free(int64(h)); err != nil {
		return C.int32_t(codes.NotFound)
	}
	return 0
}

// setErr writes msg into the caller's buffer, truncated and NUL-terminated.
func setErr(buf *C.char, n C.size_t, msg string) {
	if buf == nil || n == 0 {
		return
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	k := copy(dst[:len(dst)-1], msg)
	dst[k] = 0
}
