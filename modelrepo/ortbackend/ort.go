//go:build cgo

package ortbackend

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// minAPI is the C API version onnxruntime_go v1.27 asks the library for
// (ORT_API_VERSION in its header): ONNX Runtime 1.24 or newer provides it.
const minAPI = 24

// ONNX Runtime keeps one environment per process, and the library, once
// loaded, stays.
var env struct {
	sync.Mutex
	path string // canonical path of the loaded library
}

func canonical(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return p
}

func initEnv(path string) error {
	env.Lock()
	defer env.Unlock()
	c := canonical(path)
	if ort.IsInitialized() {
		if env.path != c {
			return fmt.Errorf("ONNX Runtime is already loaded in this process from %s; it cannot also load %s", env.path, path)
		}
		return nil
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(); err != nil {
		return fmt.Errorf("loading ONNX Runtime from %s (this build needs C API version %d, ONNX Runtime 1.%d or newer): %w",
			path, minAPI, minAPI, err)
	}
	env.path = c
	return nil
}

// Backend loads ONNX model versions as ONNX Runtime sessions. It is safe for
// concurrent use.
type Backend struct {
	lib     string
	version string
	opts    options
	checked sync.Map // checkKey -> struct{}: files whose inputs and outputs matched their config
}

type checkKey struct {
	cfg     *pb.ModelConfig
	version int64
	path    string
	size    int64
	mod     time.Time
}

// New finds the library (see LibraryPath; libPath may be empty), loads it
// once per process and returns the backend. The error says why ONNX
// Runtime cannot be used.
func New(libPath string, opts ...Option) (*Backend, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, errors.New("ortbackend: tensors travel little-endian; this big-endian host would need byte swapping, which is not implemented")
	}
	p, err := LibraryPath(libPath)
	if err != nil {
		return nil, err
	}
	if err := initEnv(p); err != nil {
		return nil, err
	}
	return &Backend{lib: p, version: ort.GetVersion(), opts: o}, nil
}

// LibraryPath is the library the backend runs on.
func (b *Backend) LibraryPath() string { return b.lib }

// Version is ONNX Runtime's version string ("1.30.0").
func (b *Backend) Version() string { return b.version }

// source is where a version's ONNX file is: an OS path when the repository
// is a directory, else its bytes.
type source struct {
	file string // name inside the version folder
	path string
	data []byte
}

func modelSource(m *modelrepo.Model, version int64) (source, error) {
	file := ModelFileName(m.Config)
	v, ok := m.Version(version)
	if !ok {
		return source{}, fmt.Errorf("model %q has no version %d", m.Name, version)
	}
	if !slices.Contains(v.Files, file) {
		return source{}, fmt.Errorf("model %q version %d: %s is missing from the version folder %s (it holds %s)",
			m.Name, version, file, filepath.Join(m.Dir, strconv.FormatInt(version, 10)), strings.Join(v.Files, ", "))
	}
	if p, ok := m.LocalPath(version, file); ok {
		return source{file: file, path: p}, nil
	}
	data, err := m.ReadFile(version, file)
	if err != nil {
		return source{}, err
	}
	// ONNX Runtime resolves external data (models over 2 GB: model.onnx.data)
	// relative to the model file's folder, which a repository read from an
	// fs.FS does not have.
	if ext, err := modelrepo.ExternalData(bytes.NewReader(data), int64(len(data))); err == nil && len(ext) > 0 {
		return source{}, fmt.Errorf("model %q version %d: %s keeps tensor %q (and %d more) in %s, which ONNX Runtime can only read "+
			"beside the model file on disk: serve the repository from a directory", m.Name, version, file, ext[0].Name, len(ext)-1, ext[0].Location)
	}
	return source{file: file, data: data}, nil
}

func convertInfo(infos []ort.InputOutputInfo) []TensorInfo {
	out := make([]TensorInfo, len(infos))
	for i, in := range infos {
		t := TensorInfo{Name: in.Name, Desc: in.String()}
		if in.OrtValueType == ort.ONNXTypeTensor {
			if dt, ok := onnxToConfig[int(in.DataType)]; ok {
				t.DataType = dt
				t.Dims = slices.Clone([]int64(in.Dimensions))
			}
		}
		out[i] = t
	}
	return out
}

