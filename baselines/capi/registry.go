// Command capi is the C shared library through which Triton's Python backend
// runs the same Go models the embedded server runs natively (one
// implementation, two servers). Build it with
//
//	go build -buildmode=c-shared -o libagiqa.so ./baselines/capi
//
// It imports package baselines, so every function and loader registered in
// the native registry by baselines and the packages it imports is reachable
// by name. The C functions are in capi.go (ABI in its comment); this file is
// the Go side, which the tests call directly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"runtime"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	_ "github.com/agiqa-bench/agiqa/baselines" // registers the native models
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// ABI is the version of the C interface; agiqa_abi returns it and callers
// refuse a library with another.
const ABI = 1

// Input and output tensor names: the contract of the image-quality models.
const (
	inputName  = "IMAGE"
	outputName = "QUALITY"
)

func main() {} // required by -buildmode=c-shared; never run

// model is one loaded version. Handles, not Go pointers, cross into C (cgo
// forbids C from keeping Go pointers).
type model struct {
	name string // the native function
	f    native.Func
}

var (
	mu      sync.Mutex
	next    int64
	handles = map[int64]*model{}
)

// load builds the function of one model version. function is the model's
// native.function parameter (or its name); a model.native file in
// versionDir names the function instead, as in the embedded server.
// versionDir may be "" for a function that needs no files.
func load(function, versionDir string) (h int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			h, err = 0, status.Errorf(codes.Internal, "loading %q: panic: %v", function, r)
		}
	}()
	if function == "" {
		return 0, status.Error(codes.InvalidArgument, "no native function named")
	}
	var files fs.FS
	if versionDir != "" {
		st, err := os.Stat(versionDir)
		if err != nil {
			return 0, status.Errorf(codes.NotFound, "version folder: %v", err)
		}
		if !st.IsDir() {
			return 0, status.Errorf(codes.InvalidArgument, "version folder %s is not a directory", versionDir)
		}
		files = os.DirFS(versionDir)
	}
	name, err := native.FunctionName(files, function)
	if err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "version folder %s: %v", versionDir, err)
	}
	f, err := native.Load(context.Background(), name, files)
	if err != nil {
		code := codes.InvalidArgument // a bad model file
		if errors.Is(err, native.ErrNotRegistered) {
			code = codes.NotFound
		}
		if versionDir == "" {
			return 0, status.Error(code, err.Error())
		}
		return 0, status.Errorf(code, "version folder %s: %v", versionDir, err)
	}
	mu.Lock()
	defer mu.Unlock()
	next++
	handles[next] = &model{name: name, f: f}
	return next, nil
}

// free drops a handle; an unknown one is NotFound.
func free(h int64) error {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := handles[h]; !ok {
		return status.Errorf(codes.NotFound, "handle %d is not loaded", h)
	}
	delete(handles, h)
	return nil
}

func lookup(h int64) (*model, error) {
	mu.Lock()
	defer mu.Unlock()
	m, ok := handles[h]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "handle %d is not loaded (never loaded, or freed)", h)
	}
	return m, nil
}

// run scores one batch: image is the IMAGE tensor's bytes (UINT8, shape as
// given), quality receives QUALITY's FP32 values and must have exactly as many
// elements. The error carries a gRPC status: InvalidArgument for a bad
// input, Internal for a failure of the model.
func run(ctx context.Context, h int64, image []byte, shape []int64, quality []float32) (err error) {
	m, err := lookup(h)
	if err != nil {
		return err
	}
	n, err := elements(shape)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "%s: %s shape %v: %v", m.name, inputName, shape, err)
	}
	if n != int64(len(image)) {
		return status.Errorf(codes.InvalidArgument, "%s: %s shape %v needs %d bytes, got %d", m.name, inputName, shape, n, len(image))
	}
	defer func() {
		if r := recover(); r != nil {
			err = status.Errorf(codes.Internal, "%s: panic: %v", m.name, r)
		}
	}()
	in := &tensor.Tensor{Name: inputName, DataType: tensor.Uint8, Shape: shape, Raw: image}
	outs, err := m.f(ctx, []*tensor.Tensor{in})
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		return status.Errorf(codes.Internal, "%s: %v", m.name, err) // as the embedded server reports it
	}
	q, ok := native.TensorByName(outs, outputName)
	if !ok {
		return status.Errorf(codes.Internal, "%s returned no %s output", m.name, outputName)
	}
	vals, err := q.Float32s()
	if err != nil {
		return status.Errorf(codes.Internal, "%s: %s: %v", m.name, outputName, err)
	}
	if len(vals) != len(quality) {
		return status.Errorf(codes.Internal, "%s: %s has %d values (shape %v), the caller expects %d", m.name, outputName, len(vals), q.Shape, len(quality))
	}
	copy(quality, vals)
	return nil
}

// elements is the product of shape, refusing negative dimensions and sizes
// that do not fit an int.
func elements(shape []int64) (int64, error) {
	if len(shape) == 0 {
		return 0, fmt.Errorf("no dimensions")
	}
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d", d)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("too many elements")
		}
		n = lo
	}
	return int64(n), nil
}

// errorCode splits an error into the status code and message the C side
// returns; a panic's value becomes Internal.
func errorCode(err error) (codes.Code, string) {
	s, ok := status.FromError(err)
	if !ok {
		return codes.Internal, err.Error()
	}
	return s.Code(), s.Message()
}

// versionString names the library, its ABI, the Go release and what it serves.
func versionString() string {
	return fmt.Sprintf("libagiqa ABI %d (%s; functions: %s)", ABI, runtime.Version(), strings.Join(native.Names(), ", "))
}
