package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// InferRequest is one inference call.
//
// Inputs travel either all as raw bytes (Inputs, sent in raw_input_contents,
// one entry per input in order) or all by reference to registered system
// shared memory (SharedMemoryInputs, no raw bytes at all), never mixed: Triton
// accepts raw_input_contents only when it has exactly one entry per input, so a
// request with both kinds is refused before it is sent.
type InferRequest struct {
	Model   string
	Version string // "" = the server's policy picks
	ID      string // echoed in the response; StreamInfer fills it when empty

	Inputs             []*tensor.Tensor
	SharedMemoryInputs []SharedMemoryInput

	// Outputs names the outputs to return; nil returns all of them.
	Outputs []string

	// Parameters are request parameters (Triton: "priority", "timeout",
	// "sequence_id", ...). Values may be bool, string, int, int32, int64,
	// uint32, uint64, float32 or float64.
	Parameters map[string]any
}

// SharedMemoryInput is an input whose bytes already sit in a registered system
// shared-memory region (RegisterSystemSharedMemory).
type SharedMemoryInput struct {
	Name     string
	DataType tensor.DataType
	Shape    []int64
	Region   string // registered region name
	ByteSize int64  // bytes of this input in the region
	Offset   int64  // offset of this input inside the region
}

// Triton's input parameters naming a shared-memory region.
const (
	paramShmRegion   = "shared_memory_region"
	paramShmByteSize = "shared_memory_byte_size"
	paramShmOffset   = "shared_memory_offset"
)

// Infer runs one request. The response is validated as a whole before it is
// returned: every output has a known datatype and exactly product(shape)
// elements of data. Not retried unless WithRetryInfer was given. The request
// aliases the input tensors' bytes (no copy): do not modify them until Infer
// returns. Output tensors alias the response buffer.
func (c *Client) Infer(ctx context.Context, req InferRequest) (*InferResult, error) {
	pr, err := req.proto()
	if err != nil {
		return nil, newError("ModelInfer", req.Model, codes.InvalidArgument, err)
	}
	resp, err := invoke(ctx, c, "ModelInfer", req.Model, c.cfg.retryInfer,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.ModelInferResponse, error) {
			return s.ModelInfer(ctx, pr, o...)
		})
	if err != nil {
		return nil, err
	}
	return decodeResponse("ModelInfer", req.Model, resp)
}

// proto builds the wire request. Shapes and raw bytes alias the caller's
// tensors (no copies); they must not change until the call returns.
func (r *InferRequest) proto() (*pb.ModelInferRequest, error) {
	if r.Model == "" {
		return nil, errors.New("no model name")
	}
	if len(r.Inputs) > 0 && len(r.SharedMemoryInputs) > 0 {
		return nil, fmt.Errorf("%d raw inputs and %d shared-memory inputs: a request is either all raw or all shared memory",
			len(r.Inputs), len(r.SharedMemoryInputs))
	}
	params, err := toParams(r.Parameters)
	if err != nil {
		return nil, fmt.Errorf("request %w", err)
	}
	pr := &pb.ModelInferRequest{ModelName: r.Model, ModelVersion: r.Version, Id: r.ID, Parameters: params}
	seen := make(map[string]bool, len(r.Inputs)+len(r.SharedMemoryInputs))
	checkName := func(kind, name string) error {
		if name == "" {
			return fmt.Errorf("%s with an empty name", kind)
		}
		if seen[name] {
			return fmt.Errorf("%s %q given twice", kind, name)
		}
		seen[name] = true
		return nil
	}
	if len(r.Inputs) > 0 {
		pr.Inputs = make([]*pb.ModelInferRequest_InferInputTensor, len(r.Inputs))
		pr.RawInputContents = make([][]byte, len(r.Inputs))
		for i, t := range r.Inputs {
			if t == nil {
				return nil, fmt.Errorf("input %d is nil", i)
			}
			if err := checkName("input", t.Name); err != nil {
				return nil, err
			}
			if err := t.Validate(); err != nil {
				return nil, fmt.Errorf("input: %w", err)
			}
			pr.Inputs[i] = &pb.ModelInferRequest_InferInputTensor{Name: t.Name, Datatype: string(t.DataType), Shape: t.Shape}
			pr.RawInputContents[i] = t.Raw
		}
	}
	for i := range r.SharedMemoryInputs {
		in := &r.SharedMemoryInputs[i]
		if err := checkName("input", in.Name); err != nil {
			return nil, err
		}
		if err := in.validate(); err != nil {
			return nil, err
		}
		pr.Inputs = append(pr.Inputs, &pb.ModelInferRequest_InferInputTensor{
			Name: in.Name, Datatype: string(in.DataType), Shape: in.Shape,
			Parameters: map[string]*pb.InferParameter{
				paramShmRegion:   {ParameterChoice: &pb.InferParameter_StringParam{StringParam: in.Region}},
				paramShmByteSize: {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: in.ByteSize}},
				paramShmOffset:   {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: in.Offset}},
			},
		})
	}
	clear(seen)
	for _, name := range r.Outputs {
		if err := checkName("requested output", name); err != nil {
			return nil, err
		}
		pr.Outputs = append(pr.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: name})
	}
	return pr, nil
}

