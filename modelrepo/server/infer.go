package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// Input parameters that place an input's bytes in a registered system
// shared-memory region (Triton's names).
const (
	ParamSHMRegion   = "shared_memory_region"
	ParamSHMByteSize = "shared_memory_byte_size"
	ParamSHMOffset   = "shared_memory_offset"
)

// ParamClassification is the requested-output parameter asking Triton for
// the top-k class labels of an output instead of its values.
const ParamClassification = "classification"

func invalidf(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// maxResolves bounds how often one request follows a version swapped out
// (reloaded or unloaded) between resolving it and queueing on it.
const maxResolves = 3

// resolveAndInfer resolves the version a request names and runs it there. A
// version is swapped out of s.models before its queue closes, so a request
// that finds the queue closed resolves again and gets the reloaded version,
// or the reason the model is no longer ready.
func (s *Server) resolveAndInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		vs, err := s.resolve(req.ModelName, req.ModelVersion)
		if err != nil {
			return nil, err
		}
		resp, err := s.infer(ctx, vs, req)
		if !errors.Is(err, errUnloaded) {
			return resp, err
		}
		if attempt == maxResolves {
			vs.stats.recordFail(time.Since(start))
			return nil, status.Errorf(codes.Unavailable, "model %q version %d was unloaded", vs.name, vs.version)
		}
	}
}

