package client

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// A response whose typed contents do not match a huge shape is a malformed
// response (DataLoss, found by the client), not a reason to allocate for the shape: the buffer was
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
		asError(t, err, "ModelInfer", "m", codes.DataLoss)
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

// A shared-memory input's byte size was compared with n*size computed in
// int64 without an overflow check: [2^62+1] INT32 "needs" 2^64+4 bytes, which
// wrapped to 4, so a 4-byte region slice was accepted for it and sent.
func TestSharedMemoryInputByteSizeOverflow(t *testing.T) {
	f := newFake("a")
	c := newTestClient(t, startFake(t, f))
	_, err := c.Infer(context.Background(), InferRequest{Model: "m", SharedMemoryInputs: []SharedMemoryInput{{
		Name: "X", DataType: tensor.Int32, Shape: []int64{1<<62 + 1}, Region: "in", ByteSize: 4}}})
	ce := asError(t, err, "ModelInfer", "m", codes.InvalidArgument)
	if !strings.Contains(ce.Message, `"X"`) || !strings.Contains(ce.Message, "overflows") {
		t.Errorf("error %q does not name the input and the overflow", err)
	}
	if n := f.count("ModelInfer"); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

// Close may be called more than once and from several goroutines (a deferred
// Close beside a signal handler's): it wrote c.conns unguarded, a data race.
func TestCloseConcurrentAndIdempotent(t *testing.T) {
	c, err := New(context.Background(), startFake(t, newFake("a")))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Close() }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after Close: %v", err)
	}
}

// A call ended by the caller's ctx keeps errors.Is(err, context.Canceled /
// DeadlineExceeded) true, as callers expect from any ctx-taking Go API; gRPC's
// status error does not wrap the context error, so it was false.
func TestErrorIsContextError(t *testing.T) {
	t.Run("deadline during the call", func(t *testing.T) {
		f := newFake("a")
		f.blockLive = true
		c := newTestClient(t, startFake(t, f), WithRetry(0, 0, 0))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Live(ctx)
		asError(t, err, "ServerLive", "", codes.DeadlineExceeded)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false", err)
		}
		if errors.Is(err, context.Canceled) {
			t.Errorf("errors.Is(%v, context.Canceled) = true", err)
		}
	})
	t.Run("cancel during backoff", func(t *testing.T) {
		f := newFake("a")
		f.failNext("ServerReady", codes.Unavailable, 10)
		c := newTestClient(t, startFake(t, f), WithRetry(5, time.Hour, time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for f.count("ServerReady") == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := c.Ready(ctx)
		// Unavailable when the cancel came during the backoff, Canceled when
		// it beat the server's answer: either way the caller's cancel shows.
		if !errors.Is(err, context.Canceled) {
			t.Errorf("errors.Is(%v, context.Canceled) = false", err)
		}
	})
	t.Run("cancel after a failed attempt", func(t *testing.T) {
		f := newFake("a")
		f.failNext("ServerReady", codes.Unavailable, 10)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancelAfter := grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
			cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			cancel()
			return err
		})
		c := newTestClient(t, startFake(t, f), WithRetry(5, time.Hour, time.Hour), WithDialOptions(cancelAfter))
		_, err := c.Ready(ctx)
		// The server's answer stays the reported code: it is why the call failed.
		asError(t, err, "ServerReady", "", codes.Unavailable)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("errors.Is(%v, context.Canceled) = false", err)
		}
	})
	t.Run("per-call timeout is not the caller's deadline", func(t *testing.T) {
		f := newFake("a")
		f.blockLive = true
		c := newTestClient(t, startFake(t, f), WithRetry(0, 0, 0), WithPerCallTimeout(20*time.Millisecond))
		_, err := c.Live(context.Background())
		asError(t, err, "ServerLive", "", codes.DeadlineExceeded)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("errors.Is(%v, context.DeadlineExceeded) = true though the caller's ctx never ended", err)
		}
	})
	t.Run("server's own DeadlineExceeded", func(t *testing.T) {
		f := newFake("a")
		f.failNext("ServerLive", codes.DeadlineExceeded, 1)
		c := newTestClient(t, startFake(t, f), WithRetry(0, 0, 0))
		_, err := c.Live(context.Background())
		if Code(err) != codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("server-side DeadlineExceeded: %v, errors.Is ctx = %v", err, errors.Is(err, context.DeadlineExceeded))
		}
	})
}

