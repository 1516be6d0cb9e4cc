package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// Test models are native functions registered under "servertest.*".

// echoModel returns Y = X and SUM = the sum of each row of X. X is
// [B,2] when the model batches and [2] when it does not.
func echoModel(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, ok := native.TensorByName(in, "X")
	if !ok {
		return nil, errors.New("no X")
	}
	v, err := x.Float32s()
	if err != nil {
		return nil, err
	}
	width := int(x.Shape[len(x.Shape)-1])
	rows := len(v) / width
	sums := make([]float32, rows)
	for r := range sums {
		for c := 0; c < width; c++ {
			sums[r] += v[r*width+c]
		}
	}
	sumShape := []int64{1}
	if len(x.Shape) == 2 {
		sumShape = []int64{int64(rows), 1}
	}
	y := &tensor.Tensor{Name: "Y", DataType: tensor.FP32, Shape: x.Shape, Raw: append([]byte(nil), x.Raw...)}
	sum, err := tensor.NewFP32("SUM", sumShape, sums)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{y, sum}, nil
}

// gates let a test hold a "servertest.block" execution: X[0] names the gate; with X[1] == 99 the
// execution also ignores its context (a model that does not look at cancellation).
type gate struct {
	started chan struct{}
	release chan struct{}
}

var gates sync.Map // float32 -> *gate

func newGate(t *testing.T, id float32) *gate {
	g := &gate{started: make(chan struct{}, 1), release: make(chan struct{})}
	gates.Store(id, g)
	t.Cleanup(func() { gates.Delete(id) })
	return g
}

func blockModel(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	v, err := in[0].Float32s()
	if err != nil {
		return nil, err
	}
	if g, ok := gates.Load(v[0]); ok {
		g := g.(*gate)
		g.started <- struct{}{}
		done := ctx.Done()
		if len(v) > 1 && v[1] == 99 {
			done = nil
		}
		select {
		case <-g.release:
		case <-done:
			return nil, ctx.Err()
		}
	}
	return echoModel(ctx, in)
}

func init() {
	native.Register("servertest.echo", echoModel)
	native.Register("servertest.block", blockModel)
	native.Register("servertest.panic", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		v, _ := in[0].Float32s()
		if slices.Contains(v, 13) {
			panic("boom")
		}
		return echoModel(ctx, in)
	})
	native.Register("servertest.bytes", func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		s := in[0]
		elems, err := s.ByteElements()
		if err != nil {
			return nil, err
		}
		up := make([][]byte, len(elems))
		for i, e := range elems {
			up[i] = []byte(strings.ToUpper(string(e)))
		}
		out, err := tensor.NewBytes("S_OUT", s.Shape, up)
		return []*tensor.Tensor{out}, err
	})
}

// countingBackend wraps the native backend to count instance loads and closes.
type countingBackend struct{ loads, closes atomic.Int32 }

type countingInstance struct {
	Instance
	b *countingBackend
}

func (c countingInstance) Close() error { c.b.closes.Add(1); return c.Instance.Close() }

func (b *countingBackend) Load(ctx context.Context, m *modelrepo.Model, v int64) (Instance, error) {
	b.loads.Add(1)
	inst, err := NativeBackend{}.Load(ctx, m, v)
	if err != nil {
		return nil, err
	}
	return countingInstance{Instance: inst, b: b}, nil
}

const echoIO = `input { name: "X" data_type: TYPE_FP32 dims: [ 2 ] }
output { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] }
output { name: "SUM" data_type: TYPE_FP32 dims: [ 1 ] }
`