// Inspect reports the inputs and outputs of a version's ONNX file as ONNX
// Runtime sees them.
func (b *Backend) Inspect(ctx context.Context, m *modelrepo.Model, version int64) (inputs, outputs []TensorInfo, err error) {
	src, err := modelSource(m, version)
	if err != nil {
		return nil, nil, err
	}
	return b.inspect(ctx, m, version, src)
}

func (b *Backend) inspect(ctx context.Context, m *modelrepo.Model, version int64, src source) (inputs, outputs []TensorInfo, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var ins, outs []ort.InputOutputInfo
	if src.path != "" {
		// Reading the signature needs a session; an unoptimised single-threaded one is cheapest.
		so, err := ort.NewSessionOptions()
		if err != nil {
			return nil, nil, fmt.Errorf("model %q version %d: ONNX Runtime session options: %w", m.Name, version, err)
		}
		defer so.Destroy()
		if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
			return nil, nil, err
		}
		if err := so.SetIntraOpNumThreads(1); err != nil {
			return nil, nil, err
		}
		ins, outs, err = ort.GetInputOutputInfoWithOptions(src.path, so)
	} else {
		ins, outs, err = ort.GetInputOutputInfoWithONNXData(src.data)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("model %q version %d: ONNX Runtime cannot read %s: %w", m.Name, version, src.file, err)
	}
	if len(ins) == 0 && len(outs) == 0 {
		// Arbitrary bytes often parse as an empty protobuf message.
		return nil, nil, fmt.Errorf("model %q version %d: %s has no graph inputs or outputs: it is not an ONNX model, or it is truncated",
			m.Name, version, src.file)
	}
	return convertInfo(ins), convertInfo(outs), nil
}

// Check does what Load checks without creating a session to serve: the
// file exists, the backend supports the config's tensors, and the graph's
// inputs and outputs match the config (a *MismatchError otherwise).
func (b *Backend) Check(ctx context.Context, m *modelrepo.Model, version int64) error {
	src, err := modelSource(m, version)
	if err != nil {
		return err
	}
	return b.check(ctx, m, version, src)
}

func (b *Backend) check(ctx context.Context, m *modelrepo.Model, version int64, src source) error {
	if err := supportedConfig(m.Name, m.Config); err != nil {
		return err
	}
	var key checkKey
	if src.path != "" {
		st, err := os.Stat(src.path)
		if err != nil {
			return fmt.Errorf("model %q version %d: %w", m.Name, version, err)
		}
		key = checkKey{cfg: m.Config, version: version, path: src.path, size: st.Size(), mod: st.ModTime()}
		if _, ok := b.checked.Load(key); ok {
			return nil // another instance of the same version already checked this file
		}
	}
	ins, outs, err := b.inspect(ctx, m, version, src)
	if err != nil {
		return err
	}
	if err := CheckIO(m.Name, version, src.file, m.Config, ins, outs); err != nil {
		return err
	}
	if src.path != "" {
		b.checked.Store(key, struct{}{})
	}
	return nil
}

// ioSpec is one config tensor as the instance feeds or reads it.
type ioSpec struct {
	name  string
	dt    tensor.DataType
	elem  ort.TensorElementDataType
	size  int
	dims  []int64 // config dims, without the batch dimension
	graph []int64 // what the graph sees without the batch dimension: reshape or dims
	fixed bool    // graph dims fully known: outputs are preallocated
}

func newSpec(name string, dt pb.DataType, dims []int64, reshape *pb.ModelTensorReshape) ioSpec {
	w, _ := tensor.FromConfig(dt) // supportedConfig vouched for both lookups
	onnx, _ := configToONNX(dt)
	size, _ := tensor.ElementSize(w)
	sp := ioSpec{name: name, dt: w, elem: ort.TensorElementDataType(onnx), size: size, dims: dims, graph: dims}
	if reshape != nil {
		sp.graph = reshape.GetShape()
	}
	sp.fixed = !slices.Contains(sp.graph, -1) && !slices.Contains(sp.dims, -1)
	return sp
}

