package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// fastRetry keeps retry tests quick while still exercising the backoff path.
var fastRetry = WithRetry(3, time.Millisecond, 4*time.Millisecond)

func newTestClient(t testing.TB, target string, opts ...Option) *Client {
	t.Helper()
	c, err := New(context.Background(), target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustFP32(t testing.TB, name string, shape []int64, v []float32) *tensor.Tensor {
	t.Helper()
	x, err := tensor.NewFP32(name, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// asError asserts err is a *Error with the given op, model and code.
func asError(t *testing.T, err error, op, model string, code codes.Code) *Error {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not *client.Error", err, err)
	}
	if ce.Op != op || ce.Model != model || ce.Code != code {
		t.Fatalf("error {Op %q Model %q Code %s}, want {%q %q %s}: %v", ce.Op, ce.Model, ce.Code, op, model, code, err)
	}
	return ce
}

func TestInferDecodesOutputsByName(t *testing.T) {
	f := newFake("a")
	c := newTestClient(t, startFake(t, f))
	ctx := context.Background()

	for _, outputs := range [][]string{nil, {"Y", "N"}, {"N", "Y"}} {
		res, err := c.Infer(ctx, InferRequest{Model: "double", ID: "r1",
			Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1, 3}, []float32{1, -2, 0.5})}, Outputs: outputs})
		if err != nil {
			t.Fatal(err)
		}
		// The fake answers in reverse order; by-name lookup must not care.
		first := "Y"
		if outputs != nil {
			first = outputs[0]
		}
		if got := res.Outputs()[0].Name; got == first {
			t.Fatalf("fake did not reverse outputs (%v), the test proves nothing", outputs)
		}
		y, err := res.Float32s("Y")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(y, []float32{2, -4, 1}) {
			t.Errorf("Y = %v", y)
		}
		n, err := res.Int64s("N")
		if err != nil || !reflect.DeepEqual(n, []int64{3}) {
			t.Errorf("N = %v, %v", n, err)
		}
		yt, _ := res.Output("Y")
		if !reflect.DeepEqual(yt.Shape, []int64{1, 3}) {
			t.Errorf("Y shape %v", yt.Shape)
		}
		if res.Model != "double" || res.Version != "1" || res.ID != "r1" {
			t.Errorf("result header %q %q %q", res.Model, res.Version, res.ID)
		}
	}

	// Only the requested output comes back; asking for another names both.
	res, err := c.Infer(ctx, InferRequest{Model: "double",
		Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}, Outputs: []string{"N"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = res.Output("Y")
	asError(t, err, "Output", "double", codes.NotFound)
	if !IsNotFound(err) || !strings.Contains(err.Error(), `"Y"`) || !strings.Contains(err.Error(), "outputs: N") {
		t.Errorf("missing-output error %q", err)
	}
	// A typed helper on the wrong datatype names model and tensor.
	_, err = res.Float32s("N")
	asError(t, err, "Output", "double", codes.InvalidArgument)
	if !strings.Contains(err.Error(), `"N"`) {
		t.Errorf("wrong-type error %q does not name the tensor", err)
	}
}

func TestInferRejectsMalformedResponses(t *testing.T) {
	y, _ := tensor.NewFP32("QUALITY", []int64{1, 1}, []float32{0.5})
	good := func() *pb.ModelInferResponse {
		return &pb.ModelInferResponse{ModelName: "iqa",
			Outputs:           []*pb.ModelInferResponse_InferOutputTensor{{Name: "QUALITY", Datatype: "FP32", Shape: []int64{1, 1}}},
			RawOutputContents: [][]byte{y.Raw}}
	}
	cases := []struct {
		name   string
		mutate func(*pb.ModelInferResponse)
		want   string
	}{
		{"short raw", func(r *pb.ModelInferResponse) { r.RawOutputContents[0] = r.RawOutputContents[0][:3] },
			`tensor "QUALITY": FP32 shape [1 1] needs 4 bytes (1 elements x 4), got 3`},
		{"long raw", func(r *pb.ModelInferResponse) { r.RawOutputContents[0] = append(r.RawOutputContents[0], 0) },
			`tensor "QUALITY": FP32 shape [1 1] needs 4 bytes`},
		{"raw count", func(r *pb.ModelInferResponse) {
			r.Outputs = append(r.Outputs, &pb.ModelInferResponse_InferOutputTensor{Name: "ALIGNMENT", Datatype: "FP32", Shape: []int64{1}})
		}, "2 outputs but 1 raw_output_contents"},
		{"unknown datatype", func(r *pb.ModelInferResponse) { r.Outputs[0].Datatype = "FLOAT32" },
			`tensor "QUALITY": unknown datatype "FLOAT32"`},
		{"negative dim", func(r *pb.ModelInferResponse) { r.Outputs[0].Shape = []int64{-1} },
			`tensor "QUALITY": dimension 0 is -1`},
		{"duplicate name", func(r *pb.ModelInferResponse) {
			r.Outputs = append(r.Outputs, r.Outputs[0])
			r.RawOutputContents = append(r.RawOutputContents, y.Raw)
		}, `output tensor "QUALITY" appears twice`},
		{"bytes past buffer", func(r *pb.ModelInferResponse) {
			r.Outputs[0].Datatype = "BYTES"
			r.RawOutputContents[0] = []byte{9, 0, 0, 0, 'a'}
		}, `tensor "QUALITY": BYTES element 0: length 9 runs past the buffer`},
		{"raw and typed", func(r *pb.ModelInferResponse) {
			r.Outputs[0].Contents = &pb.InferTensorContents{Fp32Contents: []float32{1}}
		}, "both raw and typed contents"},
		{"no data", func(r *pb.ModelInferResponse) { r.RawOutputContents = nil }, "no raw or typed contents for 1 elements"},
	}
	f := newFake("a")
	c := newTestClient(t, startFake(t, f))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := good()
			tc.mutate(resp)
			f.mu.Lock()
			f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) { return resp, nil }
			f.mu.Unlock()
			_, err := c.Infer(context.Background(), InferRequest{Model: "iqa",
				Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
			ce := asError(t, err, "ModelInfer", "iqa", codes.DataLoss) // found by the client, not the server's Internal
			if !ce.BadResponse || !IsBadResponse(err) || !strings.Contains(err.Error(), "refused by the client") {
				t.Errorf("not marked as a response the client refused: %v", err)
			}
			if !strings.Contains(ce.Message, tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	// The tensor-level cause stays reachable.
	f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		r := good()
		r.RawOutputContents[0] = r.RawOutputContents[0][:2]
		return r, nil
	}
	_, err := c.Infer(context.Background(), InferRequest{Model: "iqa", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	var te *tensor.Error
	if !errors.As(err, &te) || te.Tensor != "QUALITY" {
		t.Errorf("errors.As(*tensor.Error) on %v: %+v", err, te)
	}
}

// Servers that answer with typed contents instead of raw bytes are converted.
func TestInferTypedContents(t *testing.T) {
	out := func(name, dt string, shape []int64, c *pb.InferTensorContents) *pb.ModelInferResponse_InferOutputTensor {
		return &pb.ModelInferResponse_InferOutputTensor{Name: name, Datatype: dt, Shape: shape, Contents: c}
	}
	f := newFake("a")
	f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		return &pb.ModelInferResponse{ModelName: "m", Outputs: []*pb.ModelInferResponse_InferOutputTensor{
			out("F", "FP32", []int64{2}, &pb.InferTensorContents{Fp32Contents: []float32{1.5, -2}}),
			out("D", "FP64", []int64{1}, &pb.InferTensorContents{Fp64Contents: []float64{0.25}}),
			out("L", "INT64", []int64{1, 2}, &pb.InferTensorContents{Int64Contents: []int64{-1, 1 << 40}}),
			out("I", "INT32", []int64{1}, &pb.InferTensorContents{IntContents: []int32{-7}}),
			out("U", "UINT8", []int64{3}, &pb.InferTensorContents{UintContents: []uint32{0, 128, 255}}),
			out("B", "BOOL", []int64{2}, &pb.InferTensorContents{BoolContents: []bool{true, false}}),
			out("S", "BYTES", []int64{2}, &pb.InferTensorContents{BytesContents: [][]byte{[]byte("ok"), nil}}),
			out("E", "FP32", []int64{0}, nil),
		}}, nil
	}
	c := newTestClient(t, startFake(t, f))
	res, err := c.Infer(context.Background(), InferRequest{Model: "m", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got any, err error, want any) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	fv, err := res.Float32s("F")
	check("F", fv, err, []float32{1.5, -2})
	dv, err := res.Float64s("D")
	check("D", dv, err, []float64{0.25})
	lv, err := res.Int64s("L")
	check("L", lv, err, []int64{-1, 1 << 40})
	iv, err := res.Int32s("I")
	check("I", iv, err, []int32{-7})
	uv, err := res.Uint8s("U")
	check("U", uv, err, []uint8{0, 128, 255})
	bv, err := res.Bools("B")
	check("B", bv, err, []bool{true, false})
	sv, err := res.ByteElements("S")
	check("S", sv, err, [][]byte{[]byte("ok"), {}})
	ev, err := res.Float32s("E")
	check("E", ev, err, []float32{})

	bad := []struct {
		out  *pb.ModelInferResponse_InferOutputTensor
		want string
	}{
		{out("U", "UINT8", []int64{1}, &pb.InferTensorContents{UintContents: []uint32{256}}), `tensor "U": element 0 = 256 out of UINT8 range`},
		{out("I", "INT8", []int64{1}, &pb.InferTensorContents{IntContents: []int32{-129}}), `tensor "I": element 0 = -129 out of INT8 range`},
		{out("F", "FP32", []int64{3}, &pb.InferTensorContents{Fp32Contents: []float32{1}}), `tensor "F": FP32 shape [3] needs 3 elements, fp32_contents has 1`},
		{out("F", "FP32", []int64{1}, &pb.InferTensorContents{Fp64Contents: []float64{1}}), "fp32_contents has 0"},
		{out("H", "FP16", []int64{1}, &pb.InferTensorContents{Fp32Contents: []float32{1}}), `tensor "H": FP16 cannot be sent as typed contents`},
	}
	for _, b := range bad {
		f.mu.Lock()
		f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
			return &pb.ModelInferResponse{ModelName: "m", Outputs: []*pb.ModelInferResponse_InferOutputTensor{b.out}}, nil
		}
		f.mu.Unlock()
		_, err := c.Infer(context.Background(), InferRequest{Model: "m", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
		if ce := asError(t, err, "ModelInfer", "m", codes.DataLoss); !strings.Contains(ce.Message, b.want) {
			t.Errorf("error %q does not contain %q", err, b.want)
		}
	}
}

func TestInferRequestValidation(t *testing.T) {
	x := mustFP32(t, "X", []int64{1}, []float32{1})
	shm := SharedMemoryInput{Name: "IMAGE", DataType: tensor.Uint8, Shape: []int64{1, 3, 2, 2}, Region: "in", ByteSize: 12}
	cases := []struct {
		name string
		req  InferRequest
		want string
	}{
		{"no model", InferRequest{Inputs: []*tensor.Tensor{x}}, "no model name"},
		{"mixed raw and shm", InferRequest{Model: "double", Inputs: []*tensor.Tensor{x}, SharedMemoryInputs: []SharedMemoryInput{shm}},
			"either all raw or all shared memory"},
		{"nil input", InferRequest{Model: "double", Inputs: []*tensor.Tensor{x, nil}}, "input 1 is nil"},
		{"duplicate input", InferRequest{Model: "double", Inputs: []*tensor.Tensor{x, x}}, `input "X" given twice`},
		{"short input", InferRequest{Model: "double", Inputs: []*tensor.Tensor{{Name: "TOKENS", DataType: tensor.Int64, Shape: []int64{1, 77}, Raw: make([]byte, 8)}}},
			`tensor "TOKENS": INT64 shape [1 77] needs 616 bytes`},
		{"empty input name", InferRequest{Model: "double", Inputs: []*tensor.Tensor{{DataType: tensor.FP32, Shape: []int64{0}}}}, "input with an empty name"},
		{"duplicate output", InferRequest{Model: "double", Inputs: []*tensor.Tensor{x}, Outputs: []string{"Y", "Y"}}, `requested output "Y" given twice`},
		{"bad parameter", InferRequest{Model: "double", Inputs: []*tensor.Tensor{x}, Parameters: map[string]any{"priority": []int{1}}},
			`parameter "priority": unsupported type []int`},
		{"shm size", InferRequest{Model: "double", SharedMemoryInputs: []SharedMemoryInput{{Name: "IMAGE", DataType: tensor.Uint8,
			Shape: []int64{3, 2, 2}, Region: "in", ByteSize: 11}}}, `shared-memory input "IMAGE": UINT8 shape [3 2 2] needs 12 bytes, region slice has 11`},
		{"shm no region", InferRequest{Model: "double", SharedMemoryInputs: []SharedMemoryInput{{Name: "IMAGE", DataType: tensor.Uint8,
			Shape: []int64{1}, ByteSize: 1}}}, `shared-memory input "IMAGE": no region name`},
		{"shm type", InferRequest{Model: "double", SharedMemoryInputs: []SharedMemoryInput{{Name: "IMAGE", DataType: "U8",
			Shape: []int64{1}, Region: "r", ByteSize: 1}}}, `unknown datatype "U8"`},
	}
	f := newFake("a")
	c := newTestClient(t, startFake(t, f))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Infer(context.Background(), tc.req)
			ce := asError(t, err, "ModelInfer", tc.req.Model, codes.InvalidArgument)
			if !strings.Contains(ce.Message, tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	if n := f.count("ModelInfer"); n != 0 {
		t.Errorf("%d invalid requests reached the server", n)
	}
}

func TestInferWireFormat(t *testing.T) {
	f := newFake("a")
	f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		return &pb.ModelInferResponse{ModelName: "m"}, nil
	}
	c := newTestClient(t, startFake(t, f))
	ctx := context.Background()
	img, _ := tensor.NewUint8("IMAGE", []int64{1, 3, 1, 1}, []uint8{1, 2, 3})
	tok, _ := tensor.NewInt64("TOKENS", []int64{1, 2}, []int64{49406, 49407})
	_, err := c.Infer(ctx, InferRequest{Model: "m", Version: "3", ID: "q", Inputs: []*tensor.Tensor{img, tok},
		Outputs:    []string{"QUALITY"},
		Parameters: map[string]any{"priority": 2, "timeout": int64(100), "flag": true, "tag": "x", "w": 0.5, "u": uint64(3)}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.lastInfer
	if r.ModelName != "m" || r.ModelVersion != "3" || r.Id != "q" {
		t.Errorf("header %q %q %q", r.ModelName, r.ModelVersion, r.Id)
	}
	if len(r.Inputs) != 2 || r.Inputs[0].Name != "IMAGE" || r.Inputs[0].Datatype != "UINT8" || r.Inputs[1].Name != "TOKENS" ||
		!reflect.DeepEqual(r.Inputs[1].Shape, []int64{1, 2}) || r.Inputs[0].Contents != nil {
		t.Errorf("inputs %v", r.Inputs)
	}
	if len(r.RawInputContents) != 2 || string(r.RawInputContents[0]) != "\x01\x02\x03" || string(r.RawInputContents[1]) != string(tok.Raw) {
		t.Errorf("raw_input_contents %q", r.RawInputContents)
	}
	if len(r.Outputs) != 1 || r.Outputs[0].Name != "QUALITY" {
		t.Errorf("outputs %v", r.Outputs)
	}
	p := r.Parameters
	if p["priority"].GetInt64Param() != 2 || p["timeout"].GetInt64Param() != 100 || !p["flag"].GetBoolParam() ||
		p["tag"].GetStringParam() != "x" || p["w"].GetDoubleParam() != 0.5 || p["u"].GetUint64Param() != 3 {
		t.Errorf("parameters %v", p)
	}

	// A shared-memory request carries no raw bytes at all, only references.
	_, err = c.Infer(ctx, InferRequest{Model: "m", SharedMemoryInputs: []SharedMemoryInput{
		{Name: "IMAGE", DataType: tensor.Uint8, Shape: []int64{1, 3, 1, 1}, Region: "in", ByteSize: 3, Offset: 0},
		{Name: "TOKENS", DataType: tensor.Int64, Shape: []int64{1, 2}, Region: "in", ByteSize: 16, Offset: 64},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r = f.lastInfer
	if len(r.RawInputContents) != 0 {
		t.Errorf("shared-memory request carries %d raw_input_contents", len(r.RawInputContents))
	}
	if len(r.Inputs) != 2 {
		t.Fatalf("inputs %v", r.Inputs)
	}
	tp := r.Inputs[1].Parameters
	if tp["shared_memory_region"].GetStringParam() != "in" || tp["shared_memory_byte_size"].GetInt64Param() != 16 ||
		tp["shared_memory_offset"].GetInt64Param() != 64 || r.Inputs[1].Datatype != "INT64" {
		t.Errorf("TOKENS parameters %v", tp)
	}
}

func TestErrorType(t *testing.T) {
	c := newTestClient(t, startFake(t, newFake("a")), WithRetry(0, 0, 0))
	_, err := c.ModelConfig(context.Background(), "nope", "")
	ce := asError(t, err, "ModelConfig", "nope", codes.NotFound)
	if !strings.Contains(ce.Message, "unknown model") {
		t.Errorf("message %q", ce.Message)
	}
	if got := err.Error(); got != `ModelConfig model "nope": NotFound: Request for unknown model: 'nope' is not found` {
		t.Errorf("Error() = %q", got)
	}
	if !IsNotFound(err) || IsUnavailable(err) || status.Code(err) != codes.NotFound || Code(err) != codes.NotFound {
		t.Errorf("code helpers disagree on %v", err)
	}
	if _, ok := status.FromError(ce.Unwrap()); !ok {
		t.Errorf("Unwrap does not give the gRPC status error: %v", ce.Unwrap())
	}
	wrapped := errors.Join(errors.New("scoring failed"), err)
	if !IsNotFound(wrapped) {
		t.Error("IsNotFound does not see through wrapping")
	}
	if Code(nil) != codes.OK || Code(context.Canceled) != codes.Canceled || Code(errors.New("x")) != codes.Unknown {
		t.Error("Code on plain errors")
	}
	_, err = c.Live(context.Background())
	if err != nil {
		t.Fatal(err)
	}
}

func TestRetry(t *testing.T) {
	ctx := context.Background()
	t.Run("unavailable then ok", func(t *testing.T) {
		f := newFake("a")
		f.failNext("ServerLive", codes.Unavailable, 2)
		c := newTestClient(t, startFake(t, f), fastRetry)
		live, err := c.Live(ctx)
		if err != nil || !live {
			t.Fatalf("Live = %v, %v", live, err)
		}
		if n := f.count("ServerLive"); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
	})
	t.Run("gives up after max", func(t *testing.T) {
		f := newFake("a")
		f.failNext("ModelMetadata", codes.Unavailable, 10)
		c := newTestClient(t, startFake(t, f), WithRetry(2, time.Millisecond, time.Millisecond))
		_, err := c.ModelMetadata(ctx, "double", "")
		asError(t, err, "ModelMetadata", "double", codes.Unavailable)
		if n := f.count("ModelMetadata"); n != 3 {
			t.Errorf("%d attempts, want 1 + 2 retries", n)
		}
	})
	t.Run("not on NotFound", func(t *testing.T) {
		f := newFake("a")
		c := newTestClient(t, startFake(t, f), fastRetry)
		_, err := c.ModelMetadata(ctx, "nope", "")
		asError(t, err, "ModelMetadata", "nope", codes.NotFound)
		if n := f.count("ModelMetadata"); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("not on other codes", func(t *testing.T) {
		f := newFake("a")
		f.failNext("ModelStatistics", codes.Internal, 1)
		c := newTestClient(t, startFake(t, f), fastRetry)
		_, err := c.ModelStatistics(ctx, "double", "")
		asError(t, err, "ModelStatistics", "double", codes.Internal)
		if n := f.count("ModelStatistics"); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("not Infer by default", func(t *testing.T) {
		f := newFake("a")
		f.failNext("ModelInfer", codes.Unavailable, 1)
		c := newTestClient(t, startFake(t, f), fastRetry)
		_, err := c.Infer(ctx, InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
		asError(t, err, "ModelInfer", "double", codes.Unavailable)
		if n := f.count("ModelInfer"); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("Infer with WithRetryInfer", func(t *testing.T) {
		f := newFake("a")
		f.failNext("ModelInfer", codes.Unavailable, 1)
		c := newTestClient(t, startFake(t, f), fastRetry, WithRetryInfer())
		if _, err := c.Infer(ctx, InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}}); err != nil {
			t.Fatal(err)
		}
		if n := f.count("ModelInfer"); n != 2 {
			t.Errorf("%d attempts, want 2", n)
		}
	})
	t.Run("not LoadModel", func(t *testing.T) {
		f := newFake("a")
		f.failNext("RepositoryModelLoad", codes.Unavailable, 1)
		c := newTestClient(t, startFake(t, f), fastRetry)
		asError(t, c.LoadModel(ctx, "double", nil), "RepositoryModelLoad", "double", codes.Unavailable)
		if n := f.count("RepositoryModelLoad"); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("backoff honours ctx", func(t *testing.T) {
		f := newFake("a")
		f.failNext("ServerReady", codes.Unavailable, 10)
		// A backoff of an hour: only ctx can end this call before the test times out.
		c := newTestClient(t, startFake(t, f), WithRetry(5, time.Hour, time.Hour))
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := c.Ready(cctx)
		asError(t, err, "ServerReady", "", codes.Unavailable)
		if n := f.count("ServerReady"); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("per-call timeout", func(t *testing.T) {
		f := newFake("a")
		f.blockLive = true
		c := newTestClient(t, startFake(t, f), WithPerCallTimeout(20*time.Millisecond), fastRetry)
		_, err := c.Live(ctx)
		asError(t, err, "ServerLive", "", codes.DeadlineExceeded)
		if n := f.count("ServerLive"); n != 1 {
			t.Errorf("%d attempts, want 1 (DeadlineExceeded is not retried)", n)
		}
	})
}

func TestBackoffBounds(t *testing.T) {
	c := &Client{cfg: config{retryBase: 10 * time.Millisecond, retryCap: 100 * time.Millisecond}}
	for attempt := range 64 {
		step := min(10*time.Millisecond<<min(attempt, 20), 100*time.Millisecond)
		for range 20 {
			d := c.backoff(attempt)
			if d < step/2 || d > step {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, step/2, step)
			}
		}
	}
}

func TestRoundRobin(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	addrA, addrB := startFake(t, a), startFake(t, b)
	c := newTestClient(t, addrA+", "+addrB)
	if got := c.Targets(); !reflect.DeepEqual(got, []string{addrA, addrB}) || c.Replicas() != 2 {
		t.Fatalf("targets %v", got)
	}
	var names []string
	for range 6 {
		md, err := c.ServerMetadata(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, md.Name)
	}
	if got := strings.Join(names, ""); got != "ababab" && got != "bababa" {
		t.Errorf("calls went to %s, want alternating", got)
	}
	// Infer rotates too.
	for range 4 {
		if _, err := c.Infer(context.Background(), InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}}); err != nil {
			t.Fatal(err)
		}
	}
	if a.count("ModelInfer") != 2 || b.count("ModelInfer") != 2 {
		t.Errorf("infer split %d/%d, want 2/2", a.count("ModelInfer"), b.count("ModelInfer"))
	}
	// A pinned view sends everything to one replica.
	rb, err := c.Replica(1)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := rb.Live(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if a.count("ServerLive") != 0 || b.count("ServerLive") != 3 {
		t.Errorf("pinned view: a %d, b %d calls", a.count("ServerLive"), b.count("ServerLive"))
	}
	if _, err := c.Replica(2); err == nil {
		t.Error("Replica(2) of 2 accepted")
	}
	rb.Close() // a no-op; c must still work
	if _, err := c.Live(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With one replica down, retries of idempotent calls move on to the next one.
func TestRoundRobinFailover(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close() // nothing listens here now: the transport reports Unavailable
	f := newFake("b")
	c := newTestClient(t, dead, WithTargets(startFake(t, f)), fastRetry)
	for i := range 4 {
		if _, err := c.Live(context.Background()); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := f.count("ServerLive"); n != 4 {
		t.Errorf("live replica served %d calls, want 4", n)
	}
	// Without retries a call landing on the dead replica reports Unavailable.
	c0 := newTestClient(t, dead, WithRetry(0, 0, 0))
	_, err = c0.Live(context.Background())
	asError(t, err, "ServerLive", "", codes.Unavailable)
	if !IsUnavailable(err) {
		t.Error("IsUnavailable false")
	}
}

func TestMaxMessageSize(t *testing.T) {
	ctx := context.Background()
	big := make([]float32, 1<<20+1<<18) // 5 MiB of FP32, over gRPC's 4 MiB default
	f := newFake("a")
	addr := startFake(t, f, grpc.MaxRecvMsgSize(64<<20), grpc.MaxSendMsgSize(64<<20))

	t.Run("default allows 5 MiB both ways", func(t *testing.T) {
		c := newTestClient(t, addr)
		res, err := c.Infer(ctx, InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{int64(len(big))}, big)}})
		if err != nil {
			t.Fatal(err)
		}
		if y, err := res.Float32s("Y"); err != nil || len(y) != len(big) {
			t.Fatalf("Y: %d values, %v", len(y), err)
		}
	})
	t.Run("send over limit", func(t *testing.T) {
		before := f.count("ModelInfer")
		c := newTestClient(t, addr, WithMaxMessageSize(1024))
		_, err := c.Infer(ctx, InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{512}, make([]float32, 512))}})
		asError(t, err, "ModelInfer", "double", codes.ResourceExhausted)
		if f.count("ModelInfer") != before {
			t.Error("oversized request reached the server")
		}
	})
	t.Run("receive over limit", func(t *testing.T) {
		fb := newFake("big")
		y, _ := tensor.NewFP32("Y", []int64{1024}, make([]float32, 1024))
		fb.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
			return &pb.ModelInferResponse{ModelName: "double",
				Outputs:           []*pb.ModelInferResponse_InferOutputTensor{{Name: "Y", Datatype: "FP32", Shape: y.Shape}},
				RawOutputContents: [][]byte{y.Raw}}, nil
		}
		c := newTestClient(t, startFake(t, fb), WithMaxMessageSize(1024))
		_, err := c.Infer(ctx, InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
		asError(t, err, "ModelInfer", "double", codes.ResourceExhausted)
		if fb.count("ModelInfer") != 1 {
			t.Errorf("server saw %d requests, want 1", fb.count("ModelInfer"))
		}
	})
}

// selfSigned makes a throwaway certificate for 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "agiqa test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	addr := startFake(t, newFake("tls"), grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	ctx := context.Background()

	c := newTestClient(t, addr, WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	md, err := c.ServerMetadata(ctx)
	if err != nil || md.Name != "tls" {
		t.Fatalf("over TLS: %v, %v", md, err)
	}
	// The same server refuses a plaintext client and one that does not trust the cert.
	plain := newTestClient(t, addr, WithInsecure(), WithRetry(0, 0, 0))
	if _, err := plain.Live(ctx); Code(err) != codes.Unavailable {
		t.Errorf("plaintext client against TLS server: %v", err)
	}
	untrusted := newTestClient(t, addr, WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}), WithRetry(0, 0, 0))
	if _, err := untrusted.Live(ctx); Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusting client: %v", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name   string
		ctx    context.Context
		target string
		opts   []Option
		want   string
	}{
		{"no target", ctx, "", nil, "no target"},
		{"empty entry", ctx, "a:1,,b:2", nil, "entry 1 is empty"},
		{"empty in WithTargets", ctx, "a:1", []Option{WithTargets("b:2", " ")}, "entry 0 is empty"},
		{"max size", ctx, "a:1", []Option{WithMaxMessageSize(0)}, "WithMaxMessageSize: 0 bytes"},
		{"retry negative", ctx, "a:1", []Option{WithRetry(-1, time.Second, time.Second)}, "max -1"},
		{"retry no base", ctx, "a:1", []Option{WithRetry(2, 0, time.Second)}, "want 0 < base <= cap"},
		{"retry cap below base", ctx, "a:1", []Option{WithRetry(2, time.Second, time.Millisecond)}, "want 0 < base <= cap"},
		{"nil tls", ctx, "a:1", []Option{WithTLS(nil)}, "nil *tls.Config"},
		{"tls and insecure", ctx, "a:1", []Option{WithTLS(&tls.Config{}), WithInsecure()}, "WithTLS and WithInsecure both given"},
		{"timeout", ctx, "a:1", []Option{WithPerCallTimeout(0)}, "WithPerCallTimeout: 0s"},
		{"nil dial option", ctx, "a:1", []Option{WithDialOptions(nil)}, "option 0 is nil"},
		{"nil option", ctx, "a:1", []Option{nil}, "nil Option"},
		{"no port", ctx, "127.0.0.1", nil, `target "127.0.0.1": want host:port`},
		{"no port in WithTargets", ctx, "a:1", []Option{WithTargets("gpu1")}, `target "gpu1": want host:port`},
		{"space in address", ctx, "bad addr", nil, `target "bad addr": want host:port`},
		{"connect timeout", ctx, "a:1", []Option{WithConnectTimeout(0)}, "WithConnectTimeout: 0s"},
		{"two errors", ctx, "a:1", []Option{WithMaxMessageSize(-1), WithPerCallTimeout(-1)}, "WithPerCallTimeout"},
		{"cancelled ctx", cancelled, "a:1", nil, "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.ctx, tc.target, tc.opts...)
			if err == nil {
				c.Close()
				t.Fatalf("accepted, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	c, err := New(ctx, "", WithTargets("a:1, b:2", "c:3"), WithDialOptions(grpc.WithUserAgent("x")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Targets(); !reflect.DeepEqual(got, []string{"a:1", "b:2", "c:3"}) {
		t.Errorf("targets %v", got)
	}
}

func TestNewFromConn(t *testing.T) {
	f := newFake("a")
	conn, err := grpc.NewClient(startFake(t, f), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := NewFromConn(conn, WithRetry(1, time.Millisecond, time.Millisecond), WithMaxMessageSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	f.failNext("ServerLive", codes.Unavailable, 1)
	if live, err := c.Live(context.Background()); err != nil || !live {
		t.Fatalf("Live = %v, %v", live, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The caller's connection is still open.
	if _, err := pb.NewGRPCInferenceServiceClient(conn).ServerReady(context.Background(), &pb.ServerReadyRequest{}); err != nil {
		t.Errorf("conn unusable after client Close: %v", err)
	}
	if _, err := NewFromConn(conn, WithTLS(&tls.Config{})); err == nil || !strings.Contains(err.Error(), "WithTLS") {
		t.Errorf("NewFromConn with WithTLS: %v", err)
	}
	if _, err := NewFromConn(nil); err == nil {
		t.Error("NewFromConn(nil) accepted")
	}
}

func TestServerAndModelCalls(t *testing.T) {
	f := newFake("srv")
	c := newTestClient(t, startFake(t, f))
	ctx := context.Background()

	if ok, err := c.Ready(ctx); err != nil || !ok {
		t.Errorf("Ready = %v, %v", ok, err)
	}
	if ok, err := c.ModelReady(ctx, "double", "1"); err != nil || !ok {
		t.Errorf("ModelReady(double, 1) = %v, %v", ok, err)
	}
	if ok, err := c.ModelReady(ctx, "double", "7"); err != nil || ok {
		t.Errorf("ModelReady(double, 7) = %v, %v", ok, err)
	}
	if _, err := c.ModelReady(ctx, "nope", ""); !IsNotFound(err) {
		t.Errorf("ModelReady(nope): %v", err)
	}
	md, err := c.ServerMetadata(ctx)
	if err != nil || md.Name != "srv" || md.Extensions[0] != "system_shared_memory" {
		t.Errorf("ServerMetadata = %v, %v", md, err)
	}
	mm, err := c.ModelMetadata(ctx, "double", "")
	if err != nil || mm.Outputs[1].Name != "N" || mm.Inputs[0].Datatype != "FP32" {
		t.Errorf("ModelMetadata = %v, %v", mm, err)
	}
	cfg, err := c.ModelConfig(ctx, "double", "")
	if err != nil || cfg.MaxBatchSize != 8 {
		t.Errorf("ModelConfig = %v, %v", cfg, err)
	}
	if _, err := c.Infer(ctx, InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}}); err != nil {
		t.Fatal(err)
	}
	st, err := c.ModelStatistics(ctx, "double", "1")
	if err != nil || len(st) != 1 || st[0].Version != "1" || st[0].InferenceCount != 1 {
		t.Errorf("ModelStatistics = %v, %v", st, err)
	}
	idx, err := c.RepositoryIndex(ctx, true)
	if err != nil || len(idx) != 1 || idx[0].State != "READY" {
		t.Errorf("RepositoryIndex(ready) = %v, %v", idx, err)
	}
	if idx, err = c.RepositoryIndex(ctx, false); err != nil || len(idx) != 2 || idx[1].Reason != "no file" {
		t.Errorf("RepositoryIndex(all) = %v, %v", idx, err)
	}
	cfgParam := map[string]*pb.ModelRepositoryParameter{"config": {ParameterChoice: &pb.ModelRepositoryParameter_StringParam{StringParam: `{"max_batch_size":4}`}}}
	if err := c.LoadModel(ctx, "double", cfgParam); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadModel(ctx, "other", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.UnloadModel(ctx, "other", nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.loaded, []string{`double:{"max_batch_size":4}`}) {
		t.Errorf("server saw loads %v", f.loaded)
	}
}

func TestSystemSharedMemory(t *testing.T) {
	f := newFake("a")
	c := newTestClient(t, startFake(t, f))
	ctx := context.Background()
	if err := c.RegisterSystemSharedMemory(ctx, "in", "/agiqa_in", 16, 4096); err != nil {
		t.Fatal(err)
	}
	err := c.RegisterSystemSharedMemory(ctx, "in", "/agiqa_in", 0, 4096)
	asError(t, err, "SystemSharedMemoryRegister", "", codes.AlreadyExists)
	asError(t, c.RegisterSystemSharedMemory(ctx, "x", "", 0, 1), "SystemSharedMemoryRegister", "", codes.InvalidArgument)

	regions, err := c.SystemSharedMemoryStatus(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := regions["in"]; len(regions) != 1 || r.Key != "/agiqa_in" || r.Offset != 16 || r.ByteSize != 4096 {
		t.Errorf("status %v", regions)
	}
	if _, err := c.SystemSharedMemoryStatus(ctx, "missing"); !IsNotFound(err) {
		t.Errorf("status of a missing region: %v", err)
	}
	if err := c.UnregisterSystemSharedMemory(ctx, "in"); err != nil {
		t.Fatal(err)
	}
	if regions, err = c.SystemSharedMemoryStatus(ctx, ""); err != nil || len(regions) != 0 {
		t.Errorf("after unregister: %v, %v", regions, err)
	}
}

func TestStreamInfer(t *testing.T) {
	f := newFake("a")
	c := newTestClient(t, startFake(t, f))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := c.StreamInfer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := map[string]float32{}
	for i := range 3 {
		v := float32(i + 1)
		id, err := st.Send(InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{v})}})
		if err != nil {
			t.Fatal(err)
		}
		want[id] = 2 * v
	}
	badID, err := st.Send(InferRequest{Model: "nope", ID: "mine", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	if err != nil || badID != "mine" {
		t.Fatalf("Send kept ID %q, %v", badID, err)
	}
	if _, err := st.Send(InferRequest{Model: "double", ID: "mine"}); err == nil || !strings.Contains(err.Error(), "already in flight") {
		t.Errorf("duplicate in-flight ID: %v", err)
	}
	if _, err := st.Send(InferRequest{Model: "double", Inputs: []*tensor.Tensor{{Name: "X", DataType: tensor.FP32, Shape: []int64{1}}}}); Code(err) != codes.InvalidArgument {
		t.Errorf("invalid request on stream: %v", err)
	}
	if st.Pending() != 4 {
		t.Errorf("Pending = %d, want 4", st.Pending())
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var order []string
	for {
		res, err := st.Recv()
		if err == io.EOF {
			break
		}
		if res == nil {
			t.Fatalf("stream failed: %v", err)
		}
		order = append(order, res.ID)
		if res.ID == "mine" {
			ce := asError(t, err, "ModelStreamInfer", "nope", codes.Unknown)
			if !strings.Contains(ce.Message, `request "mine"`) || !strings.Contains(ce.Message, "unknown model") {
				t.Errorf("per-request error %q", ce.Message)
			}
			continue
		}
		if err != nil {
			t.Fatalf("request %s: %v", res.ID, err)
		}
		y, err := res.Float32s("Y")
		if err != nil || len(y) != 1 || y[0] != want[res.ID] {
			t.Errorf("request %s: Y = %v, %v; want %v", res.ID, y, err, want[res.ID])
		}
		delete(want, res.ID)
	}
	if len(want) != 0 || len(order) != 4 || order[0] != "mine" {
		t.Errorf("responses %v; unanswered %v", order, want)
	}
	if st.Pending() != 0 {
		t.Errorf("Pending = %d after EOF", st.Pending())
	}
}

func TestStreamInferServerError(t *testing.T) {
	f := newFake("a")
	f.failNext("ModelStreamInfer", codes.Unavailable, 1)
	c := newTestClient(t, startFake(t, f))
	st, err := c.StreamInfer(context.Background())
	if err != nil {
		t.Fatal(err) // stream errors arrive on first Recv
	}
	defer st.Close()
	_, err = st.Recv()
	asError(t, err, "ModelStreamInfer", "", codes.Unavailable)
	// Sending on the finished stream reports why it finished.
	_, err = st.Send(InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	asError(t, err, "ModelStreamInfer", "double", codes.Unavailable)
	if st.Pending() != 0 {
		t.Errorf("failed send left %d pending", st.Pending())
	}
}

func TestInferHalfPrecisionOutput(t *testing.T) {
	q, _ := tensor.NewFP16("QUALITY", []int64{2, 1}, []float32{0.5, -1.25})
	f := newFake("a")
	f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		return &pb.ModelInferResponse{ModelName: "m",
			Outputs:           []*pb.ModelInferResponse_InferOutputTensor{{Name: "QUALITY", Datatype: "FP16", Shape: q.Shape}},
			RawOutputContents: [][]byte{q.Raw}}, nil
	}
	c := newTestClient(t, startFake(t, f))
	res, err := c.Infer(context.Background(), InferRequest{Model: "m", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := res.FP16s("QUALITY"); err != nil || !reflect.DeepEqual(h, []float32{0.5, -1.25}) {
		t.Errorf("FP16s = %v, %v", h, err)
	}
	if v, err := res.Float64Values("QUALITY"); err != nil || !reflect.DeepEqual(v, []float64{0.5, -1.25}) {
		t.Errorf("Float64Values = %v, %v", v, err)
	}
	if _, err := res.Float64Values("MISSING"); !IsNotFound(err) {
		t.Errorf("Float64Values of a missing output: %v", err)
	}
}

// A server nobody listens on: the error names the address, which gRPC's own
// message does not always do (a failed DNS lookup, for one).
func TestUnreachableErrorNamesServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	c := newTestClient(t, addr, WithRetry(0, 0, 0))
	_, err = c.ModelMetadata(context.Background(), "m", "")
	ce := asError(t, err, "ModelMetadata", "m", codes.Unavailable)
	if ce.Target != addr {
		t.Errorf("Target %q, want %q", ce.Target, addr)
	}
	if want := `ModelMetadata model "m" (server ` + addr + `): Unavailable: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Error() = %q, want prefix %q", err, want)
	}
}

// A port that accepts TCP but never speaks HTTP/2: with WithConnectTimeout the
// call fails as Unavailable, naming the server, well inside the caller's
// deadline (gRPC's default 20 s handshake limit would outlast it and the call
// would end in DeadlineExceeded instead).
func TestConnectTimeoutOnSilentServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); lis.Close() })
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { <-done; conn.Close() }()
		}
	}()
	c := newTestClient(t, lis.Addr().String(), WithRetry(0, 0, 0), WithConnectTimeout(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Live(ctx)
	if Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "(server "+lis.Addr().String()+")") {
		t.Errorf("Live on a silent server: %v; want Unavailable naming the server", err)
	}
}
