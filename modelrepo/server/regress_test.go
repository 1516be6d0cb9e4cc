package server

import (
	"context"
	"errors"
	"io"
	"log"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

func init() {
	// Answers one QUALITY row whatever it is sent (it may be sent nothing).
	native.Register("servertest.constant", func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		rows := int64(1)
		if len(in) > 0 {
			rows = in[0].Shape[0]
		}
		q, err := tensor.NewFP32("Q", []int64{rows, 1}, make([]float32, rows))
		return []*tensor.Tensor{q}, err
	})
	native.Register("servertest.one", func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) {
		q, err := tensor.NewFP32("Q", []int64{1}, []float32{1})
		return []*tensor.Tensor{q}, err
	})
}

// serveModels serves a repository of the given model directories (name ->
// config, version 1 runs the config's native.function) and returns a stub.
func serveModels(t *testing.T, models map[string]string) pb.GRPCInferenceServiceClient {
	t.Helper()
	_, c := serveServer(t, models)
	return c
}

// A batching model whose inputs are all optional cannot take its batch size
// from a request that sends none: such a request used to run with rows = -1
// (inference_count went down by one; two of them merged crashed the worker
// with a negative slice length).
func TestBatchingRequestWithoutInputsIsInvalid(t *testing.T) {
	c := serveModels(t, map[string]string{"opt": `backend: "native"
max_batch_size: 4
input { name: "X" data_type: TYPE_FP32 dims: [ 2 ] optional: true }
output { name: "Q" data_type: TYPE_FP32 dims: [ 1 ] }
dynamic_batching { max_queue_delay_microseconds: 1000 }
parameters { key: "native.function" value { string_value: "servertest.constant" } }`})
	ctx := ctx(t)
	_, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "opt"})
	wantStatus(t, err, codes.InvalidArgument, "no inputs", "max_batch_size")
	st, err := c.ModelStatistics(ctx, &pb.ModelStatisticsRequest{Name: "opt", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := st.ModelStats[0].InferenceCount; n != 0 {
		t.Errorf("inference_count %d after a refused request, want 0", n)
	}
}

type rowsInstance struct{}

func (rowsInstance) Execute(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	rows := in[0].Shape[0]
	q, err := tensor.NewFP32("Q", []int64{rows, 1}, make([]float32, rows))
	return []*tensor.Tensor{q}, err
}

func (rowsInstance) Close() error { return nil }

// A caller that has its answer must find the execution that produced it in the
// statistics: run used to count the execution only after handing out every
// request's result, so a client reading statistics right after its response
// could see inference_count without the matching execution_count.
func TestExecutionCountedBeforeResultsDelivered(t *testing.T) {
	srv := &Server{log: log.New(io.Discard, "", 0), baseCtx: context.Background()}
	vs := &versionState{name: "m", version: 1, stats: newVersionStats(),
		outputs: []*tensorSpec{{name: "Q", dt: tensor.FP32, dims: []int64{1}}}}
	s := &scheduler{srv: srv, vs: vs, maxBatch: 4}
	mk := func() *request {
		x, err := tensor.NewFP32("X", []int64{1, 2}, []float32{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		// Unbuffered: run cannot finish the batch until each caller takes its result.
		return &request{ctx: context.Background(), inputs: []*tensor.Tensor{x}, outputs: []string{"Q"},
			rows: 1, enqueued: time.Now(), done: make(chan execResult)}
	}
	r1, r2 := mk(), mk()
	go s.run(rowsInstance{}, []*request{r1, r2})
	if res := <-r1.done; res.err != nil {
		t.Fatal(res.err)
	}
	got := vs.stats.proto("m", "1").ExecutionCount
	if res := <-r2.done; res.err != nil {
		t.Fatal(res.err)
	}
	if got != 1 {
		t.Errorf("execution_count %d when the first result was delivered, want 1", got)
	}
}

// A shape whose byte size overflows int64 must not pass validation: [2^62+1]
// FP32 "needs" (2^62+1)*4 = 4 bytes modulo 2^64, so 4 bytes of data used to
// reach the model with a shape claiming 2^62+1 elements.
func TestInputByteSizeOverflowIsInvalid(t *testing.T) {
	c := serveModels(t, map[string]string{"any": `backend: "native"
input { name: "X" data_type: TYPE_FP32 dims: [ -1 ] }
output { name: "Q" data_type: TYPE_FP32 dims: [ 1 ] }
parameters { key: "native.function" value { string_value: "servertest.one" } }`})
	_, err := c.ModelInfer(ctx(t), &pb.ModelInferRequest{ModelName: "any",
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "X", Datatype: "FP32", Shape: []int64{1<<62 + 1}}},
		RawInputContents: [][]byte{fp32Raw(7)}})
	wantStatus(t, err, codes.InvalidArgument, `input "X"`, "overflows")
}

// GracefulStop's deadline bounds the whole stop: once the RPCs were done it
// used to wait for the model workers without looking at ctx, so a model still
// running for a caller that had gone (here: cancelled, and the model does not
// look at its context) hung GracefulStop for ever, deadline or not.
func TestGracefulStopDeadlineBoundsModelDrain(t *testing.T) {
	h := start(t)
	g := newGate(t, 4)
	t.Cleanup(func() { close(g.release) }) // free the model if the stop hangs
	rctx, rcancel := context.WithCancel(ctx(t))
	result := make(chan error, 1)
	go func() {
		_, err := h.c.ModelInfer(rctx, xReq("blocker", []int64{1, 2}, 4, 99))
		result <- err
	}()
	<-g.started
	rcancel()
	if err := <-result; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled request: %v", err)
	}
	h.stopped = true
	sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- h.srv.GracefulStop(sctx) }()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("GracefulStop = %v, want deadline exceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop still running 5 s after its 100 ms deadline")
	}
}

// A reload swaps versions without pausing service, so no request may fail
// because of it: one that resolved the old version just before the swap used
// to find its queue closed and get Unavailable "was unloaded". The window is
// narrow; hundreds of reloads under steady load hit it (a few per thousand).
func TestReloadUnderLoadFailsNoRequest(t *testing.T) {
	h := start(t)
	c := ctx(t)
	var stop atomic.Bool
	var sent atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				sent.Add(1)
				if _, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2)); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for range 1000 {
		if _, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "echo"}); err != nil {
			t.Error(err)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("request during reloads (%d sent): %v", sent.Load(), err)
	}
}

// A backend's own status error keeps its code, and the client learns which
// model said it (a native function does not know the model's name).
func TestBackendStatusErrorNamesModel(t *testing.T) {
	c := serveModels(t, map[string]string{"picky": `backend: "native"
max_batch_size: 0
input { name: "X" data_type: TYPE_FP32 dims: [ 1 ] }
output { name: "Q" data_type: TYPE_FP32 dims: [ 1 ] }
parameters { key: "native.function" value { string_value: "servertest.picky" } }`})
	_, err := c.ModelInfer(ctx(t), &pb.ModelInferRequest{ModelName: "picky",
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "X", Datatype: "FP32", Shape: []int64{1}}},
		RawInputContents: [][]byte{fp32Raw(1)}})
	wantStatus(t, err, codes.InvalidArgument, `model "picky" version 1: servertest.picky: X out of range`)
}

func init() {
	native.Register("servertest.picky", func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return nil, status.Error(codes.InvalidArgument, "servertest.picky: X out of range")
	})
}