// testModels is the repository every test serves: directory -> config, and
// the model.native content of version 1.
var testModels = map[string][2]string{
	"echo": {`backend: "native"
max_batch_size: 8
` + echoIO + `parameters { key: "native.function" value { string_value: "servertest.echo" } }`,
		"# the function comes from the native.function parameter\n"},
	"nobatch": {"backend: \"native\"\n" + echoIO, "servertest.echo"},
	"batcher": {`backend: "native"
max_batch_size: 8
` + echoIO + `dynamic_batching { max_queue_delay_microseconds: 2000000 }
instance_group { count: 1 }`, "servertest.echo"},
	"panicky": {"backend: \"native\"\nmax_batch_size: 8\n" + echoIO, "servertest.panic"},
	"blocker": {`backend: "native"
max_batch_size: 4
` + echoIO + `dynamic_batching { default_queue_policy { max_queue_size: 1 } }
instance_group { count: 1 }`, "servertest.block"},
	"strings": {`backend: "native"
max_batch_size: 4
input { name: "S" data_type: TYPE_STRING dims: [ 2 ] }
output { name: "S_OUT" data_type: TYPE_STRING dims: [ 2 ] }
dynamic_batching { max_queue_delay_microseconds: 2000000 }
instance_group { count: 1 }`, "servertest.bytes"},
	"broken": {"backend: \"native\"\nmax_batch_size: 8\ninput { name: \"X\" data_type: TYPE_FP32 }\n" +
		"output { name: \"Y\" data_type: TYPE_FP32 dims: [ 2 ] }\n", "servertest.echo"},
	"missingfn": {"backend: \"native\"\nmax_batch_size: 8\n" + echoIO, "servertest.nope"},
	"counted":   {"backend: \"testcount\"\nmax_batch_size: 8\n" + echoIO + "instance_group { count: 2 }", "servertest.echo"},
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

type harness struct {
	t       *testing.T
	dir     string
	srv     *Server
	c       pb.GRPCInferenceServiceClient
	counter *countingBackend
	stopped bool
}

func start(t *testing.T, opts ...Option) *harness {
	t.Helper()
	dir := t.TempDir()
	for name, m := range testModels {
		writeFile(t, filepath.Join(dir, name, "config.pbtxt"), m[0])
		writeFile(t, filepath.Join(dir, name, "1", NativeFile), m[1])
	}
	repo, err := modelrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, counter: &countingBackend{}}
	opts = append([]Option{WithBackend("testcount", h.counter)}, opts...)
	if h.srv, err = New(repo, opts...); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h.c = pb.NewGRPCInferenceServiceClient(conn)
	t.Cleanup(func() {
		conn.Close()
		if !h.stopped {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = h.srv.GracefulStop(ctx)
		}
	})
	return h
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func fp32Raw(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func xReq(model string, shape []int64, vals ...float32) *pb.ModelInferRequest {
	return &pb.ModelInferRequest{
		ModelName:        model,
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "X", Datatype: "FP32", Shape: shape}},
		RawInputContents: [][]byte{fp32Raw(vals...)},
	}
}

func output(t *testing.T, resp *pb.ModelInferResponse, name string) *tensor.Tensor {
	t.Helper()
	for i, o := range resp.Outputs {
		if o.Name == name {
			return &tensor.Tensor{Name: name, DataType: tensor.DataType(o.Datatype), Shape: o.Shape, Raw: resp.RawOutputContents[i]}
		}
	}
	t.Fatalf("response has no output %q: %v", name, resp.Outputs)
	return nil
}

func floats(t *testing.T, resp *pb.ModelInferResponse, name string) []float32 {
	t.Helper()
	v, err := output(t, resp, name).Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantStatus(t *testing.T, err error, code codes.Code, subs ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if err == nil || st.Code() != code {
		t.Errorf("got %v, want code %v", err, code)
		return
	}
	for _, s := range subs {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("message %q lacks %q", st.Message(), s)
		}
	}
}

