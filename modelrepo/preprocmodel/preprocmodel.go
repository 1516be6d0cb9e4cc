// Package preprocmodel is the server side of the harness's image
// preprocessing: native functions that take encoded image bytes and return
// the model contract's IMAGE tensor, with the same Go code the harness runs
// (bench/preprocess: libjpeg-turbo or the pure-Go decoder, Pillow-exact
// resampling), so an ensemble chaining one of them with a model scores the
// same pixels the harness would send.
//
// One function per (method, size) the repository needs, registered as
// "preprocess_<method>_<size>" ("preprocess_resize_512") and
// "preprocess_native" (decoded image at its own size, for [3,-1,-1] models).
// Input ENCODED: BYTES [batch, 1], one JPEG or PNG file's bytes per row.
// Output IMAGE: UINT8 [batch, 3, S, S].
//
// An image that does not decode fails its request with InvalidArgument naming
// the input, the row and the decoder's reason. A function fails the whole
// batch it is given, so preprocessing models are configured without
// dynamic_batching: each request runs alone and a bad image cannot fail
// another request's images (their instance_group count gives parallelism).
package preprocmodel

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// Tensor names of a preprocessing model.
const (
	InputEncoded = "ENCODED"
	OutputImage  = "IMAGE"
)

// Spec is one preprocessing function: method and size (0 for native).
type Spec struct {
	Method preprocess.Method
	Size   int
}

// Name is the registered function and model name of s.
func (s Spec) Name() string {
	if s.Method == preprocess.MethodNative {
		return "preprocess_native"
	}
	return fmt.Sprintf("preprocess_%s_%d", s.Method, s.Size)
}

// Specs are the (method, size) pairs the repositories' models use
// (modelrepo/models and the built-in one): every IMAGE input's S and
// agiqa.preprocess.
var Specs = []Spec{
	{preprocess.MethodResize, 512},
	{preprocess.MethodResize, 224},
	{preprocess.MethodResizeCenterCrop, 224},
	{preprocess.MethodResizePad, 224},
	{preprocess.MethodNative, 0},
}

// LoaderName is the native loader for any other (method, size): the version
// folder's SpecFile holds "<method> <size>" ("resize_center_crop 384",
// "native 0").
const (
	LoaderName = "preprocess"
	SpecFile   = "preprocess.spec"
)

func init() {
	for _, s := range Specs {
		native.Register(s.Name(), s.Func())
	}
	native.RegisterLoader(LoaderName, loadSpec)
}

func loadSpec(_ context.Context, files fs.FS) (native.Func, error) {
	data, err := fs.ReadFile(files, SpecFile)
	if err != nil {
		return nil, fmt.Errorf("preprocess loader: %w", err)
	}
	s, err := ParseSpec(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("preprocess loader: %s: %w", SpecFile, err)
	}
	return s.Func(), nil
}

// ParseSpec reads "<method> <size>".
func ParseSpec(text string) (Spec, error) {
	f := strings.Fields(text)
	if len(f) != 2 {
		return Spec{}, fmt.Errorf("%q: want \"<method> <size>\"", text)
	}
	m, err := preprocess.ParseMethod(f[0])
	if err != nil {
		return Spec{}, err
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || n > 1<<14 || (n == 0) != (m == preprocess.MethodNative) {
		return Spec{}, fmt.Errorf("size %q does not fit method %s (native takes 0, the others 1..16384)", f[1], m)
	}
	return Spec{Method: m, Size: n}, nil
}

// Image decodes one encoded image and brings it to the IMAGE layout, exactly
// as the harness's runner does (preprocess.DecodeCHW). name is used in errors.
func (s Spec) Image(data []byte, name string) (preprocess.CHW, error) {
	return preprocess.DecodeCHW(data, name, s.Size, s.Method)
}

// Func is the native function of s.
func (s Spec) Func() native.Func {
	return func(ctx context.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(inputs) != 1 || inputs[0].DataType != tensor.Bytes {
			return nil, status.Errorf(codes.InvalidArgument, "%s takes one BYTES input %s", s.Name(), InputEncoded)
		}
		in := inputs[0]
		rows, err := splitBytes(in)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "input %s: %v", in.Name, err)
		}
		imgs, err := s.decodeAll(ctx, in.Name, rows)
		if err != nil {
			return nil, err
		}
		h, w := imgs[0].H, imgs[0].W
		pix := make([]uint8, 0, len(imgs)*3*h*w)
		for i, im := range imgs {
			if im.H != h || im.W != w {
				// Only native output varies in size; a batch is one tensor.
				return nil, status.Errorf(codes.InvalidArgument, "input %s: row %d decodes to %dx%d, row 0 to %dx%d; %s needs one size per request (send one image per request)",
					in.Name, i, im.W, im.H, w, h, s.Name())
			}
			pix = append(pix, im.Pix...)
		}
		shape := []int64{3, int64(h), int64(w)}
		if len(in.Shape) == 2 {
			shape = append([]int64{int64(len(imgs))}, shape...)
		}
		out, err := tensor.NewUint8(OutputImage, shape, pix)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{out}, nil
	}
}

// decodeAll decodes the rows on up to GOMAXPROCS goroutines; the first
// failure (lowest row) is the error.
func (s Spec) decodeAll(ctx context.Context, input string, rows [][]byte) ([]preprocess.CHW, error) {
	imgs := make([]preprocess.CHW, len(rows))
	errs := make([]error, len(rows))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(len(rows), runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				imgs[i], errs[i] = s.Image(rows[i], fmt.Sprintf("%s[%d]", input, i))
			}
		}()
	}
	for i := range rows {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	for i, err := range errs {
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "input %s: image in row %d does not decode: %v", input, i, err)
		}
	}
	return imgs, nil
}

// splitBytes returns the elements of a BYTES tensor of shape [N] or [N, 1].
func splitBytes(t *tensor.Tensor) ([][]byte, error) {
	n, err := tensor.NumElements(t.Shape)
	if err != nil {
		return nil, err
	}
	if n == 0 || (len(t.Shape) == 2 && t.Shape[1] != 1) || len(t.Shape) > 2 {
		return nil, fmt.Errorf("shape %v: want [batch, 1] with one encoded image per row", t.Shape)
	}
	raw := t.Raw
	out := make([][]byte, 0, n)
	for i := int64(0); i < n; i++ {
		if len(raw) < 4 {
			return nil, fmt.Errorf("element %d: length prefix runs past the data", i)
		}
		l := binary.LittleEndian.Uint32(raw)
		if uint64(len(raw)-4) < uint64(l) {
			return nil, fmt.Errorf("element %d: %d bytes declared, %d left", i, l, len(raw)-4)
		}
		out = append(out, raw[4:4+l])
		raw = raw[4+l:]
	}
	return out, nil
}