// When the caller's deadline comes before the next retry could start, waiting
// for it only delays the same answer: the call returns the server's error at
// once. It used to sleep until the deadline.
func TestRetryDoesNotSleepPastDeadline(t *testing.T) {
	f := newFake("a")
	f.failNext("ModelMetadata", codes.Unavailable, 10)
	c := newTestClient(t, startFake(t, f), WithRetry(5, time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.ModelMetadata(ctx, "double", "")
	asError(t, err, "ModelMetadata", "double", codes.Unavailable)
	if ctx.Err() != nil {
		t.Errorf("the call waited until the deadline (%v) for a retry that could not start", ctx.Err())
	}
	if n := f.count("ModelMetadata"); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// A stream ended by the caller's ctx reports it through errors.Is as unary
// calls do.
func TestStreamRecvIsContextCanceled(t *testing.T) {
	c := newTestClient(t, startFake(t, newFake("a")))
	ctx, cancel := context.WithCancel(context.Background())
	st, err := c.StreamInfer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cancel()
	_, err = st.Recv()
	if Code(err) != codes.Canceled || !errors.Is(err, context.Canceled) {
		t.Errorf("Recv after cancel: %v (code %s), errors.Is(context.Canceled) = %v", err, Code(err), errors.Is(err, context.Canceled))
	}
}

// Triton's datatypes include BF16 (raw only). A response carrying a BF16
// output was refused whole as "unknown datatype", so no output of such a
// model could be read; it decodes now, widened exactly to float32/float64.
func TestInferBF16Output(t *testing.T) {
	f := newFake("a")
	f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		return &pb.ModelInferResponse{ModelName: "m",
			Outputs: []*pb.ModelInferResponse_InferOutputTensor{
				{Name: "QUALITY", Datatype: "BF16", Shape: []int64{3}},
				{Name: "N", Datatype: "INT64", Shape: []int64{1}},
			},
			// 1.5 = 0x3fc0, -2 = 0xc000, +Inf = 0x7f80, little-endian.
			RawOutputContents: [][]byte{{0xc0, 0x3f, 0x00, 0xc0, 0x80, 0x7f}, {3, 0, 0, 0, 0, 0, 0, 0}}}, nil
	}
	c := newTestClient(t, startFake(t, f))
	res, err := c.Infer(context.Background(), InferRequest{Model: "m", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := res.Float64Values("QUALITY")
	if err != nil || len(v) != 3 || v[0] != 1.5 || v[1] != -2 || !math.IsInf(v[2], 1) {
		t.Errorf("Float64Values(QUALITY) = %v, %v; want [1.5 -2 +Inf]", v, err)
	}
	b, err := res.BF16s("QUALITY")
	if err != nil || len(b) != 3 || b[0] != 1.5 {
		t.Errorf("BF16s(QUALITY) = %v, %v", b, err)
	}
	// Typed contents have no BF16 field: it must travel raw.
	f.mu.Lock()
	f.infer = func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		return &pb.ModelInferResponse{ModelName: "m", Outputs: []*pb.ModelInferResponse_InferOutputTensor{
			{Name: "QUALITY", Datatype: "BF16", Shape: []int64{1}, Contents: &pb.InferTensorContents{Fp32Contents: []float32{1}}}}}, nil
	}
	f.mu.Unlock()
	_, err = c.Infer(context.Background(), InferRequest{Model: "m", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	if ce := asError(t, err, "ModelInfer", "m", codes.DataLoss); !strings.Contains(ce.Message, "BF16 cannot be sent as typed contents") {
		t.Errorf("typed BF16: %v", err)
	}
}

// With one of two replicas down, Infer (which is not retried) failed every
// other call: round-robin kept handing requests to a connection gRPC already
// knew to be in TRANSIENT_FAILURE, where they fail before being sent. Such a
// connection is now passed over while another replica is usable, which is safe
// for non-idempotent calls because nothing reached any server.
func TestRoundRobinSkipsFailedReplicaForInfer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	f := newFake("b")
	c := newTestClient(t, dead, WithTargets(startFake(t, f)))
	// Let gRPC find out that the first replica is down.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.conns[0].Connect()
	for s := c.conns[0].GetState(); s != connectivity.TransientFailure; s = c.conns[0].GetState() {
		if !c.conns[0].WaitForStateChange(ctx, s) {
			t.Fatalf("dead replica never reached TRANSIENT_FAILURE (state %v)", s)
		}
	}
	for i := range 6 {
		if _, err := c.Infer(ctx, InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}}); err != nil {
			t.Fatalf("Infer %d: %v", i, err)
		}
	}
	if n := f.count("ModelInfer"); n != 6 {
		t.Errorf("live replica served %d of 6 requests", n)
	}
	// With every replica down the call still fails, naming a server.
	c0 := newTestClient(t, dead+","+dead)
	_, err = c0.Infer(context.Background(), InferRequest{Model: "double", Inputs: []*tensor.Tensor{mustFP32(t, "X", []int64{1}, []float32{1})}})
	if ce := asError(t, err, "ModelInfer", "double", codes.Unavailable); ce.Target != dead {
		t.Errorf("Target %q, want %q", ce.Target, dead)
	}
}
