package perf

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// Test models are native functions registered under "perftest.*" and served
// by the embedded server on 127.0.0.1:0.

// sumModel returns Y = the sum of each row of X (FP32 [4]).
func sumModel(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, ok := native.TensorByName(in, "X")
	if !ok {
		return nil, errors.New("no X")
	}
	v, err := x.Float32s()
	if err != nil {
		return nil, err
	}
	rows := len(v) / 4
	sums := make([]float32, rows)
	for r := range sums {
		for c := 0; c < 4; c++ {
			sums[r] += v[4*r+c]
		}
	}
	shape := []int64{1}
	if len(x.Shape) == 2 {
		shape = []int64{int64(rows), 1}
	}
	y, err := tensor.NewFP32("Y", shape, sums)
	return []*tensor.Tensor{y}, err
}

// slowModel is sumModel after slowDelay: a server that cannot keep up.
const slowDelay = 20 * time.Millisecond

// testImages are the IMAGE rows the "contract" model accepts: dataset inputs
// must arrive as they were prepared.
var testImages = [][]byte{bytes.Repeat([]byte{7}, 3*4*4), bytes.Repeat([]byte{9}, 3*4*4)}

var contractCalls atomic.Int64

// contractModel checks that every IMAGE row is one of testImages and every
// TOKENS row starts with the CLIP start token, and returns QUALITY = first
// pixel value.
func contractModel(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	contractCalls.Add(1)
	img, _ := native.TensorByName(in, "IMAGE")
	tok, _ := native.TensorByName(in, "TOKENS")
	rows := int(img.Shape[0])
	row := len(img.Raw) / rows
	q := make([]float32, rows)
	for r := 0; r < rows; r++ {
		got := img.Raw[r*row : (r+1)*row]
		if !bytes.Equal(got, testImages[0]) && !bytes.Equal(got, testImages[1]) {
			return nil, fmt.Errorf("IMAGE row %d is not a test image", r)
		}
		if s := binary.LittleEndian.Uint64(tok.Raw[r*77*8:]); s != tokenStart {
			return nil, fmt.Errorf("TOKENS row %d starts with %d", r, s)
		}
		q[r] = float32(got[0])
	}
	out, err := tensor.NewFP32("QUALITY", []int64{int64(rows), 1}, q)
	return []*tensor.Tensor{out}, err
}

func init() {
	native.Register("perftest.sum", sumModel)
	native.Register("perftest.slow", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		select {
		case <-time.After(slowDelay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return sumModel(ctx, in)
	})
	native.Register("perftest.contract", contractModel)
}

const sumIO = `input { name: "X" data_type: TYPE_FP32 dims: [ 4 ] }
output { name: "Y" data_type: TYPE_FP32 dims: [ 1 ] }
`

// testModels: directory -> {config.pbtxt, model.native}.
var testModels = map[string][2]string{
	"tiny":    {"backend: \"native\"\nmax_batch_size: 8\n" + sumIO + "instance_group { count: 2 }", "perftest.sum"},
	"nobatch": {"backend: \"native\"\n" + sumIO, "perftest.sum"},
	"slow":    {"backend: \"native\"\nmax_batch_size: 8\n" + sumIO + "instance_group { count: 1 }", "perftest.slow"},
	// dynslow: one instance and dynamic batching, so requests queued while it
	// runs are executed together in batches the client never sent.
	"dynslow": {"backend: \"native\"\nmax_batch_size: 8\n" + sumIO + "instance_group { count: 1 }\ndynamic_batching { }", "perftest.slow"},
	"missing": {"backend: \"native\"\nmax_batch_size: 8\n" + sumIO, "perftest.no_such_function"},
	"contract": {`backend: "native"
max_batch_size: 4
input { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 4, 4 ] }
input { name: "TOKENS" data_type: TYPE_INT64 dims: [ 77 ] }
output { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] }`, "perftest.contract"},
}

type testServer struct {
	addr    string
	srv     *server.Server
	stopped atomic.Bool
}

// startServer serves testModels on a fresh loopback port.
func startServer(t testing.TB) *testServer {
	t.Helper()
	dir := t.TempDir()
	for name, m := range testModels {
		for path, content := range map[string]string{
			filepath.Join(dir, name, "config.pbtxt"):         m[0],
			filepath.Join(dir, name, "1", server.NativeFile): m[1],
		} {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	repo, err := modelrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(repo)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	ts := &testServer{addr: lis.Addr().String(), srv: srv}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.stopped.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = ts.srv.GracefulStop(ctx)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// quick is a short sweep configuration for tests.
func quick(addr, model string) Config {
	return Config{
		Targets:   []string{addr},
		Model:     model,
		Window:    100 * time.Millisecond,
		Warmup:    5,
		MaxTrials: 3,
		Stability: 50,
		Logf:      func(string, ...any) {},
	}
}

func approx(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
