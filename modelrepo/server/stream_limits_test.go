package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// bigOutRuns counts the requests servertest.bigout has executed.
var bigOutRuns atomic.Int64

const bigOutBytes = 256 << 10

func init() {
	// Answers 256 KiB per request: responses that do not fit a client's 64 KiB flow-control window.
	native.Register("servertest.bigout", func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		bigOutRuns.Add(1)
		return []*tensor.Tensor{{Name: "BIG", DataType: tensor.Uint8, Shape: []int64{bigOutBytes}, Raw: make([]byte, bigOutBytes)}}, nil
	})
}

const bigOutConfig = `backend: "native"
input { name: "X" data_type: TYPE_FP32 dims: [ 2 ] }
output { name: "BIG" data_type: TYPE_UINT8 dims: [ 262144 ] }
instance_group { count: 2 }
parameters { key: "native.function" value { string_value: "servertest.bigout" } }`

// serveWith serves models with opts and dials it with fixed 64 KiB flow-control windows (no
// dynamic window growth), so what a client that never reads can absorb is known.
func serveWith(t *testing.T, models map[string]string, opts ...Option) pb.GRPCInferenceServiceClient {
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
	srv, err := New(repo, opts...)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.GracefulStop(ctx)
	})
	return pb.NewGRPCInferenceServiceClient(conn)
}

// settle waits until n() stops changing for 300 ms (at most 10 s) and returns its value.
func settle(n func() int64) int64 {
	last, since := n(), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if v := n(); v != last {
			last, since = v, time.Now()
		} else if time.Since(since) > 300*time.Millisecond {
			break
		}
	}
	return last
}

// sendAll sends n echo requests on stream without reading, from a goroutine (Send may block
// once flow control pushes back: that is the point).
func sendAll(stream pb.GRPCInferenceService_ModelStreamInferClient, model string, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			r := xReq(model, []int64{2}, 1, 2)
			r.Id = fmt.Sprint(i)
			if err := stream.Send(r); err != nil {
				done <- err
				return
			}
		}
		done <- stream.CloseSend()
	}()
	return done
}

// A stream client that sent requests and never read made the server run every one and keep every
// response (RSS passed 1.9 GB for 3000 requests). Now a stream stops reading at its in-flight
// bound: with 300 requests sent and a bound of 4, 5 run while nothing is read (gRPC's transport
// takes one whole message per stream past the flow-control window before Send blocks); once the
// client reads, all 300 are answered, none lost.
func TestStreamInFlightBoundPerStream(t *testing.T) {
	c := serveWith(t, map[string]string{"big": bigOutConfig}, WithInFlightLimits(4, 100))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := c.ModelStreamInfer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := bigOutRuns.Load()
	sent := sendAll(stream, "big", 300)
	if ran := settle(func() int64 { return bigOutRuns.Load() - start }); ran > 4+1 {
		t.Fatalf("%d of 300 requests ran while the client read nothing; the stream's bound is 4 (+1 in the transport)", ran)
	}
	got := map[string]bool{}
	for len(got) < 300 {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %d responses: %v", len(got), err)
		}
		if m.ErrorMessage != "" {
			t.Fatalf("request %s: %s", m.InferResponse.GetId(), m.ErrorMessage)
		}
		got[m.InferResponse.GetId()] = true
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// The server-wide bound holds over streams: two unread streams of 4 each under a total of 6 run 6,
// plus the one response each stream's transport takes.
func TestStreamInFlightBoundOverall(t *testing.T) {
	c := serveWith(t, map[string]string{"big": bigOutConfig}, WithInFlightLimits(4, 6))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := bigOutRuns.Load()
	var streams []pb.GRPCInferenceService_ModelStreamInferClient
	for i := 0; i < 2; i++ {
		s, err := c.ModelStreamInfer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
		sendAll(s, "big", 50)
	}
	if ran := settle(func() int64 { return bigOutRuns.Load() - start }); ran > 6+2 {
		t.Fatalf("%d of 100 requests ran over two unread streams; the server-wide bound is 6 (+1 per stream in the transport)", ran)
	}
	for i, s := range streams {
		for n := 0; n < 50; n++ {
			if m, err := s.Recv(); err != nil || m.ErrorMessage != "" {
				t.Fatalf("stream %d response %d: %v %v", i, n, m, err)
			}
		}
	}
}

func TestInFlightLimitsValidated(t *testing.T) {
	repo, err := modelrepo.OpenFS(fstest.MapFS{}, "empty")
	if err != nil {
		t.Fatal(err)
	}
	for _, lim := range [][2]int{{0, 10}, {10, 0}, {-1, 5}} {
		if _, err := New(repo, WithInFlightLimits(lim[0], lim[1])); err == nil {
			t.Errorf("WithInFlightLimits(%d, %d) accepted", lim[0], lim[1])
		}
	}
}