func TestHealthMetadataConfig(t *testing.T) {
	h := start(t)
	c := ctx(t)
	if r, err := h.c.ServerLive(c, &pb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Errorf("live: %v %v", r, err)
	}
	if r, err := h.c.ServerReady(c, &pb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ready: %v %v", r, err)
	}
	md, err := h.c.ServerMetadata(c, &pb.ServerMetadataRequest{})
	if err != nil || md.Name != "agiqa" || !slices.Contains(md.Extensions, "system_shared_memory") {
		t.Errorf("server metadata: %v %v", md, err)
	}
	for model, want := range map[string]bool{"echo": true, "broken": false, "missingfn": false, "nope": false} {
		r, err := h.c.ModelReady(c, &pb.ModelReadyRequest{Name: model})
		if err != nil || r.Ready != want {
			t.Errorf("ModelReady(%s) = %v %v, want %v", model, r, err, want)
		}
	}
	mm, err := h.c.ModelMetadata(c, &pb.ModelMetadataRequest{Name: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if mm.Platform != "native" || !slices.Equal(mm.Versions, []string{"1"}) || len(mm.Inputs) != 1 ||
		mm.Inputs[0].Datatype != "FP32" || !slices.Equal(mm.Inputs[0].Shape, []int64{-1, 2}) || len(mm.Outputs) != 2 {
		t.Errorf("metadata: %v", mm)
	}
	mm, err = h.c.ModelMetadata(c, &pb.ModelMetadataRequest{Name: "nobatch"})
	if err != nil || !slices.Equal(mm.Inputs[0].Shape, []int64{2}) {
		t.Errorf("nobatch metadata: %v %v", mm, err)
	}
	_, err = h.c.ModelMetadata(c, &pb.ModelMetadataRequest{Name: "nope"})
	wantStatus(t, err, codes.NotFound, `"nope"`)
	cfg, err := h.c.ModelConfig(c, &pb.ModelConfigRequest{Name: "echo"})
	if err != nil || cfg.Config.Name != "echo" || cfg.Config.InstanceGroup[0].Count != 1 {
		t.Errorf("config: %v %v", cfg, err)
	}
	_, err = h.c.ModelConfig(c, &pb.ModelConfigRequest{Name: "echo", Version: "9"})
	wantStatus(t, err, codes.NotFound, `"9"`)
}

func TestInfer(t *testing.T) {
	h := start(t)
	c := ctx(t)
	req := xReq("echo", []int64{3, 2}, 1, 2, 3, 4, 5, 6)
	req.Id = "req-7"
	resp, err := h.c.ModelInfer(c, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Id != "req-7" || resp.ModelName != "echo" || resp.ModelVersion != "1" || len(resp.Outputs) != 2 || resp.Outputs[0].Name != "Y" {
		t.Errorf("response header: %v", resp)
	}
	if y := floats(t, resp, "Y"); !slices.Equal(y, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("Y = %v", y)
	}
	if s := floats(t, resp, "SUM"); !slices.Equal(s, []float32{3, 7, 11}) || !slices.Equal(output(t, resp, "SUM").Shape, []int64{3, 1}) {
		t.Errorf("SUM = %v", s)
	}
	// Requested outputs: only those, in the requested order.
	req = xReq("echo", []int64{1, 2}, 1, 2)
	req.ModelVersion = "1"
	req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "SUM"}}
	resp, err = h.c.ModelInfer(c, req)
	if err != nil || len(resp.Outputs) != 1 || resp.Outputs[0].Name != "SUM" || len(resp.RawOutputContents) != 1 {
		t.Fatalf("subset: %v %v", resp, err)
	}
	// Typed contents are accepted too.
	resp, err = h.c.ModelInfer(c, &pb.ModelInferRequest{ModelName: "echo", Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "X", Datatype: "FP32", Shape: []int64{1, 2}, Contents: &pb.InferTensorContents{Fp32Contents: []float32{0.5, 0.25}}}}})
	if err != nil || !slices.Equal(floats(t, resp, "SUM"), []float32{0.75}) {
		t.Errorf("contents: %v %v", resp, err)
	}
	// A model without batching takes the shape without a batch dimension.
	resp, err = h.c.ModelInfer(c, xReq("nobatch", []int64{2}, 4, 5))
	if err != nil || !slices.Equal(floats(t, resp, "SUM"), []float32{9}) {
		t.Errorf("nobatch: %v %v", resp, err)
	}
	// BYTES in and out; a full batch (4 = max_batch_size) runs without
	// waiting out the model's 2 s max_queue_delay.
	words := [][]byte{[]byte("ab"), nil, []byte("c"), []byte("dé"), nil, nil, []byte("x"), []byte("yz")}
	resp, err = h.c.ModelInfer(c, &pb.ModelInferRequest{ModelName: "strings",
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "S", Datatype: "BYTES", Shape: []int64{4, 2}}},
		RawInputContents: [][]byte{tensor.EncodeBytes(words)}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := output(t, resp, "S_OUT").ByteElements()
	if err != nil || len(e) != 8 || string(e[0]) != "AB" || len(e[1]) != 0 || string(e[3]) != "DÉ" || string(e[7]) != "YZ" {
		t.Errorf("bytes: %q %v", e, err)
	}
}

