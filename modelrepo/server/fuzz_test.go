package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// fuzzRequests are the seed requests: valid, each way of giving data, and malformed.
func fuzzRequests() []*pb.ModelInferRequest {
	x := xReq("m", []int64{1, 2}, 1, 2)
	x.Id = "a"
	two := xReq("m", []int64{2, 2}, 1, 2, 3, 4)
	two.Inputs = append(two.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: "S", Datatype: "BYTES", Shape: []int64{2, 1}})
	two.RawInputContents = append(two.RawInputContents, tensor.EncodeBytes([][]byte{[]byte("a cat"), nil}))
	typed := &pb.ModelInferRequest{ModelName: "m", Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "X", Datatype: "FP32",
		Shape: []int64{1, 2}, Contents: &pb.InferTensorContents{Fp32Contents: []float32{1, 2}}}}}
	shm := &pb.ModelInferRequest{ModelName: "m", Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "X", Datatype: "FP32",
		Shape: []int64{1, 2}, Parameters: map[string]*pb.InferParameter{
			ParamSHMRegion:   {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "r"}},
			ParamSHMByteSize: {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 8}}}}}}
	short := xReq("m", []int64{1, 2}, 1)
	huge := xReq("m", []int64{1 << 40, 1 << 40}, 1, 2)
	extra := xReq("m", []int64{1, 2}, 1, 2)
	extra.RawInputContents = append(extra.RawInputContents, []byte{1})
	outs := xReq("m", []int64{1, 2}, 1, 2)
	outs.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "SUM"}, {Name: "NOPE"}}
	return []*pb.ModelInferRequest{x, two, typed, shm, short, huge, extra, outs, {}}
}

// FuzzUnmarshalInferRequest: the server's ModelInferRequest decoder (inferCodec) is untrusted-byte
// parsing of its own. It must agree with proto.Unmarshal, the reference, on every input: both refuse,
// or both give equal messages.
func FuzzUnmarshalInferRequest(f *testing.F) {
	for _, r := range fuzzRequests() {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x3a, 0x05, 'a'})           // raw_input_contents cut short
	f.Add([]byte{0x38, 0x01})                // field 7 as a varint: an unknown field to proto
	f.Add([]byte{0x3a, 0x00, 0x3a, 0x01, 9}) // an empty entry, then one byte
	f.Add([]byte{0x0a, 0x02, 0xff, 0xfe})    // model_name not UTF-8
	f.Add([]byte{0x00})                      // field number 0
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got pb.ModelInferRequest
		werr := proto.Unmarshal(data, &want)
		gerr := unmarshalInferRequest(append([]byte(nil), data...), &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("proto.Unmarshal: %v; unmarshalInferRequest: %v", werr, gerr)
		}
		if werr == nil && !proto.Equal(&want, &got) {
			t.Fatalf("decoded differently:\nproto: %v\nours:  %v", &want, &got)
		}
	})
}

// fuzzVersion is a ready-looking version of a batching model with an FP32 and an optional BYTES
// input, enough for decode (which needs no instances).
func fuzzVersion(t testing.TB) *versionState {
	cfg, err := modelrepo.ParseConfig("m/config.pbtxt", []byte(`backend: "native"
max_batch_size: 4
input { name: "X" data_type: TYPE_FP32 dims: [ 2 ] }
input { name: "S" data_type: TYPE_STRING dims: [ 1 ] optional: true }
output { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] }
output { name: "SUM" data_type: TYPE_FP32 dims: [ 1 ] }`), "m")
	if err != nil {
		t.Fatal(err)
	}
	vs := &versionState{name: "m", version: 1, vstr: "1", cfg: cfg}
	if err := vs.buildSpecs(); err != nil {
		t.Fatal(err)
	}
	return vs
}

// FuzzDecodeRequest: a request's tensors (shape and datatype against raw_input_contents, typed
// contents or shared memory) are checked by decode before any backend sees them. Whatever the bytes,
// decode does not panic, and what it accepts is what backends are promised: every input a declared
// one of its datatype, the batch size within max_batch_size and the same for all inputs, and the bytes
// exactly what the shape needs (tensor.Validate).
func FuzzDecodeRequest(f *testing.F) {
	for _, r := range fuzzRequests() {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	vs := fuzzVersion(f)
	s := &Server{shm: newSHMRegistry(1, 1)}
	s.shm.dir = f.TempDir() // no region registered: shm inputs are refused
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.ModelInferRequest
		if unmarshalInferRequest(data, &req) != nil {
			return
		}
		r, err := s.decode(vs, &req)
		if err != nil {
			return
		}
		if r.rows < 1 || r.rows > int(vs.cfg.MaxBatchSize) {
			t.Fatalf("accepted batch size %d (max_batch_size %d)", r.rows, vs.cfg.MaxBatchSize)
		}
		for _, in := range r.inputs {
			_, sp := vs.input(in.Name)
			if sp == nil || in.DataType != sp.dt {
				t.Fatalf("accepted input %q of %s, which the model does not declare so", in.Name, in.DataType)
			}
			if in.Shape[0] != int64(r.rows) || !shapeMatches(in.Shape[1:], sp.dims) {
				t.Fatalf("accepted input %q of shape %v with %d rows, dims %v", in.Name, in.Shape, r.rows, sp.dims)
			}
			if err := in.Validate(); err != nil {
				t.Fatalf("accepted input %q that does not validate: %v", in.Name, err)
			}
		}
		if len(r.outputs) == 0 {
			t.Fatal("accepted a request with no outputs to return")
		}
	})
}
