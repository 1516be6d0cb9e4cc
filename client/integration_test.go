package client_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/grpc/codes"

	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// The client against the real embedded server, over loopback TCP.

const tinyFunc = "agiqa_client_test_affine"

// tinyConfig is a native model: X FP32 [4] -> Y = 2X + 1 (FP32 [4]) and
// S = sum(X) (FP32 [1]), batched.
const tinyConfig = `name: "tiny"
backend: "native"
max_batch_size: 8
input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [
  { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "S" data_type: TYPE_FP32 dims: [ 1 ] }
]
instance_group [ { kind: KIND_CPU count: 2 } ]
parameters { key: "native.function" value: { string_value: "` + tinyFunc + `" } }
`

func init() {
	native.Register(tinyFunc, func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := in[0].Float32s()
		if err != nil {
			return nil, err
		}
		rows := in[0].Shape[0]
		y := make([]float32, len(x))
		s := make([]float32, rows)
		for i, v := range x {
			y[i] = 2*v + 1
			s[i/4] += v
		}
		yt, err := tensor.NewFP32("Y", []int64{rows, 4}, y)
		if err != nil {
			return nil, err
		}
		st, err := tensor.NewFP32("S", []int64{rows, 1}, s)
		if err != nil {
			return nil, err
		}
		return []*tensor.Tensor{yt, st}, nil
	})
}