func (in *SharedMemoryInput) validate() error {
	size, ok := tensor.ElementSize(in.DataType)
	if !ok {
		return fmt.Errorf("shared-memory input %q: unknown datatype %q", in.Name, in.DataType)
	}
	n, err := tensor.NumElements(in.Shape)
	if err != nil {
		return fmt.Errorf("shared-memory input %q: %w", in.Name, err)
	}
	if size > 0 && n > math.MaxInt64/int64(size) {
		// Unchecked, n*size wraps and a small region slice "fits" a huge shape.
		return fmt.Errorf("shared-memory input %q: %s shape %v overflows int64 in bytes", in.Name, in.DataType, in.Shape)
	}
	switch {
	case in.Region == "":
		return fmt.Errorf("shared-memory input %q: no region name", in.Name)
	case in.ByteSize <= 0 || in.Offset < 0:
		return fmt.Errorf("shared-memory input %q: byte size %d, offset %d; want size > 0, offset >= 0", in.Name, in.ByteSize, in.Offset)
	case size > 0 && in.ByteSize != n*int64(size):
		return fmt.Errorf("shared-memory input %q: %s shape %v needs %d bytes, region slice has %d",
			in.Name, in.DataType, in.Shape, n*int64(size), in.ByteSize)
	}
	return nil
}

func toParams(m map[string]any) (map[string]*pb.InferParameter, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]*pb.InferParameter, len(m))
	for k, v := range m {
		var p pb.InferParameter
		switch x := v.(type) {
		case bool:
			p.ParameterChoice = &pb.InferParameter_BoolParam{BoolParam: x}
		case string:
			p.ParameterChoice = &pb.InferParameter_StringParam{StringParam: x}
		case int:
			p.ParameterChoice = &pb.InferParameter_Int64Param{Int64Param: int64(x)}
		case int32:
			p.ParameterChoice = &pb.InferParameter_Int64Param{Int64Param: int64(x)}
		case int64:
			p.ParameterChoice = &pb.InferParameter_Int64Param{Int64Param: x}
		case uint32:
			p.ParameterChoice = &pb.InferParameter_Uint64Param{Uint64Param: uint64(x)}
		case uint64:
			p.ParameterChoice = &pb.InferParameter_Uint64Param{Uint64Param: x}
		case float32:
			p.ParameterChoice = &pb.InferParameter_DoubleParam{DoubleParam: float64(x)}
		case float64:
			p.ParameterChoice = &pb.InferParameter_DoubleParam{DoubleParam: x}
		default:
			return nil, fmt.Errorf("parameter %q: unsupported type %T", k, v)
		}
		out[k] = &p
	}
	return out, nil
}

// InferResult is a validated response; outputs are found by name, never by
// position, since servers need not answer in the requested order.
type InferResult struct {
	Model      string
	Version    string
	ID         string
	Parameters map[string]*pb.InferParameter

	outputs []*tensor.Tensor
	byName  map[string]int
}

// Outputs returns the outputs in the order the server sent them.
func (r *InferResult) Outputs() []*tensor.Tensor { return r.outputs }

// Output returns the named output; the error names the model, the tensor and
// the outputs that did arrive.
func (r *InferResult) Output(name string) (*tensor.Tensor, error) {
	if i, ok := r.byName[name]; ok {
		return r.outputs[i], nil
	}
	have := make([]string, len(r.outputs))
	for i, t := range r.outputs {
		have[i] = t.Name
	}
	sort.Strings(have)
	return nil, newError("Output", r.Model, codes.NotFound,
		fmt.Errorf("output tensor %q not in response (outputs: %s)", name, strings.Join(have, ", ")))
}

