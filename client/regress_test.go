package client

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// A response whose typed contents do not match a huge shape is a malformed
// response (Internal), not a reason to allocate for the shape: the buffer was
// sized from the shape before the element count was checked, so [3*2^60] FP32
// panicked in makeslice (and a merely large shape would ask for terabytes).
func TestTypedContentsHugeShapeIsAnError(t *testing.T) {
	for _, shape := range [][]int64{{3 << 60}} {
		f := newFake("a")
		f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
			return &pb.ModelInferResponse{ModelName: "m", Outputs: []*pb.ModelInferResponse_InferOutputTensor{{
				Name: "Q", Datatype: "FP32", Shape: shape,
				Contents: &pb.InferTensorContents{Fp32Contents: []float32{1}}}}}, nil
		}
		c := newTestClient(t, startFake(t, f))
		_, err := c.Infer(context.Background(), InferRequest{Model: "m",
			Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
		asError(t, err, "ModelInfer", "m", codes.Internal)
	}
}

// endingStream answers the first request, then ends the stream with an error.
type endingStream struct {
	pb.UnimplementedGRPCInferenceServiceServer
}

func (endingStream) ModelStreamInfer(s pb.GRPCInferenceService_ModelStreamInferServer) error {
	r, err := s.Recv()
	if err != nil {
		return err
	}
	if err := s.Send(&pb.ModelStreamInferResponse{InferResponse: &pb.ModelInferResponse{ModelName: r.ModelName, Id: r.Id}}); err != nil {
		return err
	}
	return status.Error(codes.ResourceExhausted, "server gave up")
}

// A Send that finds the stream ended must leave the responses still buffered
// for Recv: it used to call Recv itself (racing the caller's Recv goroutine)
// and drop what it read, so the answer to an earlier request was lost.
func TestStreamSendOnEndedStreamKeepsResponses(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(srv, endingStream{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c := newTestClient(t, lis.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.StreamInfer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	req := InferRequest{Model: "m", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}}
	first, err := st.Send(req)
	if err != nil {
		t.Fatal(err)
	}
	// Send until the client notices the end (the server stops after one request).
	var sendErr error
	for sendErr == nil && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
		_, sendErr = st.Send(req)
	}
	if sendErr == nil {
		t.Fatal("Send never failed on the ended stream")
	}
	res, err := st.Recv()
	if res == nil || res.ID != first || err != nil {
		t.Fatalf("Recv after the failed Send = %+v, %v; want the answer to %s", res, err, first)
	}
	_, err = st.Recv()
	asError(t, err, "ModelStreamInfer", "", codes.ResourceExhausted)
	// Once Recv has seen why the stream ended, Send reports it.
	_, err = st.Send(req)
	asError(t, err, "ModelStreamInfer", "m", codes.ResourceExhausted)
}