func TestBadInputs(t *testing.T) {
	h := start(t, WithMaxMessageSize(64<<10))
	c := ctx(t)
	in := func(name, dt string, shape ...int64) *pb.ModelInferRequest_InferInputTensor {
		return &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: dt, Shape: shape}
	}
	req := func(model string, raw [][]byte, inputs ...*pb.ModelInferRequest_InferInputTensor) *pb.ModelInferRequest {
		return &pb.ModelInferRequest{ModelName: model, Inputs: inputs, RawInputContents: raw}
	}
	x12 := [][]byte{fp32Raw(1, 2)}
	withVersion := xReq("echo", []int64{1, 2}, 1, 2)
	withVersion.ModelVersion = "7"
	mixed := xReq("echo", []int64{1, 2}, 1, 2)
	mixed.Inputs[0].Contents = &pb.InferTensorContents{Fp32Contents: []float32{1, 2}}
	badOut := xReq("echo", []int64{1, 2}, 1, 2)
	badOut.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "W"}}
	contents := func(c *pb.InferTensorContents) *pb.ModelInferRequest {
		i := in("X", "FP32", 1, 2)
		i.Contents = c
		return req("echo", nil, i)
	}
	shmIn := in("X", "FP32", 1, 2)
	shmIn.Parameters = map[string]*pb.InferParameter{
		ParamSHMRegion:   {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "nope"}},
		ParamSHMByteSize: {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 8}},
	}
	pastEnd := make([]byte, 4+6)
	binary.LittleEndian.PutUint32(pastEnd, 1000) // the first element claims 1000 bytes; 6 follow
	cases := []struct {
		name string
		req  *pb.ModelInferRequest
		code codes.Code
		subs []string
	}{
		{"unknown model", xReq("nope", []int64{1, 2}, 1, 2), codes.NotFound, []string{`unknown model "nope"`}},
		{"unknown version", withVersion, codes.NotFound, []string{`model "echo" has no version "7"`}},
		// No version asked and none ready: NotFound, as Triton's "has no available versions".
		{"not ready", xReq("missingfn", []int64{1, 2}, 1, 2), codes.NotFound, []string{`model "missingfn" is not ready`, `"servertest.nope" is not registered`}},
		{"bad config", xReq("broken", []int64{1, 2}, 1, 2), codes.NotFound, []string{"broken", "config.pbtxt:3:1:", "has no dims"}},
		{"datatype", req("echo", x12, in("X", "FP64", 1, 2)), codes.InvalidArgument, []string{`input "X"`, `datatype "FP64"`, "expects FP32"}},
		{"shape", req("echo", x12, in("X", "FP32", 1, 3)), codes.InvalidArgument, []string{`input "X"`, "shape [1 3]", "[batch 1..8]+[2]"}},
		{"no batch dim", req("echo", x12, in("X", "FP32", 2)), codes.InvalidArgument, []string{`input "X"`, "shape [2]"}},
		{"batch too big", req("echo", x12, in("X", "FP32", 9, 2)), codes.InvalidArgument, []string{`input "X"`, "batch size 9 is outside 1..8"}},
		{"byte length", req("echo", [][]byte{fp32Raw(1, 2, 3)}, in("X", "FP32", 1, 2)), codes.InvalidArgument, []string{`input "X"`, "needs 8 bytes", "got 12"}},
		{"bytes past buffer", req("strings", [][]byte{pastEnd}, in("S", "BYTES", 1, 2)), codes.InvalidArgument, []string{`input "S"`, "runs past the buffer"}},
		{"contents with raw", mixed, codes.InvalidArgument, []string{`input "X"`, "contents must not be used", "raw_input_contents"}},
		{"unknown input", req("echo", x12, in("Q", "FP32", 1, 2)), codes.InvalidArgument, []string{`no input "Q"`, "inputs: X"}},
		{"duplicate input", req("echo", [][]byte{fp32Raw(1, 2), fp32Raw(1, 2)}, in("X", "FP32", 1, 2), in("X", "FP32", 1, 2)), codes.InvalidArgument, []string{`input "X" is given twice`}},
		{"missing input", req("echo", nil), codes.InvalidArgument, []string{`input "X" of model "echo" is missing`}},
		{"no data", req("echo", nil, in("X", "FP32", 1, 2)), codes.InvalidArgument, []string{`input "X": no data`}},
		{"extra raw", req("echo", [][]byte{fp32Raw(1, 2), fp32Raw(1, 2)}, in("X", "FP32", 1, 2)), codes.InvalidArgument, []string{"raw_input_contents has 2 entries but 1 inputs"}},
		{"unknown output", badOut, codes.InvalidArgument, []string{`no output "W"`, "outputs: Y, SUM"}},
		{"contents count", contents(&pb.InferTensorContents{Fp32Contents: []float32{1, 2, 3}}), codes.InvalidArgument, []string{`input "X"`, "contents.fp32_contents has 3 elements", "needs 2"}},
		{"contents field", contents(&pb.InferTensorContents{IntContents: []int32{1, 2}}), codes.InvalidArgument, []string{`input "X"`, "contents.fp32_contents, not contents.int_contents"}},
		{"shm region", req("echo", nil, shmIn), codes.InvalidArgument, []string{`input "X"`, `region "nope" is not registered`}},
		// 80 KiB against the 64 KiB limit this server was given.
		{"oversize", req("echo", [][]byte{make([]byte, 80<<10)}, in("X", "FP32", 1, 2)), codes.ResourceExhausted, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.c.ModelInfer(c, tc.req)
			wantStatus(t, err, tc.code, tc.subs...)
		})
	}
	// The server still serves after all that.
	if _, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2)); err != nil {
		t.Fatal(err)
	}
}