// typed fetches an output and decodes it with dec, naming the model on error.
func typed[T any](r *InferResult, name string, dec func(*tensor.Tensor) (T, error)) (T, error) {
	t, err := r.Output(name)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := dec(t)
	if err != nil {
		return v, newError("Output", r.Model, codes.InvalidArgument, err)
	}
	return v, nil
}

func (r *InferResult) Bools(name string) ([]bool, error) {
	return typed(r, name, (*tensor.Tensor).Bools)
}
func (r *InferResult) Uint8s(name string) ([]uint8, error) {
	return typed(r, name, (*tensor.Tensor).Uint8s)
}
func (r *InferResult) Int32s(name string) ([]int32, error) {
	return typed(r, name, (*tensor.Tensor).Int32s)
}
func (r *InferResult) Int64s(name string) ([]int64, error) {
	return typed(r, name, (*tensor.Tensor).Int64s)
}

// FP16s decodes a half-precision output widened to float32.
func (r *InferResult) FP16s(name string) ([]float32, error) {
	return typed(r, name, (*tensor.Tensor).FP16s)
}
func (r *InferResult) Float32s(name string) ([]float32, error) {
	return typed(r, name, (*tensor.Tensor).Float32s)
}
func (r *InferResult) Float64s(name string) ([]float64, error) {
	return typed(r, name, (*tensor.Tensor).Float64s)
}

// BF16s decodes a bfloat16 output widened to float32.
func (r *InferResult) BF16s(name string) ([]float32, error) {
	return typed(r, name, (*tensor.Tensor).BF16s)
}

// ByteElements decodes a BYTES output; the elements alias the response.
func (r *InferResult) ByteElements(name string) ([][]byte, error) {
	return typed(r, name, (*tensor.Tensor).ByteElements)
}

// Float64Values widens an FP16/FP32/FP64 output to float64.
func (r *InferResult) Float64Values(name string) ([]float64, error) {
	return typed(r, name, (*tensor.Tensor).Float64Values)
}

// decodeResponse validates a response and indexes its outputs by name. model
// is the requested model, used in errors when the response lacks a name.
func decodeResponse(op, model string, resp *pb.ModelInferResponse) (*InferResult, error) {
	if resp == nil {
		return nil, badResponse(op, model, errors.New("empty response"))
	}
	if resp.GetModelName() != "" {
		model = resp.GetModelName()
	}
	fail := func(err error) (*InferResult, error) {
		return nil, badResponse(op, model, err)
	}
	outs, raw := resp.GetOutputs(), resp.GetRawOutputContents()
	if len(raw) > 0 && len(raw) != len(outs) {
		return fail(fmt.Errorf("response has %d outputs but %d raw_output_contents entries", len(outs), len(raw)))
	}
	res := &InferResult{
		Model: model, Version: resp.GetModelVersion(), ID: resp.GetId(), Parameters: resp.GetParameters(),
		outputs: make([]*tensor.Tensor, len(outs)),
		byName:  make(map[string]int, len(outs)),
	}
	for i, o := range outs {
		if _, dup := res.byName[o.GetName()]; dup {
			return fail(fmt.Errorf("output tensor %q appears twice", o.GetName()))
		}
		res.byName[o.GetName()] = i
		t := &tensor.Tensor{Name: o.GetName(), DataType: tensor.DataType(o.GetDatatype()), Shape: o.GetShape()}
		if len(raw) > 0 {
			// Some servers send an empty contents message beside raw_output_contents: only
			// typed elements there conflict with the raw bytes.
			if c := o.GetContents(); c != nil && contentsLen(c) > 0 {
				return fail(fmt.Errorf("output tensor %q has both raw and typed contents", t.Name))
			}
			t.Raw = raw[i]
		} else {
			b, err := contentsToRaw(t, o.GetContents())
			if err != nil {
				return fail(err)
			}
			t.Raw = b
		}
		if err := t.Validate(); err != nil {
			return fail(fmt.Errorf("output: %w", err))
		}
		res.outputs[i] = t
	}
	return res, nil
}

