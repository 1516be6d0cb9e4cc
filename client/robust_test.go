package client

import (
	"context"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// Some KServe v2 servers send an empty contents message beside
// raw_output_contents; only typed elements there conflict with the raw bytes.
func TestEmptyContentsBesideRawAccepted(t *testing.T) {
	f := newFake("a")
	want := []float32{0.25, 4}
	y := mustFP32(t, "Q", []int64{1, 2}, want)
	f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		return &pb.ModelInferResponse{ModelName: "m", Outputs: []*pb.ModelInferResponse_InferOutputTensor{
			{Name: "Q", Datatype: "FP32", Shape: []int64{1, 2}, Contents: &pb.InferTensorContents{}}},
			RawOutputContents: [][]byte{y.Raw}}, nil
	}
	c := newTestClient(t, startFake(t, f))
	res, err := c.Infer(context.Background(), InferRequest{Model: "m", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := res.Float32s("Q")
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Q = %v, %v; want %v", got, err, want)
	}
}

// A response the client cannot decode is the client's finding (DataLoss,
// BadResponse), not the server's Internal, and no retry is made even with
// WithRetryInfer: the server would send the same answer.
func TestBadResponseNotRetried(t *testing.T) {
	f := newFake("a")
	f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		return &pb.ModelInferResponse{ModelName: "m", Outputs: []*pb.ModelInferResponse_InferOutputTensor{
			{Name: "Q", Datatype: "FP32", Shape: []int64{2}}}, RawOutputContents: [][]byte{{1, 2, 3}}}, nil
	}
	c := newTestClient(t, startFake(t, f), WithRetryInfer(), WithRetry(3, time.Millisecond, time.Millisecond))
	_, err := c.Infer(context.Background(), InferRequest{Model: "m", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	ce := asError(t, err, "ModelInfer", "m", codes.DataLoss)
	if !IsBadResponse(err) || Code(err) == codes.Internal || !ce.BadResponse {
		t.Errorf("not a client-side bad response: %v", err)
	}
	if n := f.count("ModelInfer"); n != 1 {
		t.Errorf("ModelInfer sent %d times, want 1", n)
	}
	// A server's own Internal stays Internal and is not a bad response.
	f.failNext("ModelInfer", codes.Internal, 1)
	_, err = c.Infer(context.Background(), InferRequest{Model: "m", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	if Code(err) != codes.Internal || IsBadResponse(err) {
		t.Errorf("server Internal: %v", err)
	}
}

// rawCodec passes message bytes through, so a test server can send bytes that
// are not a valid protobuf message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// A message gRPC cannot unmarshal (grpc-go reports it as Internal on the
// client) is a bad response too: counted once, not retried, not Internal.
func TestUndecodableMessageNotRetried(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, s grpc.ServerStream) error {
		var in []byte
		if err := s.RecvMsg(&in); err != nil {
			return err
		}
		calls.Add(1)
		garbage := []byte{0x0a, 0x05, 'a'} // field 1, length 5, one byte: truncated
		return s.SendMsg(&garbage)
	}))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c := newTestClient(t, lis.Addr().String(), WithRetry(3, time.Millisecond, time.Millisecond))
	_, err = c.ModelMetadata(context.Background(), "m", "")
	ce := asError(t, err, "ModelMetadata", "m", codes.DataLoss)
	if !ce.BadResponse || calls.Load() != 1 {
		t.Errorf("bad response %v after %d calls, want one call: %v", ce.BadResponse, calls.Load(), err)
	}
}