// Load checks the version's ONNX file against the config and opens a
// session on it: one Instance (the server calls Load per instance).
func (b *Backend) Load(ctx context.Context, m *modelrepo.Model, version int64) (server.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	src, err := modelSource(m, version)
	if err != nil {
		return nil, err
	}
	if err := b.check(ctx, m, version, src); err != nil {
		return nil, err
	}
	cfg := m.Config
	inst := &instance{model: m.Name, version: version, maxBatch: int64(cfg.GetMaxBatchSize())}
	var inNames, outNames []string
	for _, in := range cfg.GetInput() {
		inst.inputs = append(inst.inputs, newSpec(in.GetName(), in.GetDataType(), in.GetDims(), in.GetReshape()))
		inNames = append(inNames, in.GetName())
	}
	for _, out := range cfg.GetOutput() {
		inst.outputs = append(inst.outputs, newSpec(out.GetName(), out.GetDataType(), out.GetDims(), out.GetReshape()))
		outNames = append(outNames, out.GetName())
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("model %q version %d: ONNX Runtime session options: %w", m.Name, version, err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(b.opts.intraOp); err != nil {
		return nil, fmt.Errorf("model %q version %d: %w", m.Name, version, err)
	}
	// The server runs instances in parallel already; ONNX Runtime's own
	// inter-op pool would only compete with them.
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("model %q version %d: %w", m.Name, version, err)
	}
	if src.path != "" {
		inst.sess, err = ort.NewDynamicAdvancedSession(src.path, inNames, outNames, so)
	} else {
		inst.sess, err = ort.NewDynamicAdvancedSessionWithONNXData(src.data, inNames, outNames, so)
	}
	if err != nil {
		return nil, fmt.Errorf("model %q version %d: ONNX Runtime cannot open %s: %w", m.Name, version, src.file, err)
	}
	return inst, nil
}

// instance is one ONNX Runtime session serving a model version.
type instance struct {
	model    string
	version  int64
	maxBatch int64 // 0: no batch dimension
	inputs   []ioSpec
	outputs  []ioSpec

	mu   sync.Mutex // Close may race a late Execute
	sess *ort.DynamicAdvancedSession
}

func (in *instance) invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "model %q version %d: %s", in.model, in.version, fmt.Sprintf(format, args...))
}

// Execute runs one (possibly merged) batch.
func (in *instance) Execute(ctx context.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sess == nil {
		return nil, status.Errorf(codes.Unavailable, "model %q version %d: instance is closed", in.model, in.version)
	}
	var values []ort.Value
	defer func() {
		for _, v := range values {
			if v != nil {
				_ = v.Destroy()
			}
		}
	}()
	batch := int64(-1)
	for _, sp := range in.inputs {
		i := slices.IndexFunc(inputs, func(t *tensor.Tensor) bool { return t != nil && t.Name == sp.name })
		if i < 0 {
			return nil, in.invalid("input %q is missing: the ONNX graph needs every configured input", sp.name)
		}
		t := inputs[i]
		if t.DataType != sp.dt {
			return nil, in.invalid("input %q is %s; config.pbtxt says %s", sp.name, t.DataType, sp.dt)
		}
		shape, b, err := in.graphShape(sp, t.Shape)
		if err != nil {
			return nil, err
		}
		if batch >= 0 && b != batch {
			return nil, in.invalid("input %q has batch size %d, an earlier input %d", sp.name, b, batch)
		}
		batch = b
		if err := t.Validate(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "model %q version %d: %v", in.model, in.version, err)
		}
		if len(t.Raw) == 0 {
			return nil, in.invalid("input %q %s is empty; ONNX Runtime needs at least one element", sp.name, FormatShape(t.Shape))
		}
		v, err := ort.NewCustomDataTensor(ort.Shape(shape), t.Raw, sp.elem)
		if err != nil {
			return nil, fmt.Errorf("model %q version %d: input %q: %w", in.model, in.version, sp.name, err)
		}
		values = append(values, v)
	}
	nIn := len(values)
	outBufs := make([][]byte, len(in.outputs))
	for i, sp := range in.outputs {
		if !sp.fixed {
			values = append(values, nil) // ONNX Runtime allocates; converted below
			continue
		}
		shape := sp.graph
		if in.maxBatch > 0 {
			shape = append([]int64{batch}, shape...)
		}
		n, err := tensor.NumElements(shape)
		if err != nil {
			return nil, fmt.Errorf("model %q version %d: output %q: %w", in.model, in.version, sp.name, err)
		}
		outBufs[i] = make([]byte, n*int64(sp.size))
		v, err := ort.NewCustomDataTensor(ort.Shape(shape), outBufs[i], sp.elem)
		if err != nil {
			return nil, fmt.Errorf("model %q version %d: output %q: %w", in.model, in.version, sp.name, err)
		}
		values = append(values, v)
	}
	if err := in.run(ctx, values[:nIn], values[nIn:]); err != nil {
		return nil, err
	}
	outs := make([]*tensor.Tensor, len(in.outputs))
	for i, sp := range in.outputs {
		t := &tensor.Tensor{Name: sp.name, DataType: sp.dt}
		if sp.fixed {
			t.Shape = sp.dims
			if in.maxBatch > 0 {
				t.Shape = append([]int64{batch}, sp.dims...)
			}
			t.Raw = outBufs[i]
		} else {
			v := values[nIn+i]
			t.Shape = []int64(v.GetShape())
			raw, err := rawBytes(v)
			if err != nil {
				return nil, fmt.Errorf("model %q version %d: output %q: %w", in.model, in.version, sp.name, err)
			}
			t.Raw = raw
			if in.maxBatch > 0 && (len(t.Shape) == 0 || t.Shape[0] != batch) {
				return nil, fmt.Errorf("model %q version %d: output %q has shape %s; its first dimension should be the batch size %d",
					in.model, in.version, sp.name, FormatShape(t.Shape), batch)
			}
		}
		outs[i] = t
	}
	return outs, nil
}