func TestTypedContents(t *testing.T) {
	raw, err := contentsToRaw("A", tensor.Int16, []int64{3}, &pb.InferTensorContents{IntContents: []int32{-2, 0, 300}})
	if err != nil {
		t.Fatal(err)
	}
	if got := []int16{int16(binary.LittleEndian.Uint16(raw)), int16(binary.LittleEndian.Uint16(raw[2:])), int16(binary.LittleEndian.Uint16(raw[4:]))}; !slices.Equal(got, []int16{-2, 0, 300}) {
		t.Errorf("INT16 from contents: %v", got)
	}
	_, err = contentsToRaw("A", tensor.Int8, []int64{1}, &pb.InferTensorContents{IntContents: []int32{200}})
	wantStatus(t, err, codes.InvalidArgument, `input "A"`, "200 does not fit INT8")
	_, err = contentsToRaw("A", tensor.FP16, []int64{1}, &pb.InferTensorContents{})
	wantStatus(t, err, codes.InvalidArgument, `input "A"`, "FP16 cannot be sent in contents")
	raw, err = contentsToRaw("B", tensor.Bytes, []int64{2}, &pb.InferTensorContents{BytesContents: [][]byte{[]byte("x"), nil}})
	if err != nil || string(raw) != "\x01\x00\x00\x00x\x00\x00\x00\x00" {
		t.Errorf("BYTES from contents: %q %v", raw, err)
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	h := start(t)
	c := ctx(t)
	_, err := h.c.ModelInfer(c, xReq("panicky", []int64{1, 2}, 13, 1))
	wantStatus(t, err, codes.Internal, `model "panicky" version 1 panicked: boom`)
	resp, err := h.c.ModelInfer(c, xReq("panicky", []int64{1, 2}, 1, 1))
	if err != nil || !slices.Equal(floats(t, resp, "SUM"), []float32{2}) {
		t.Fatalf("after panic: %v %v", resp, err)
	}
	st, err := h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "panicky"})
	if err != nil {
		t.Fatal(err)
	}
	is := st.ModelStats[0].InferenceStats
	if is.Success.Count != 1 || is.Fail.Count != 1 {
		t.Errorf("success %d fail %d, want 1 and 1", is.Success.Count, is.Fail.Count)
	}
}

func TestBadConfigStopsOnlyThatModel(t *testing.T) {
	h := start(t)
	c := ctx(t)
	idx, err := h.c.RepositoryIndex(c, &pb.RepositoryIndexRequest{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]*pb.RepositoryIndexResponse_ModelIndex{}
	for _, m := range idx.Models {
		states[m.Name] = m
	}
	if len(states) != len(testModels) {
		t.Errorf("index has %d models, repository %d", len(states), len(testModels))
	}
	b := states["broken"]
	wantReason := filepath.Join(h.dir, "broken", "config.pbtxt") + `:3:1: input "X" has no dims`
	if b == nil || b.State != "UNAVAILABLE" || !strings.Contains(b.Reason, wantReason) {
		t.Errorf("broken: %v; want UNAVAILABLE with %q", b, wantReason)
	}
	if e := states["echo"]; e == nil || e.State != "READY" || e.Version != "1" {
		t.Errorf("echo: %v", e)
	}
	if m := states["missingfn"]; m == nil || m.State != "UNAVAILABLE" || !strings.Contains(m.Reason, "servertest.nope") {
		t.Errorf("missingfn: %v", m)
	}
	ready, err := h.c.RepositoryIndex(c, &pb.RepositoryIndexRequest{Ready: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ready.Models {
		if m.State != "READY" {
			t.Errorf("ready-only index lists %v", m)
		}
	}
	if _, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2)); err != nil {
		t.Error(err)
	}
}

func TestLoadUnload(t *testing.T) {
	h := start(t)
	c := ctx(t)
	if _, err := h.c.RepositoryModelUnload(c, &pb.RepositoryModelUnloadRequest{ModelName: "echo"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.c.ModelReady(c, &pb.ModelReadyRequest{Name: "echo"}); r.GetReady() {
		t.Error("echo ready after unload")
	}
	_, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2))
	wantStatus(t, err, codes.NotFound, `model "echo"`, "unloaded") // Triton: "has no available versions"
	if _, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "echo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2)); err != nil {
		t.Errorf("after reload: %v", err)
	}

	// Fixing a broken config on disk and loading it makes it serve.
	writeFile(t, filepath.Join(h.dir, "broken", "config.pbtxt"), "backend: \"native\"\nmax_batch_size: 8\n"+echoIO)
	if _, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "broken"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.ModelInfer(c, xReq("broken", []int64{1, 2}, 1, 2)); err != nil {
		t.Errorf("fixed model: %v", err)
	}
	// A new version folder appears on load (latest policy: version 2 only).
	writeFile(t, filepath.Join(h.dir, "broken", "2", NativeFile), "servertest.echo")
	if _, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "broken"}); err != nil {
		t.Fatal(err)
	}
	resp, err := h.c.ModelInfer(c, xReq("broken", []int64{1, 2}, 1, 2))
	if err != nil || resp.ModelVersion != "2" {
		t.Errorf("new version: %v %v", resp, err)
	}
	// Breaking it again: load fails naming file and line.
	writeFile(t, filepath.Join(h.dir, "broken", "config.pbtxt"), "backend: \"native\"\nmax_batch_siz: 8\n")
	_, err = h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "broken"})
	wantStatus(t, err, codes.InvalidArgument, filepath.Join("broken", "config.pbtxt")+":2:1: unknown field: max_batch_siz")
	// A model directory added after start loads on request.
	writeFile(t, filepath.Join(h.dir, "late", "config.pbtxt"), "backend: \"native\"\nmax_batch_size: 2\n"+echoIO)
	writeFile(t, filepath.Join(h.dir, "late", "1", NativeFile), "servertest.echo")
	if _, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "late"}); err != nil {
		t.Fatal(err)
	}
	_, err = h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "absent"})
	wantStatus(t, err, codes.NotFound, `"absent"`)
	_, err = h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "../etc"})
	wantStatus(t, err, codes.InvalidArgument, `"../etc"`)
	// Unloading a model that is not loaded succeeds and does nothing, as in Triton.
	if _, err = h.c.RepositoryModelUnload(c, &pb.RepositoryModelUnloadRequest{ModelName: "absent"}); err != nil {
		t.Errorf("unload of an unknown model: %v", err)
	}
	// Reloading closes the old instances; instance_group count 2 loads two.
	if _, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "counted"}); err != nil {
		t.Fatal(err)
	}
	if l, cl := h.counter.loads.Load(), h.counter.closes.Load(); l != 4 || cl != 2 {
		t.Errorf("counted: %d loads, %d closes; want 4 and 2", l, cl)
	}
}