// contentsToRaw converts typed InferTensorContents (what servers send when they
// do not use raw_output_contents) into the raw little-endian form, checking
// the element count against the shape and narrow integers against their range.
func contentsToRaw(t *tensor.Tensor, c *pb.InferTensorContents) ([]byte, error) {
	size, ok := tensor.ElementSize(t.DataType)
	if !ok {
		return nil, &tensor.Error{Tensor: t.Name, Msg: fmt.Sprintf("unknown datatype %q", t.DataType)}
	}
	n, err := tensor.NumElements(t.Shape)
	if err != nil {
		return nil, &tensor.Error{Tensor: t.Name, Msg: err.Error()}
	}
	bad := func(format string, args ...any) error {
		return &tensor.Error{Tensor: t.Name, Msg: fmt.Sprintf(format, args...)}
	}
	count := func(field string, got int) error {
		if int64(got) != n {
			return bad("%s shape %v needs %d elements, %s has %d", t.DataType, t.Shape, n, field, got)
		}
		return nil
	}
	if c == nil {
		if n == 0 {
			return nil, nil
		}
		return nil, bad("no raw or typed contents for %d elements", n)
	}
	var out []byte
	if size > 0 && n <= int64(contentsLen(c)) {
		// Sized only once the contents can hold n elements: the shape alone
		// comes from the server and may be absurd.
		out = make([]byte, 0, n*int64(size))
	}
	switch t.DataType {
	case tensor.Bool:
		if err := count("bool_contents", len(c.BoolContents)); err != nil {
			return nil, err
		}
		for _, v := range c.BoolContents {
			b := byte(0)
			if v {
				b = 1
			}
			out = append(out, b)
		}
	case tensor.Int8, tensor.Int16, tensor.Int32:
		if err := count("int_contents", len(c.IntContents)); err != nil {
			return nil, err
		}
		lim := int64(1) << (8*size - 1)
		for i, v := range c.IntContents {
			if int64(v) < -lim || int64(v) >= lim {
				return nil, bad("element %d = %d out of %s range", i, v, t.DataType)
			}
			out = appendLE(out, uint64(v), size)
		}
	case tensor.Uint8, tensor.Uint16, tensor.Uint32:
		if err := count("uint_contents", len(c.UintContents)); err != nil {
			return nil, err
		}
		for i, v := range c.UintContents {
			if size < 4 && uint64(v) >= 1<<(8*size) {
				return nil, bad("element %d = %d out of %s range", i, v, t.DataType)
			}
			out = appendLE(out, uint64(v), size)
		}
	case tensor.Int64:
		if err := count("int64_contents", len(c.Int64Contents)); err != nil {
			return nil, err
		}
		for _, v := range c.Int64Contents {
			out = appendLE(out, uint64(v), 8)
		}
	case tensor.Uint64:
		if err := count("uint64_contents", len(c.Uint64Contents)); err != nil {
			return nil, err
		}
		for _, v := range c.Uint64Contents {
			out = appendLE(out, v, 8)
		}
	case tensor.FP32:
		if err := count("fp32_contents", len(c.Fp32Contents)); err != nil {
			return nil, err
		}
		for _, v := range c.Fp32Contents {
			out = appendLE(out, uint64(math.Float32bits(v)), 4)
		}
	case tensor.FP64:
		if err := count("fp64_contents", len(c.Fp64Contents)); err != nil {
			return nil, err
		}
		for _, v := range c.Fp64Contents {
			out = appendLE(out, math.Float64bits(v), 8)
		}
	case tensor.Bytes:
		if err := count("bytes_contents", len(c.BytesContents)); err != nil {
			return nil, err
		}
		out = tensor.EncodeBytes(c.BytesContents)
	default:
		// KServe v2 has no typed field for FP16: it must travel raw.
		return nil, bad("%s cannot be sent as typed contents, only raw", t.DataType)
	}
	return out, nil
}

// contentsLen is the number of elements in the longest typed field.
func contentsLen(c *pb.InferTensorContents) int {
	return max(len(c.BoolContents), len(c.IntContents), len(c.Int64Contents), len(c.UintContents),
		len(c.Uint64Contents), len(c.Fp32Contents), len(c.Fp64Contents), len(c.BytesContents))
}

func appendLE(b []byte, v uint64, size int) []byte {
	for i := 0; i < size; i++ {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}
