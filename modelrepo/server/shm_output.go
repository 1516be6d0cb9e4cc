package server

import (
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// Outputs in system shared memory, as Triton places them (src/grpc/infer_handler.cc,
// ParseSharedMemoryParams and ResponseAllocatorHelper): a requested output with the parameters
// shared_memory_region and shared_memory_byte_size (and optionally shared_memory_offset) has its
// bytes written at that offset of the registered region; the response still lists the output
// (name, datatype, shape) and carries an empty raw_output_contents entry for it, so that the
// entries stay parallel to the outputs. Unlike Triton, which reports an output larger than its
// byte size as Internal, this is InvalidArgument (the request was wrong) naming region, offset
// and size, and only that request fails.

// outputSHMParams reads an output's shared-memory parameters (Triton's types: a string region,
// int64 sizes; uint64 is accepted as for inputs). ok is false when the output has none.
func outputSHMParams(o *pb.ModelInferRequest_InferRequestedOutputTensor) (ref shmRef, ok bool, err error) {
	p, hasRegion := o.Parameters[ParamSHMRegion]
	if !hasRegion {
		for _, k := range []string{ParamSHMByteSize, ParamSHMOffset} {
			if _, given := o.Parameters[k]; given {
				return ref, false, invalidf("output %q: %s can not be given without %s", o.Name, k, ParamSHMRegion)
			}
		}
		return ref, false, nil
	}
	if _, both := o.Parameters[ParamClassification]; both {
		return ref, false, invalidf("output %q: can't set both %s and %s", o.Name, ParamSHMRegion, ParamClassification)
	}
	if ref.region = p.GetStringParam(); ref.region == "" {
		return ref, false, invalidf("output %q: parameter %s must be a non-empty string", o.Name, ParamSHMRegion)
	}
	size, given, err := outputUintParam(o, ParamSHMByteSize)
	switch {
	case err != nil:
		return ref, false, err
	case !given:
		return ref, false, invalidf("output %q: parameter %s is required with %s", o.Name, ParamSHMByteSize, ParamSHMRegion)
	}
	off, _, err := outputUintParam(o, ParamSHMOffset)
	if err != nil {
		return ref, false, err
	}
	ref.offset, ref.length = off, size
	return ref, true, nil
}

func outputUintParam(o *pb.ModelInferRequest_InferRequestedOutputTensor, key string) (uint64, bool, error) {
	p, ok := o.Parameters[key]
	if !ok {
		return 0, false, nil
	}
	switch v := p.GetParameterChoice().(type) {
	case *pb.InferParameter_Int64Param:
		if v.Int64Param < 0 {
			return 0, false, invalidf("output %q: parameter %s is negative (%d)", o.Name, key, v.Int64Param)
		}
		return uint64(v.Int64Param), true, nil
	case *pb.InferParameter_Uint64Param:
		return v.Uint64Param, true, nil
	}
	return 0, false, invalidf("output %q: parameter %s must be an integer (int64_param)", o.Name, key)
}

// checkOutputSHM refuses, before the model runs, an output whose region is not registered, is
// read-only, or is smaller than offset + byte_size; and, when the output's size is known from the
// config (fixed dims, batch from the request), one that byte_size cannot hold.
func (s *Server) checkOutputSHM(vs *versionState, o *pb.ModelInferRequest_InferRequestedOutputTensor, rows int) error {
	ref, ok, err := outputSHMParams(o)
	if err != nil || !ok {
		return err
	}
	if err := s.shm.checkWritable(o.Name, ref); err != nil {
		return err
	}
	sp := vs.output(o.Name)
	if sp == nil || sp.dt == tensor.Bytes {
		return nil
	}
	shape := sp.dims
	if vs.cfg.MaxBatchSize > 0 {
		shape = append([]int64{int64(rows)}, sp.dims...)
	}
	n, err := tensor.NumElements(shape)
	size, known := tensor.ElementSize(sp.dt)
	if err != nil || !known { // variable dims: checked when the output exists
		return nil
	}
	if need := uint64(n) * uint64(size); need > ref.length {
		return tooSmall(o.Name, ref, need)
	}
	return nil
}

func tooSmall(output string, ref shmRef, need uint64) error {
	return invalidf("output %q: %d bytes do not fit shared memory region %q at offset %d (shared_memory_byte_size %d)",
		output, need, ref.region, ref.offset, ref.length)
}

// checkWritable checks that ref lies inside a registered region the server can write.
func (r *shmRegistry) checkWritable(output string, ref shmRef) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, err := r.outputRegion(output, ref)
	return err
}

func (r *shmRegistry) outputRegion(output string, ref shmRef) (*shmRegion, error) {
	reg := r.regions[ref.region]
	if reg == nil {
		return nil, invalidf("output %q: shared memory region %q is not registered", output, ref.region)
	}
	if !reg.writable {
		return nil, invalidf("output %q: shared memory region %q (key %q) is mapped read-only: the server may not write the key; register a key it can open read-write",
			output, ref.region, reg.key)
	}
	if ref.offset > reg.size || ref.length > reg.size-ref.offset {
		return nil, invalidf("output %q: shared_memory_offset %d + shared_memory_byte_size %d runs past region %q (%d bytes)",
			output, ref.offset, ref.length, ref.region, reg.size)
	}
	return reg, nil
}

// write copies an output's bytes into its region, after checking them against the request's
// byte size and the region again (it may have been unregistered while the model ran).
func (r *shmRegistry) write(output string, ref shmRef, data []byte) error {
	if uint64(len(data)) > ref.length {
		return tooSmall(output, ref, uint64(len(data)))
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg, err := r.outputRegion(output, ref)
	if err != nil {
		return err
	}
	start := reg.offset + ref.offset
	if err := onFault(func() { copy(reg.mapped[start:start+uint64(len(data))], data) }); err != nil {
		return invalidf("output %q: shared memory region %q (key %q) cannot be written at offset %d: %v; was the key truncated after registration?",
			output, ref.region, reg.key, start, err)
	}
	return nil
}

// assembleOutputs puts the model's outputs into resp: into their shared-memory regions for the
// outputs the request placed there (an empty raw entry in the response), else as raw contents.
func (s *Server) assembleOutputs(req *pb.ModelInferRequest, resp *pb.ModelInferResponse, outputs []*tensor.Tensor) error {
	refs := map[string]shmRef{}
	for _, o := range req.Outputs {
		ref, ok, err := outputSHMParams(o)
		if err != nil {
			return err
		}
		if ok {
			refs[o.Name] = ref
		}
	}
	for _, t := range outputs {
		out := &pb.ModelInferResponse_InferOutputTensor{Name: t.Name, Datatype: string(t.DataType), Shape: t.Shape}
		raw := t.Raw
		if ref, ok := refs[t.Name]; ok {
			if err := s.shm.write(t.Name, ref, t.Raw); err != nil {
				return err
			}
			raw = []byte{}
		}
		resp.Outputs = append(resp.Outputs, out)
		resp.RawOutputContents = append(resp.RawOutputContents, raw)
	}
	return nil
}
