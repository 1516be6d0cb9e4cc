package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// The peak-memory measurement of issue 13 (6 concurrent 250 MiB requests). It needs about 5 GB and
// a minute, so it runs only when asked:
//
//	AGIQA_MEMPEAK=1 go test ./modelrepo/server -run TestPeakMemoryLargeRequests -v
//
// The server runs in a child process (this test binary re-executed), so its peak RSS (VmHWM) and
// sampled peak HeapInuse are the server's alone, not the client's.
const (
	envMemPeak      = "AGIQA_MEMPEAK"
	envMemPeakChild = "AGIQA_MEMPEAK_CHILD"
	memPeakBytes    = 250 << 20
	memPeakClients  = 6
)

func init() {
	// Sums a UINT8 [B, N] input per row: touches every byte, answers one number per row.
	native.Register("servertest.bytesum", func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := in[0]
		rows := int(x.Shape[0])
		per := len(x.Raw) / max(rows, 1)
		sums := make([]float32, rows)
		for r := range sums {
			var s uint64
			for _, b := range x.Raw[r*per : (r+1)*per] {
				s += uint64(b)
			}
			sums[r] = float32(s)
		}
		q, err := tensor.NewFP32("SUM", []int64{int64(rows), 1}, sums)
		return []*tensor.Tensor{q}, err
	})
}

// memPeakModels: "merged" lets the dynamic batcher merge all six requests into one batch (the
// worst case: the batch is a concatenated copy); "single" runs each request alone.
var memPeakModels = map[string]string{
	"merged": `backend: "native"
max_batch_size: 8
input { name: "X" data_type: TYPE_UINT8 dims: [ -1 ] }
output { name: "SUM" data_type: TYPE_FP32 dims: [ 1 ] }
dynamic_batching { max_queue_delay_microseconds: 3000000 preferred_batch_size: [ 6 ] }
instance_group { count: 1 }
parameters { key: "native.function" value { string_value: "servertest.bytesum" } }`,
	"single": `backend: "native"
max_batch_size: 8
input { name: "X" data_type: TYPE_UINT8 dims: [ -1 ] }
output { name: "SUM" data_type: TYPE_FP32 dims: [ 1 ] }
instance_group { count: 2 }
parameters { key: "native.function" value { string_value: "servertest.bytesum" } }`,
}

type memPeakReport struct {
	IdleRSS, PeakRSS, PeakHeapInuse uint64
}

func TestPeakMemoryLargeRequests(t *testing.T) {
	if os.Getenv(envMemPeakChild) != "" {
		memPeakChild(t)
		return
	}
	if os.Getenv(envMemPeak) == "" {
		t.Skipf("a measurement, not a check: set %s=1 to run it (needs about 5 GB)", envMemPeak)
	}
	for _, model := range []string{"merged", "single"} {
		t.Run(model, func(t *testing.T) {
			rep := measurePeak(t, model)
			t.Logf("%d concurrent %d MiB requests, model %q: server idle RSS %d MiB, peak RSS %d MiB (%.2fx the payload), peak HeapInuse %d MiB",
				memPeakClients, memPeakBytes>>20, model, rep.IdleRSS>>20, rep.PeakRSS>>20,
				float64(rep.PeakRSS)/float64(memPeakClients*memPeakBytes), rep.PeakHeapInuse>>20)
		})
	}
}

func measurePeak(t *testing.T, model string) memPeakReport {
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakMemoryLargeRequests$")
	cmd.Env = append(os.Environ(), envMemPeakChild+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	next := func(prefix string) string {
		for lines.Scan() {
			if s, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return s
			}
		}
		t.Fatalf("server child ended before printing %q", prefix)
		return ""
	}
	addr := next("ADDR ")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(memPeakBytes+1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewGRPCInferenceServiceClient(conn)
	payload := make([]byte, memPeakBytes)
	for i := range payload {
		payload[i] = byte(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, memPeakClients)
	for i := 0; i < memPeakClients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: model,
				Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "X", Datatype: "UINT8", Shape: []int64{1, memPeakBytes}}},
				RawInputContents: [][]byte{payload}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintln(stdin, "report")
	var rep memPeakReport
	if err := json.Unmarshal([]byte(next("REPORT ")), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// memPeakChild serves memPeakModels on loopback, samples HeapInuse every millisecond, and on
// "report" from stdin prints the peaks.
func memPeakChild(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range memPeakModels {
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
	defer srv.GracefulStop(context.Background())
	var rep memPeakReport
	rep.IdleRSS = procStatusBytes(t, "VmRSS")
	var mu sync.Mutex
	stop := make(chan struct{})
	go func() {
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			metrics.Read(samples)
			inuse := samples[0].Value.Uint64() + samples[1].Value.Uint64()
			mu.Lock()
			rep.PeakHeapInuse = max(rep.PeakHeapInuse, inuse)
			mu.Unlock()
		}
	}()
	fmt.Printf("ADDR %s\n", lis.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() && in.Text() != "report" {
	}
	close(stop)
	mu.Lock()
	defer mu.Unlock()
	rep.PeakRSS = procStatusBytes(t, "VmHWM")
	b, _ := json.Marshal(rep)
	fmt.Printf("REPORT %s\n", b)
}

// procStatusBytes reads a "Name: N kB" line of /proc/self/status.
func procStatusBytes(t *testing.T, name string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/self/status has no %s", name)
	return 0
}
