package server

import (
	"context"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// Tests of behaviour that must match Triton's for the same requests.

// serveServer serves a repository of the given model directories (name ->
// config, version 1 runs the config's native.function) and returns the
// server, for tests that look at a model's queue, and a stub.
func serveServer(t *testing.T, models map[string]string) (*Server, pb.GRPCInferenceServiceClient) {
	t.Helper()
	dir := t.TempDir()
	for name, cfg := range models {
		writeFile(t, filepath.Join(dir, name, "config.pbtxt"), cfg)
		writeFile(t, filepath.Join(dir, name, "1", NativeFile), "# function from the config\n")
	}
	repo, err := modelrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(repo)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.GracefulStop(ctx)
	})
	return srv, pb.NewGRPCInferenceServiceClient(conn)
}

// waitQueued waits until n requests sit in the queue of model's version 1.
func waitQueued(t *testing.T, srv *Server, model string, n int) {
	t.Helper()
	srv.mu.RLock()
	sched := srv.models[model].versions[0].sched
	srv.mu.RUnlock()
	for len(sched.q) < n {
		time.Sleep(time.Millisecond)
	}
}

func batchSizes(t *testing.T, c pb.GRPCInferenceServiceClient, model string) map[uint64]uint64 {
	t.Helper()
	st, err := c.ModelStatistics(ctx(t), &pb.ModelStatisticsRequest{Name: model, Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]uint64{}
	for _, b := range st.ModelStats[0].BatchStats {
		got[b.BatchSize] = b.ComputeInfer.Count
	}
	return got
}

// Triton's dynamic batcher sends the largest preferred batch it can form from
// what is queued and leaves the rest for the next batch; it never grows a
// batch past the largest preferred size while that size can be formed. The
// batcher here took everything queued: with preferred size 2 and three
// requests waiting it ran one batch of 3.
func TestDynamicBatcherSendsLargestPreferredBatch(t *testing.T) {
	srv, c := serveServer(t, map[string]string{"pref": `backend: "native"
max_batch_size: 8
` + echoIO + `dynamic_batching { preferred_batch_size: [ 2 ] }
instance_group { count: 1 }
parameters { key: "native.function" value { string_value: "servertest.block" } }`})
	cx := ctx(t)
	g := newGate(t, 11)
	errs := make(chan error, 4)
	go func() {
		_, err := c.ModelInfer(cx, xReq("pref", []int64{1, 2}, 11, 0))
		errs <- err
	}()
	<-g.started
	for range 3 {
		go func() {
			_, err := c.ModelInfer(cx, xReq("pref", []int64{1, 2}, 0, 0))
			errs <- err
		}()
	}
	waitQueued(t, srv, "pref", 3)
	close(g.release)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The gated request alone, then the preferred 2, then the one left over.
	got := batchSizes(t, c, "pref")
	if len(got) != 2 || got[1] != 2 || got[2] != 1 {
		t.Errorf("executions by batch size %v, want map[1:2 2:1]", got)
	}
}

// max_queue_delay_microseconds bounds how long a request waits in the queue
// (Triton measures the oldest request's age from its enqueue time). The
// batcher here started the delay when a worker took the request, so a
// request that had already waited the whole delay behind a busy instance
// waited that long again.
func TestQueueDelayCountsFromEnqueue(t *testing.T) {
	srv := &Server{log: log.New(io.Discard, "", 0), baseCtx: context.Background(), opts: options{queueSize: 4}}
	vs := &versionState{name: "m", version: 1, stats: newVersionStats(),
		cfg: &pb.ModelConfig{MaxBatchSize: 4, SchedulingChoice: &pb.ModelConfig_DynamicBatching{
			DynamicBatching: &pb.ModelDynamicBatching{MaxQueueDelayMicroseconds: uint64(time.Hour / time.Microsecond)}}},
		outputs: []*tensorSpec{{name: "Q", dt: tensor.FP32, dims: []int64{1}}}}
	s := newScheduler(srv, vs, []Instance{rowsInstance{}})
	defer s.close(false)
	r := rowsRequest(t)
	r.enqueued = time.Now().Add(-2 * time.Hour) // waited twice the delay already
	if err := s.enqueue(r); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-r.done:
		if res.err != nil {
			t.Fatal(res.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a request queued two hours ago is still held for a one-hour max_queue_delay")
	}
}

// max_queue_size bounds the requests waiting to execute, those the batcher
// holds while it waits for a batch to fill included (in Triton they stay in
// the queue until the batch is sent). The batcher here took them out of the
// bounded queue, so a model with max_queue_size 2 accepted any number of
// requests while a batch was forming.
func TestQueueBoundCountsRequestsHeldForABatch(t *testing.T) {
	_, c := serveServer(t, map[string]string{"held": `backend: "native"
max_batch_size: 8
` + echoIO + `dynamic_batching { max_queue_delay_microseconds: 3600000000 default_queue_policy { max_queue_size: 2 } }
instance_group { count: 1 }
parameters { key: "native.function" value { string_value: "servertest.echo" } }`})
	cx, cancel := context.WithTimeout(ctx(t), 10*time.Second)
	defer cancel()
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.ModelInfer(cx, xReq("held", []int64{1, 2}, 1, 2))
			errs <- err
		}()
	}
	// Two wait for a batch of 8 or the hour's delay; the third is turned away.
	wantStatus(t, <-errs, codes.Unavailable, "queue full")
	cancel()
	<-errs
	<-errs
}

func rowsRequest(t *testing.T) *request {
	t.Helper()
	r := &request{ctx: context.Background(), outputs: []string{"Q"}, rows: 1,
		enqueued: time.Now(), done: make(chan execResult, 1)}
	x, err := tensor.NewFP32("X", []int64{1, 2}, []float32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	r.inputs = append(r.inputs, x)
	return r
}

// Triton's "classification" output parameter turns an output into its top-k
// class labels (BYTES). The embedded server ignored the parameter and sent
// the raw scores, which a client asking for labels would misread.
func TestClassificationOutputRefused(t *testing.T) {
	h := start(t)
	req := xReq("echo", []int64{1, 2}, 1, 2)
	req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "Y",
		Parameters: map[string]*pb.InferParameter{"classification": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 1}}}}}
	_, err := h.c.ModelInfer(ctx(t), req)
	wantStatus(t, err, codes.Unimplemented, `output "Y"`, "classification")
}

// A region whose file shrinks after registration (the client truncated or
// recreated its shm key) faults when read past the new end: SIGBUS, which
// used to kill the whole server. The request must fail alone.
func TestSharedMemoryTruncatedRegionFailsRequestOnly(t *testing.T) {
	r := newSHMRegistry(DefaultSHMRegions, DefaultSHMBytes)
	r.dir = t.TempDir()
	path := filepath.Join(r.dir, "k")
	if err := os.WriteFile(path, make([]byte, 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.register(&pb.SystemSharedMemoryRegisterRequest{Name: "in", Key: "/k", ByteSize: 1 << 16}); err != nil {
		t.Fatal(err)
	}
	defer r.closeAll()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := r.read("X", shmRef{region: "in", offset: 1 << 15, length: 8})
	wantStatus(t, err, codes.InvalidArgument, `input "X"`, `region "in"`, `"/k"`)
}