func TestStatistics(t *testing.T) {
	h := start(t)
	c := ctx(t)
	for _, rows := range []int64{1, 2, 3} {
		if _, err := h.c.ModelInfer(c, xReq("echo", []int64{rows, 2}, make([]float32, 2*rows)...)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 3}, 1, 2, 3))
	wantStatus(t, err, codes.InvalidArgument)
	st, err := h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "echo", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.ModelStats) != 1 {
		t.Fatalf("stats: %v", st)
	}
	s := st.ModelStats[0]
	is := s.InferenceStats
	if s.Name != "echo" || s.Version != "1" || s.InferenceCount != 6 || s.ExecutionCount != 3 || s.LastInference == 0 {
		t.Errorf("counts: %v", s)
	}
	if is.Success.Count != 3 || is.Fail.Count != 1 || is.Queue.Count != 3 || is.ComputeInput.Count != 3 ||
		is.ComputeInfer.Count != 3 || is.ComputeOutput.Count != 3 {
		t.Errorf("durations: %v", is)
	}
	if is.Success.Ns == 0 || is.ComputeInfer.Ns == 0 || is.Success.Ns < is.ComputeInfer.Ns {
		t.Errorf("ns: success %d, compute_infer %d", is.Success.Ns, is.ComputeInfer.Ns)
	}
	var sizes []uint64
	for _, b := range s.BatchStats {
		sizes = append(sizes, b.BatchSize)
		if b.ComputeInfer.Count != 1 {
			t.Errorf("batch %d: compute_infer count %d", b.BatchSize, b.ComputeInfer.Count)
		}
	}
	if !slices.Equal(sizes, []uint64{1, 2, 3}) {
		t.Errorf("batch sizes %v", sizes)
	}
	all, err := h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range all.ModelStats {
		names = append(names, m.Name)
	}
	if !slices.Contains(names, "echo") || !slices.Contains(names, "strings") || slices.Contains(names, "broken") {
		t.Errorf("all-model stats list %v", names)
	}
	_, err = h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "nope"})
	wantStatus(t, err, codes.InvalidArgument, `"nope"`) // Triton: "requested model 'nope' is not available"
}

func TestDynamicBatchingMerges(t *testing.T) {
	h := start(t)
	c := ctx(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := float32(10 * i)
			resp, err := h.c.ModelInfer(c, xReq("batcher", []int64{1, 2}, v, v+1))
			if err == nil {
				// Each request gets its own row back after the split.
				if y := floats(t, resp, "Y"); !slices.Equal(y, []float32{v, v + 1}) {
					err = fmt.Errorf("request %d got Y %v", i, y)
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "batcher"})
	if err != nil {
		t.Fatal(err)
	}
	s := st.ModelStats[0]
	if s.InferenceCount != n || s.ExecutionCount >= s.InferenceCount {
		t.Errorf("inference_count %d, execution_count %d: no merging", s.InferenceCount, s.ExecutionCount)
	}
	// BYTES requests merge and split by their length prefixes.
	words := []string{"a", "bb", "", "dddd"}
	for i, w := range words {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.c.ModelInfer(c, &pb.ModelInferRequest{ModelName: "strings",
				Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "S", Datatype: "BYTES", Shape: []int64{1, 2}}},
				RawInputContents: [][]byte{tensor.EncodeBytes([][]byte{[]byte(w), []byte(w + "x")})}})
			if err == nil {
				e, derr := output(t, resp, "S_OUT").ByteElements()
				if derr != nil || string(e[0]) != strings.ToUpper(w) || string(e[1]) != strings.ToUpper(w+"x") {
					err = fmt.Errorf("request %d got %q %v", i, e, derr)
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs[:len(words)] {
		if err != nil {
			t.Error(err)
		}
	}
	st, _ = h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "strings"})
	if s := st.GetModelStats()[0]; s.ExecutionCount >= s.InferenceCount {
		t.Errorf("strings: inference_count %d, execution_count %d: no merging", s.InferenceCount, s.ExecutionCount)
	}
}