// graphShape checks a request shape against the config and returns the shape
// the graph gets (the reshape applied) and the batch size (1 without batching).
func (in *instance) graphShape(sp ioSpec, shape []int64) ([]int64, int64, error) {
	want := sp.dims
	b := int64(1)
	if in.maxBatch > 0 {
		if len(shape) == 0 || shape[0] < 1 || shape[0] > in.maxBatch {
			return nil, 0, in.invalid("input %q has shape %s; the first dimension is the batch, 1..%d (max_batch_size)",
				sp.name, FormatShape(shape), in.maxBatch)
		}
		b = shape[0]
		want = append([]int64{-1}, sp.dims...)
	}
	ok := len(shape) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = want[i] == -1 || want[i] == shape[i]
	}
	if !ok {
		return nil, 0, in.invalid("input %q has shape %s; config.pbtxt expects %s", sp.name, FormatShape(shape), FormatShape(want))
	}
	if slices.Equal(sp.graph, sp.dims) {
		return shape, b, nil
	}
	g := sp.graph
	if in.maxBatch > 0 {
		g = append([]int64{b}, g...)
	}
	return g, b, nil
}

// run executes the session; a cancelled ctx terminates the run.
func (in *instance) run(ctx context.Context, inputs, outputs []ort.Value) error {
	ro, err := ort.NewRunOptions()
	if err != nil {
		return fmt.Errorf("model %q version %d: ONNX Runtime run options: %w", in.model, in.version, err)
	}
	defer ro.Destroy()
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		_ = ro.Terminate()
	})
	defer func() {
		if !stop() {
			<-done // Terminate is running on ro: let it finish before Destroy
		}
	}()
	if err := in.sess.RunWithOptions(inputs, outputs, ro); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("model %q version %d: run terminated: %w", in.model, in.version, ctx.Err())
		}
		return fmt.Errorf("model %q version %d: ONNX Runtime: %w", in.model, in.version, err)
	}
	return nil
}

// rawBytes copies a tensor ONNX Runtime allocated into wire bytes (host
// order, which New checked is little-endian).
func rawBytes(v ort.Value) ([]byte, error) {
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[float64]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[uint8]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[int8]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[uint16]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[int16]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[uint32]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[int32]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[uint64]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[int64]:
		return asBytes(t.GetData()), nil
	case *ort.Tensor[bool]:
		return asBytes(t.GetData()), nil
	}
	return nil, fmt.Errorf("ONNX Runtime returned %T, which this backend cannot convert (give the output fixed dims in config.pbtxt)", v)
}

func asBytes[T any](data []T) []byte {
	var zero T
	n := len(data) * int(unsafe.Sizeof(zero))
	if n == 0 {
		return []byte{}
	}
	return slices.Clone(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), n))
}

// Close releases the session.
func (in *instance) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sess == nil {
		return nil
	}
	err := in.sess.Destroy()
	in.sess = nil
	if err != nil {
		return fmt.Errorf("model %q version %d: closing the ONNX Runtime session: %w", in.model, in.version, err)
	}
	return nil
}