// startServer serves the one-model repository on 127.0.0.1:0.
func startServer(tb testing.TB) string {
	tb.Helper()
	repo, err := modelrepo.OpenFS(fstest.MapFS{
		"tiny/config.pbtxt":   {Data: []byte(tinyConfig)},
		"tiny/1/model.native": {Data: []byte(tinyFunc + "\n")},
	}, "client-test")
	if err != nil {
		tb.Fatal(err)
	}
	if len(repo.Errors) > 0 {
		tb.Fatalf("test repository: %v", repo.Errors)
	}
	srv, err := server.New(repo)
	if err != nil {
		tb.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	tb.Cleanup(func() {
		srv.GracefulStop(context.Background())
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// connect starts the test server and returns a client for it; the client is closed when the test
// ends, before the server stops.
func connect(tb testing.TB) *client.Client {
	tb.Helper()
	c, err := client.New(context.Background(), startServer(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func batchX(tb testing.TB, rows int) (*tensor.Tensor, []float32) {
	tb.Helper()
	x := make([]float32, 4*rows)
	for i := range x {
		x[i] = float32(i) * 0.5
	}
	t, err := tensor.NewFP32("X", []int64{int64(rows), 4}, x)
	if err != nil {
		tb.Fatal(err)
	}
	return t, x
}

func TestIntegrationEmbeddedServer(t *testing.T) {
	c := connect(t)
	ctx := context.Background()

	if live, err := c.Live(ctx); err != nil || !live {
		t.Fatalf("Live = %v, %v", live, err)
	}
	if ready, err := c.Ready(ctx); err != nil || !ready {
		t.Fatalf("Ready = %v, %v", ready, err)
	}
	if ready, err := c.ModelReady(ctx, "tiny", ""); err != nil || !ready {
		t.Fatalf("ModelReady = %v, %v", ready, err)
	}
	md, err := c.ServerMetadata(ctx)
	if err != nil || !strings.Contains(strings.Join(md.Extensions, " "), "system_shared_memory") {
		t.Errorf("ServerMetadata = %v, %v", md, err)
	}
	mm, err := c.ModelMetadata(ctx, "tiny", "")
	if err != nil || len(mm.Inputs) != 1 || mm.Inputs[0].Name != "X" || mm.Inputs[0].Datatype != "FP32" {
		t.Errorf("ModelMetadata = %v, %v", mm, err)
	}
	cfg, err := c.ModelConfig(ctx, "tiny", "")
	if err != nil || cfg.MaxBatchSize != 8 || len(cfg.Output) != 2 {
		t.Errorf("ModelConfig = %v, %v", cfg, err)
	}
	idx, err := c.RepositoryIndex(ctx, true)
	if err != nil || len(idx) != 1 || idx[0].Name != "tiny" || idx[0].State != "READY" {
		t.Errorf("RepositoryIndex = %v, %v", idx, err)
	}

	x, xs := batchX(t, 3)
	res, err := c.Infer(ctx, client.InferRequest{Model: "tiny", ID: "one", Inputs: []*tensor.Tensor{x}})
	if err != nil {
		t.Fatal(err)
	}
	y, err := res.Float32s("Y")
	if err != nil {
		t.Fatal(err)
	}
	for i := range xs {
		if y[i] != 2*xs[i]+1 {
			t.Fatalf("Y[%d] = %g, want %g", i, y[i], 2*xs[i]+1)
		}
	}
	s, err := res.Float32s("S")
	if err != nil || len(s) != 3 || s[1] != xs[4]+xs[5]+xs[6]+xs[7] {
		t.Errorf("S = %v, %v", s, err)
	}
	if res.ID != "one" || res.Model != "tiny" {
		t.Errorf("result header %q %q", res.ID, res.Model)
	}
	// Only the requested output.
	res, err = c.Infer(ctx, client.InferRequest{Model: "tiny", Inputs: []*tensor.Tensor{x}, Outputs: []string{"S"}})
	if err != nil || len(res.Outputs()) != 1 {
		t.Fatalf("Outputs [S]: %v, %v", res, err)
	}
	if _, err := res.Output("Y"); !client.IsNotFound(err) {
		t.Errorf("unrequested output: %v", err)
	}

	// Server-side errors arrive as *client.Error with the server's code.
	_, err = c.Infer(ctx, client.InferRequest{Model: "nope", Inputs: []*tensor.Tensor{x}})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != codes.NotFound || ce.Model != "nope" || ce.Op != "ModelInfer" {
		t.Errorf("unknown model: %v", err)
	}
	bad, _ := tensor.NewFP32("X", []int64{1, 3}, []float32{1, 2, 3})
	_, err = c.Infer(ctx, client.InferRequest{Model: "tiny", Inputs: []*tensor.Tensor{bad}})
	if client.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "X") {
		t.Errorf("wrong shape: %v", err)
	}

	stats, err := c.ModelStatistics(ctx, "tiny", "")
	if err != nil || len(stats) != 1 || stats[0].InferenceStats.GetSuccess().GetCount() < 2 {
		t.Errorf("ModelStatistics = %v, %v", stats, err)
	}

	// Stream: three requests, responses matched by ID.
	st, err := c.StreamInfer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := map[string]float32{}
	for rows := 1; rows <= 3; rows++ {
		xr, xv := batchX(t, rows)
		id, err := st.Send(client.InferRequest{Model: "tiny", Inputs: []*tensor.Tensor{xr}, Outputs: []string{"S"}})
		if err != nil {
			t.Fatal(err)
		}
		want[id] = xv[len(xv)-4] + xv[len(xv)-3] + xv[len(xv)-2] + xv[len(xv)-1]
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s, err := r.Float32s("S")
		if err != nil || s[len(s)-1] != want[r.ID] {
			t.Errorf("stream %s: S = %v, %v; want last %g", r.ID, s, err, want[r.ID])
		}
		delete(want, r.ID)
	}
	if len(want) != 0 {
		t.Errorf("no stream response for %v", want)
	}

	// Unload and reload.
	if err := c.UnloadModel(ctx, "tiny", nil); err != nil {
		t.Fatal(err)
	}
	if ready, _ := c.ModelReady(ctx, "tiny", ""); ready {
		t.Error("tiny ready after unload")
	}
	if err := c.LoadModel(ctx, "tiny", nil); err != nil {
		t.Fatal(err)
	}
	if ready, err := c.ModelReady(ctx, "tiny", ""); err != nil || !ready {
		t.Errorf("after load: ready %v, %v", ready, err)
	}
}

// Inputs read from a POSIX shared-memory object (a file under /dev/shm on Linux).
func TestIntegrationSharedMemory(t *testing.T) {
	testenv.ShmDir(t)
	key := fmt.Sprintf("agiqa_client_test_%d", os.Getpid())
	path := filepath.Join("/dev/shm", key)
	const offset = 64
	xs := []float32{1, 2, 3, 4, -1, -2, -3, -4}
	buf := make([]byte, offset+4*len(xs))
	for i, v := range xs {
		binary.LittleEndian.PutUint32(buf[offset+4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)

	c := connect(t)
	ctx := context.Background()
	if err := c.RegisterSystemSharedMemory(ctx, "in", "/"+key, 0, uint64(len(buf))); err != nil {
		t.Fatal(err)
	}
	regions, err := c.SystemSharedMemoryStatus(ctx, "in")
	if err != nil || regions["in"].GetByteSize() != uint64(len(buf)) {
		t.Errorf("status %v, %v", regions, err)
	}
	res, err := c.Infer(ctx, client.InferRequest{Model: "tiny", SharedMemoryInputs: []client.SharedMemoryInput{
		{Name: "X", DataType: tensor.FP32, Shape: []int64{2, 4}, Region: "in", ByteSize: 32, Offset: offset},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := res.Float32s("S")
	if err != nil || len(s) != 2 || s[0] != 10 || s[1] != -10 {
		t.Errorf("S from shared memory = %v, %v", s, err)
	}
	if err := c.UnregisterSystemSharedMemory(ctx, "in"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Infer(ctx, client.InferRequest{Model: "tiny", SharedMemoryInputs: []client.SharedMemoryInput{
		{Name: "X", DataType: tensor.FP32, Shape: []int64{2, 4}, Region: "in", ByteSize: 32, Offset: offset},
	}})
	if err == nil {
		t.Error("infer from an unregistered region succeeded")
	}
}

// BenchmarkInfer measures round trips through the client and the embedded
// server over loopback with the tiny native model, so it is the protocol and
// scheduling overhead, not model time.
func BenchmarkInfer(b *testing.B) {
	c := connect(b)
	ctx := context.Background()
	for _, batch := range []int{1, 8} {
		x, _ := batchX(b, batch)
		req := client.InferRequest{Model: "tiny", Inputs: []*tensor.Tensor{x}}
		check := func(res *client.InferResult, err error) error {
			if err != nil {
				return err
			}
			s, err := res.Float32s("S")
			if err == nil && len(s) != batch {
				err = fmt.Errorf("S has %d values, want %d", len(s), batch)
			}
			return err
		}
		b.Run(fmt.Sprintf("batch=%d/serial", batch), func(b *testing.B) {
			for b.Loop() {
				if err := check(c.Infer(ctx, req)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(fmt.Sprintf("batch=%d/parallel", batch), func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := check(c.Infer(ctx, req)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