func TestQueueFull(t *testing.T) {
	h := start(t)
	c := ctx(t)
	g := newGate(t, 1)
	first := make(chan error, 1)
	go func() {
		_, err := h.c.ModelInfer(c, xReq("blocker", []int64{1, 2}, 1, 0))
		first <- err
	}()
	<-g.started
	// The single instance is busy and the queue holds one request: of two
	// more, one waits and the other is turned away at once.
	results := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := h.c.ModelInfer(c, xReq("blocker", []int64{1, 2}, 0, 0))
			results <- err
		}()
	}
	err := <-results
	wantStatus(t, err, codes.Unavailable, `model "blocker"`, "queue full")
	close(g.release)
	if err := <-results; err != nil {
		t.Errorf("queued request: %v", err)
	}
	if err := <-first; err != nil {
		t.Errorf("first request: %v", err)
	}
}

func TestGracefulStopWaitsForInFlight(t *testing.T) {
	h := start(t)
	c := ctx(t)
	g := newGate(t, 2)
	result := make(chan error, 1)
	go func() {
		resp, err := h.c.ModelInfer(c, xReq("blocker", []int64{1, 2}, 2, 3))
		if err == nil && !slices.Equal(floats(t, resp, "SUM"), []float32{5}) {
			err = fmt.Errorf("SUM %v", floats(t, resp, "SUM"))
		}
		result <- err
	}()
	<-g.started
	h.stopped = true
	stopped := make(chan error, 1)
	go func() { stopped <- h.srv.GracefulStop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("GracefulStop returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(g.release)
	if err := <-result; err != nil {
		t.Errorf("in-flight request: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("GracefulStop: %v", err)
	}
	if l, cl := h.counter.loads.Load(), h.counter.closes.Load(); l != 2 || cl != 2 {
		t.Errorf("counted instances: %d loaded, %d closed; want 2 and 2", l, cl)
	}
}

func TestGracefulStopDeadlineCancelsModels(t *testing.T) {
	h := start(t)
	c := ctx(t)
	g := newGate(t, 3)
	result := make(chan error, 1)
	go func() {
		_, err := h.c.ModelInfer(c, xReq("blocker", []int64{1, 2}, 3, 0))
		result <- err
	}()
	<-g.started
	h.stopped = true
	sctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.srv.GracefulStop(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GracefulStop = %v, want deadline exceeded", err)
	}
	if err := <-result; err == nil {
		t.Error("request held past the deadline succeeded")
	}
}

func TestStreamInfer(t *testing.T) {
	h := start(t)
	c := ctx(t)
	stream, err := h.c.ModelStreamInfer(c)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*pb.ModelInferRequest{
		xReq("echo", []int64{1, 2}, 1, 2),
		xReq("echo", []int64{1, 3}, 1, 2, 3),
		xReq("nope", []int64{1, 2}, 1, 2),
		xReq("echo", []int64{2, 2}, 1, 2, 3, 4),
	}
	for i, r := range reqs {
		r.Id = fmt.Sprint("r", i)
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	got := map[string]*pb.ModelStreamInferResponse{}
	for {
		m, err := stream.Recv()
		if err != nil {
			break
		}
		got[m.InferResponse.GetId()] = m
	}
	if len(got) != 4 {
		t.Fatalf("%d responses: %v", len(got), got)
	}
	if got["r0"].ErrorMessage != "" || !slices.Equal(floats(t, got["r0"].InferResponse, "SUM"), []float32{3}) {
		t.Errorf("r0: %v", got["r0"])
	}
	if !strings.Contains(got["r1"].ErrorMessage, `input "X"`) || !strings.Contains(got["r2"].ErrorMessage, `unknown model "nope"`) {
		t.Errorf("errors: %q / %q", got["r1"].ErrorMessage, got["r2"].ErrorMessage)
	}
	if !slices.Equal(floats(t, got["r3"].InferResponse, "SUM"), []float32{3, 7}) {
		t.Errorf("r3: %v", got["r3"])
	}
}

func TestSharedMemory(t *testing.T) {
	testenv.ShmDir(t)
	h := start(t)
	c := ctx(t)
	key := fmt.Sprintf("agiqa-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	data := append(make([]byte, 16), fp32Raw(1.5, 2.5, 7, 8)...)
	if err := os.WriteFile(filepath.Join(shmDir, key), data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(shmDir, key)) })
	reg := &pb.SystemSharedMemoryRegisterRequest{Name: "in", Key: "/" + key, Offset: 16, ByteSize: 16}
	if _, err := h.c.SystemSharedMemoryRegister(c, reg); err != nil {
		t.Fatal(err)
	}
	_, err := h.c.SystemSharedMemoryRegister(c, reg)
	wantStatus(t, err, codes.AlreadyExists, `"in"`)
	_, err = h.c.SystemSharedMemoryRegister(c, &pb.SystemSharedMemoryRegisterRequest{Name: "big", Key: "/" + key, Offset: 16, ByteSize: 17})
	wantStatus(t, err, codes.InvalidArgument, `"big"`, "runs past the 32 bytes")
	_, err = h.c.SystemSharedMemoryRegister(c, &pb.SystemSharedMemoryRegisterRequest{Name: "x", Key: "/agiqa-no-such-key", ByteSize: 4})
	wantStatus(t, err, codes.NotFound, "agiqa-no-such-key")
	st, err := h.c.SystemSharedMemoryStatus(c, &pb.SystemSharedMemoryStatusRequest{})
	if err != nil || st.Regions["in"].GetByteSize() != 16 || st.Regions["in"].GetKey() != "/"+key {
		t.Errorf("status: %v %v", st, err)
	}
	shmReq := func(offset, size int64) *pb.ModelInferRequest {
		return &pb.ModelInferRequest{ModelName: "echo", Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "X", Datatype: "FP32", Shape: []int64{1, 2},
			Parameters: map[string]*pb.InferParameter{
				ParamSHMRegion:   {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "in"}},
				ParamSHMByteSize: {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: size}},
				ParamSHMOffset:   {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: offset}},
			}}}}
	}
	resp, err := h.c.ModelInfer(c, shmReq(8, 8))
	if err != nil {
		t.Fatal(err)
	}
	if y := floats(t, resp, "Y"); !slices.Equal(y, []float32{7, 8}) {
		t.Errorf("Y from shared memory = %v, want [7 8]", y)
	}
	// The region is mapped, not copied at registration: later writes show.
	copy(data[16:], fp32Raw(3, 4))
	if err := os.WriteFile(filepath.Join(shmDir, key), data, 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err = h.c.ModelInfer(c, shmReq(0, 8))
	if err != nil || !slices.Equal(floats(t, resp, "Y"), []float32{3, 4}) {
		t.Errorf("after rewrite: %v %v", resp, err)
	}
	_, err = h.c.ModelInfer(c, shmReq(12, 8))
	wantStatus(t, err, codes.InvalidArgument, `input "X"`, "runs past region \"in\"")
	_, err = h.c.ModelInfer(c, shmReq(0, 12))
	wantStatus(t, err, codes.InvalidArgument, `input "X"`, "needs 8 bytes")
	if _, err := h.c.SystemSharedMemoryUnregister(c, &pb.SystemSharedMemoryUnregisterRequest{Name: "in"}); err != nil {
		t.Fatal(err)
	}
	_, err = h.c.SystemSharedMemoryStatus(c, &pb.SystemSharedMemoryStatusRequest{Name: "in"})
	wantStatus(t, err, codes.NotFound, `"in"`)
	_, err = h.c.ModelInfer(c, shmReq(0, 8))
	wantStatus(t, err, codes.InvalidArgument, `region "in" is not registered`)
}