// infer runs one request on a resolved version and counts it in the stats;
// errUnloaded (not counted) means the version's queue has closed.
func (s *Server) infer(ctx context.Context, vs *versionState, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	received := time.Now()
	r, err := s.decode(vs, req)
	if err != nil {
		vs.stats.recordFail(time.Since(received))
		return nil, err
	}
	r.ctx = ctx
	r.done = make(chan execResult, 1)
	r.enqueued = time.Now()
	if err := vs.sched.enqueue(r); err != nil {
		if errors.Is(err, errUnloaded) {
			return nil, err // swapped out since resolve: the caller resolves again
		}
		vs.stats.recordFailAs(time.Since(received), failRejected)
		return nil, status.Errorf(codes.Unavailable, "model %q version %d: queue full (%d requests queued, the limit)", vs.name, vs.version, cap(vs.sched.q))
	}
	// The queued request holds the input bytes now. Dropping the message's reference lets them
	// go as soon as the backend is done with them, not when the response has been sent.
	req.RawInputContents = nil
	for _, in := range req.Inputs {
		in.Contents = nil
	}
	var res execResult
	select {
	case res = <-r.done:
	case <-ctx.Done():
		vs.stats.recordFailAs(time.Since(received), failCanceled)
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if res.err != nil {
		vs.stats.recordFailAs(time.Since(received), failReasonOf(res.err))
		return nil, res.err
	}
	resp := &pb.ModelInferResponse{ModelName: vs.name, ModelVersion: vs.vstr, Id: req.Id}
	if err := s.assembleOutputs(req, resp, res.outputs); err != nil { // shm_output.go
		vs.stats.recordFail(time.Since(received))
		return nil, err
	}
	vs.stats.recordSuccess(time.Since(received), r.rows, res)
	return resp, nil
}

// decode checks a request against the version's config and gathers each
// input's bytes from raw_input_contents, typed contents or shared memory.
func (s *Server) decode(vs *versionState, req *pb.ModelInferRequest) (*request, error) {
	maxBatch := int64(vs.cfg.MaxBatchSize)
	raw := req.RawInputContents
	rawNext := 0
	inputs := make([]*tensor.Tensor, len(vs.inputs))
	rows, rowsFrom := int64(-1), ""
	for _, in := range req.Inputs {
		idx, sp := vs.input(in.Name)
		if sp == nil {
			return nil, invalidf("model %q has no input %q (inputs: %s)", vs.name, in.Name, specNames(vs.inputs))
		}
		if inputs[idx] != nil {
			return nil, invalidf("input %q is given twice", in.Name)
		}
		if dt := tensor.DataType(in.Datatype); dt != sp.dt {
			return nil, invalidf("input %q: datatype %q, model %q expects %s", in.Name, in.Datatype, vs.name, sp.dt)
		}
		want := sp.dims
		if maxBatch > 0 {
			want = append([]int64{-1}, sp.dims...)
		}
		expected := func() string {
			if maxBatch > 0 {
				return fmt.Sprintf("[batch 1..%d]+%v", maxBatch, sp.dims)
			}
			return fmt.Sprint(sp.dims)
		}
		if !shapeMatches(in.Shape, want) {
			return nil, invalidf("input %q: shape %v, model %q expects %s", in.Name, in.Shape, vs.name, expected())
		}
		if _, err := tensor.NumElements(in.Shape); err != nil {
			return nil, invalidf("input %q: %v", in.Name, err)
		}
		if maxBatch > 0 {
			b := in.Shape[0]
			if b < 1 || b > maxBatch {
				return nil, invalidf("input %q: batch size %d is outside 1..%d (max_batch_size of model %q)", in.Name, b, maxBatch, vs.name)
			}
			if rows >= 0 && b != rows {
				return nil, invalidf("input %q: batch size %d differs from input %q's %d", in.Name, b, rowsFrom, rows)
			}
			rows, rowsFrom = b, in.Name
		}
		var data []byte
		region, shm, err := shmParams(in)
		switch {
		case err != nil:
			return nil, err
		case shm:
			if in.Contents != nil {
				return nil, invalidf("input %q: both contents and shared memory are given; use one", in.Name)
			}
			if data, err = s.shm.read(in.Name, region); err != nil {
				return nil, err
			}
		case in.Contents != nil:
			if len(raw) > 0 {
				return nil, invalidf("input %q: contents must not be used when the request has raw_input_contents (all inputs go in raw_input_contents, or none)", in.Name)
			}
			if data, err = contentsToRaw(in.Name, sp.dt, in.Shape, in.Contents); err != nil {
				return nil, err
			}
		default:
			if rawNext >= len(raw) {
				return nil, invalidf("input %q: no data (no contents, no shared memory, and raw_input_contents has only %d entries)", in.Name, len(raw))
			}
			data = raw[rawNext]
			rawNext++
		}
		t := &tensor.Tensor{Name: in.Name, DataType: sp.dt, Shape: in.Shape, Raw: data}
		if err := t.Validate(); err != nil {
			var te *tensor.Error
			if errors.As(err, &te) {
				return nil, invalidf("input %q: %s", in.Name, te.Msg)
			}
			return nil, invalidf("input %q: %v", in.Name, err)
		}
		inputs[idx] = t
	}
	if rawNext != len(raw) {
		return nil, invalidf("raw_input_contents has %d entries but %d inputs take their data from it", len(raw), rawNext)
	}
	present := inputs[:0:0]
	for i, sp := range vs.inputs {
		if inputs[i] == nil {
			if !sp.optional {
				return nil, invalidf("input %q of model %q is missing", sp.name, vs.name)
			}
			continue
		}
		present = append(present, inputs[i])
	}
	r := &request{inputs: present, rows: 1}
	if maxBatch > 0 {
		if rows < 0 {
			// Possible when every input is optional: nothing gives the batch size.
			return nil, invalidf("request has no inputs; model %q batches (max_batch_size %d) and takes the batch size from them", vs.name, maxBatch)
		}
		r.rows = int(rows)
	}
	if len(req.Outputs) == 0 {
		for _, sp := range vs.outputs {
			r.outputs = append(r.outputs, sp.name)
		}
		return r, nil
	}
	seen := map[string]bool{}
	for _, o := range req.Outputs {
		if vs.output(o.Name) == nil {
			return nil, invalidf("model %q has no output %q (outputs: %s)", vs.name, o.Name, specNames(vs.outputs))
		}
		if err := s.checkOutputSHM(vs, o, r.rows); err != nil { // shm_output.go
			return nil, err
		}
		// Triton answers it with top-k labels (BYTES); sending the raw
		// scores instead would be misread, so refuse.
		if _, ok := o.Parameters[ParamClassification]; ok {
			return nil, status.Errorf(codes.Unimplemented, "output %q: parameter %s (top-k class labels) is not supported by the embedded server", o.Name, ParamClassification)
		}
		if !seen[o.Name] {
			seen[o.Name] = true
			r.outputs = append(r.outputs, o.Name)
		}
	}
	return r, nil
}

// shmRef is where an input's bytes lie in a registered region.
type shmRef struct {
	region         string
	offset, length uint64
}

func shmParams(in *pb.ModelInferRequest_InferInputTensor) (shmRef, bool, error) {
	p, ok := in.Parameters[ParamSHMRegion]
	if !ok {
		return shmRef{}, false, nil
	}
	ref := shmRef{region: p.GetStringParam()}
	if ref.region == "" {
		return ref, false, invalidf("input %q: parameter %s must be a non-empty string", in.Name, ParamSHMRegion)
	}
	size, ok, err := uintParam(in, ParamSHMByteSize)
	if err != nil {
		return ref, false, err
	}
	if !ok {
		return ref, false, invalidf("input %q: parameter %s is required with %s", in.Name, ParamSHMByteSize, ParamSHMRegion)
	}
	off, _, err := uintParam(in, ParamSHMOffset)
	if err != nil {
		return ref, false, err
	}
	ref.offset, ref.length = off, size
	return ref, true, nil
}

func uintParam(in *pb.ModelInferRequest_InferInputTensor, key string) (uint64, bool, error) {
	p, ok := in.Parameters[key]
	if !ok {
		return 0, false, nil
	}
	switch v := p.GetParameterChoice().(type) {
	case *pb.InferParameter_Int64Param:
		if v.Int64Param < 0 {
			return 0, false, invalidf("input %q: parameter %s is negative (%d)", in.Name, key, v.Int64Param)
		}
		return uint64(v.Int64Param), true, nil
	case *pb.InferParameter_Uint64Param:
		return v.Uint64Param, true, nil
	default:
		return 0, false, invalidf("input %q: parameter %s must be an integer", in.Name, key)
	}
}

// contentsToRaw encodes typed contents as wire bytes. Each datatype has its
// one contents field (as in KServe v2); FP16 has none.
func contentsToRaw(name string, dt tensor.DataType, shape []int64, c *pb.InferTensorContents) ([]byte, error) {
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, invalidf("input %q: %v", name, err)
	}
	lens := map[string]int{
		"bool_contents": len(c.BoolContents), "int_contents": len(c.IntContents),
		"int64_contents": len(c.Int64Contents), "uint_contents": len(c.UintContents),
		"uint64_contents": len(c.Uint64Contents), "fp32_contents": len(c.Fp32Contents),
		"fp64_contents": len(c.Fp64Contents), "bytes_contents": len(c.BytesContents),
	}
	var field string
	switch dt {
	case tensor.Bool:
		field = "bool_contents"
	case tensor.Int8, tensor.Int16, tensor.Int32:
		field = "int_contents"
	case tensor.Int64:
		field = "int64_contents"
	case tensor.Uint8, tensor.Uint16, tensor.Uint32:
		field = "uint_contents"
	case tensor.Uint64:
		field = "uint64_contents"
	case tensor.FP32:
		field = "fp32_contents"
	case tensor.FP64:
		field = "fp64_contents"
	case tensor.Bytes:
		field = "bytes_contents"
	default:
		return nil, invalidf("input %q: %s cannot be sent in contents; use raw_input_contents", name, dt)
	}
	for f, l := range lens {
		if f != field && l > 0 {
			return nil, invalidf("input %q: %s data goes in contents.%s, not contents.%s", name, dt, field, f)
		}
	}
	if int64(lens[field]) != n {
		return nil, invalidf("input %q: contents.%s has %d elements; shape %v needs %d", name, field, lens[field], shape, n)
	}
	size, _ := tensor.ElementSize(dt)
	out := make([]byte, int(n)*size)
	rangeErr := func(i int, v any) error {
		return invalidf("input %q: contents.%s[%d] = %v does not fit %s", name, field, i, v, dt)
	}
	switch dt {
	case tensor.Bool:
		for i, v := range c.BoolContents {
			if v {
				out[i] = 1
			}
		}
	case tensor.Int8, tensor.Int16, tensor.Int32:
		lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
		if dt == tensor.Int8 {
			lo, hi = math.MinInt8, math.MaxInt8
		} else if dt == tensor.Int16 {
			lo, hi = math.MinInt16, math.MaxInt16
		}
		for i, v := range c.IntContents {
			if int64(v) < lo || int64(v) > hi {
				return nil, rangeErr(i, v)
			}
			putLE(out[i*size:], uint64(v), size)
		}
	case tensor.Int64:
		for i, v := range c.Int64Contents {
			putLE(out[i*8:], uint64(v), 8)
		}
	case tensor.Uint8, tensor.Uint16, tensor.Uint32:
		hi := uint64(1)<<(8*size) - 1
		for i, v := range c.UintContents {
			if uint64(v) > hi {
				return nil, rangeErr(i, v)
			}
			putLE(out[i*size:], uint64(v), size)
		}
	case tensor.Uint64:
		for i, v := range c.Uint64Contents {
			putLE(out[i*8:], v, 8)
		}
	case tensor.FP32:
		for i, v := range c.Fp32Contents {
			putLE(out[i*4:], uint64(math.Float32bits(v)), 4)
		}
	case tensor.FP64:
		for i, v := range c.Fp64Contents {
			putLE(out[i*8:], math.Float64bits(v), 8)
		}
	case tensor.Bytes:
		out = tensor.EncodeBytes(c.BytesContents)
	}
	return out, nil
}

func putLE(b []byte, v uint64, size int) {
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	case 8:
		binary.LittleEndian.PutUint64(b, v)
	}
}