func TestListenAndServe(t *testing.T) {
	repo, err := modelrepo.OpenFS(os.DirFS(t.TempDir()), "empty")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(repo)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(cctx, "127.0.0.1:0") }()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Addr() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	addr := srv.Addr()
	if addr == nil || !strings.HasPrefix(addr.String(), "127.0.0.1:") {
		t.Fatalf("Addr() = %v", addr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe after cancel: %v", err)
	}
	if _, err := New(repo, WithMaxMessageSize(0)); err == nil {
		t.Error("max message size 0 accepted")
	}
}

// go test ./modelrepo/server -run X -bench Infer: one round trip over
// loopback gRPC, validation and scheduling included.
func BenchmarkInferEcho(b *testing.B) {
	dir := b.TempDir()
	for name, m := range testModels {
		if name != "echo" {
			continue
		}
		for path, content := range map[string]string{"config.pbtxt": m[0], "1/" + NativeFile: m[1]} {
			p := filepath.Join(dir, name, filepath.FromSlash(path))
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	repo, err := modelrepo.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(repo)
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.GracefulStop(context.Background())
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewGRPCInferenceServiceClient(conn)
	req := xReq("echo", []int64{8, 2}, make([]float32, 16)...)
	for b.Loop() {
		if _, err := c.ModelInfer(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
