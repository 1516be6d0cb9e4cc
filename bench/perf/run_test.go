package perf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/agiqa-bench/agiqa/client"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// checkLevelOK asserts a level measured without errors.
func checkLevelOK(t *testing.T, l *Level) {
	t.Helper()
	if l.Status != StatusStable && l.Status != StatusUnstable {
		t.Fatalf("batch %d %s: status %s (%s)", l.Batch, levelName(l), l.Status, l.Error)
	}
	m := l.Total.Client
	if m.Success == 0 || m.ErrorCount() != 0 {
		t.Fatalf("batch %d %s: %d ok, errors %v", l.Batch, levelName(l), m.Success, m.Errors)
	}
	if m.Inferences != m.Success*uint64(l.Batch) {
		t.Errorf("inferences %d, want success %d x batch %d", m.Inferences, m.Success, l.Batch)
	}
	if !(m.Latency.P50US > 0 && m.Latency.P50US <= m.Latency.P90US && m.Latency.P90US <= m.Latency.P99US &&
		m.Latency.P99US <= m.Latency.P999US && m.Latency.P999US <= m.Latency.MaxUS) {
		t.Errorf("latency percentiles out of order: %+v", m.Latency)
	}
	if m.InferencesPerSec <= 0 || !approx(m.RequestsPerSec*float64(l.Batch), m.InferencesPerSec, 1e-9*m.InferencesPerSec) {
		t.Errorf("rates: %v req/s, %v infer/s at batch %d", m.RequestsPerSec, m.InferencesPerSec, l.Batch)
	}
	if n := len(l.Windows); n < StableWindows && l.Status != StatusFailed || n > 3 {
		t.Errorf("%d windows with max trials 3", n)
	}
}

func TestRunConcurrencySweep(t *testing.T) {
	ts := startServer(t)
	cfg := quick(ts.addr, "tiny")
	cfg.Concurrency = []int{1, 3}
	cfg.Batches = []int{1, 4}
	var windows, levels int
	cfg.Progress = func(ev Event) {
		if ev.Window != nil {
			windows++
		} else {
			levels++
		}
	}
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Levels) != 4 || levels != 4 || windows < 4*StableWindows {
		t.Fatalf("%d levels (%d events), %d window events", len(rep.Levels), levels, windows)
	}
	want := [][2]int{{1, 1}, {1, 3}, {4, 1}, {4, 3}}
	for i, l := range rep.Levels {
		if l.Batch != want[i][0] || l.Concurrency != want[i][1] {
			t.Errorf("level %d is batch %d concurrency %d, want %v", i, l.Batch, l.Concurrency, want[i])
		}
		checkLevelOK(t, l)
		s := l.Total.Server
		if s == nil {
			t.Fatal("no server statistics")
		}
		// The server saw the same requests, give or take those finishing
		// between a window cut and the statistics call that follows it.
		slack := uint64(2*l.Concurrency*len(l.Windows)) + l.Total.Client.Success/20
		c := l.Total.Client.Success
		if s.Requests+slack < c || s.Requests > c+slack {
			t.Errorf("batch %d: server counted %d requests, client %d (slack %d)", l.Batch, s.Requests, c, slack)
		}
		// Without dynamic batching the server runs each request as sent.
		if len(s.BatchSizes) != 1 || s.BatchSizes[fmt.Sprint(l.Batch)] == 0 {
			t.Errorf("batch %d: server formed batches %v", l.Batch, s.BatchSizes)
		}
		if s.ComputeInferUS <= 0 || s.Inferences != s.Requests*uint64(l.Batch) {
			t.Errorf("server split %+v", s)
		}
	}
	if rep.MaxBatchSize != 8 || rep.Mode != "concurrency" || rep.Input != "random" {
		t.Errorf("report header %+v", rep)
	}
}

func TestRunCountWindows(t *testing.T) {
	ts := startServer(t)
	cfg := quick(ts.addr, "tiny")
	cfg.WindowRequests = 40
	cfg.Warmup = 60 // more than a window: warm-up leaking into window 1 would show
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Levels[0]
	checkLevelOK(t, l)
	var measured uint64
	for _, w := range l.Windows {
		n := w.Total.Client.Requests
		if n != 40 {
			t.Errorf("window %d has %d requests, want exactly 40", w.Index, n)
		}
		measured += n
	}
	// Warm-up requests were sent (and the one check request), just not measured.
	if rep.TotalRequests < measured+60+1 {
		t.Errorf("%d requests in all, %d measured: the %d warm-up requests were not sent", rep.TotalRequests, measured, cfg.Warmup)
	}
}

func TestRunRateModes(t *testing.T) {
	ts := startServer(t)
	for _, arr := range []Arrival{ArrivalConstant, ArrivalPoisson} {
		t.Run(string(arr), func(t *testing.T) {
			cfg := quick(ts.addr, "tiny")
			cfg.Rates = []float64{200, 400}
			cfg.Arrival = arr
			cfg.Seed = 7
			rep, err := Run(testCtx(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Mode != "rate" || rep.Arrival != string(arr) || len(rep.Levels) != 2 {
				t.Fatalf("report %s %s with %d levels", rep.Mode, rep.Arrival, len(rep.Levels))
			}
			for _, l := range rep.Levels {
				checkLevelOK(t, l)
				// The rate bounds what is sent: over the measured span no
				// more than rate x span (+ a burst of late slots) can finish.
				m := l.Total.Client
				max := l.Rate*m.Duration().Seconds()*1.2 + 20
				if float64(m.Requests) > max {
					t.Errorf("rate %v: %d requests in %v", l.Rate, m.Requests, m.Duration())
				}
			}
		})
	}
}

// An open-loop load above what the server can do must show the queueing in
// latency: measured from the intended send time, latency grows far beyond
// the service time, while a closed loop at concurrency 1 sees about the
// service time.
func TestRunOpenLoopChargesQueueing(t *testing.T) {
	ts := startServer(t)
	cfg := quick(ts.addr, "slow")
	cfg.Rates = []float64{200} // the model serves at most 1/slowDelay = 50/s
	cfg.Window = 200 * time.Millisecond
	cfg.Warmup = 0
	cfg.OnError = OnErrorContinue
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Levels[0].Total.Client
	if m.Success == 0 {
		t.Fatal("no request finished")
	}
	// After 0.2 s at 4x capacity the backlog is ~30 requests: 600 ms of wait.
	if m.Latency.MaxUS < 5*us(slowDelay) {
		t.Errorf("open loop above capacity: max latency %.1f ms, want well above the %v service time", m.Latency.MaxUS/1e3, slowDelay)
	}
	if m.Latency.MeanUS < m.Client.WaitUS {
		t.Errorf("latency %.0f us below the wait %.0f us", m.Latency.MeanUS, m.Client.WaitUS)
	}
}

// Coordinated omission: a single sender (--max-inflight 1) asks 100
// requests/s of a server that serves 50/s, so each request leaves later than
// its slot. Latency from the intended send time grows window after window
// with the backlog (request k waits about 10k ms more), while the round trip
// stays at the service time; latency from the actual send would hide it.
// The level is then reported unstable, not stable.
func TestRunOpenLoopLatencyFromIntendedTime(t *testing.T) {
	ts := startServer(t)
	cfg := quick(ts.addr, "slow")
	cfg.Rates = []float64{100}
	cfg.MaxInflight = 1
	cfg.Warmup = 0
	cfg.Window = 150 * time.Millisecond
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Levels[0]
	if l.Status != StatusUnstable || len(l.Windows) != cfg.MaxTrials {
		t.Errorf("status %s after %d windows, want unstable after %d (latency keeps growing)", l.Status, len(l.Windows), cfg.MaxTrials)
	}
	prev := 0.0
	for _, w := range l.Windows {
		m := w.Total.Client
		if m.Success == 0 || m.ErrorCount() > 0 {
			t.Fatalf("window %d: %d ok, errors %v", w.Index, m.Success, m.Errors)
		}
		if m.Latency.MeanUS < 1.3*prev {
			t.Errorf("window %d: mean latency %.1f ms, previous %.1f ms: the backlog must show", w.Index, m.Latency.MeanUS/1e3, prev/1e3)
		}
		prev = m.Latency.MeanUS
	}
	m := l.Total.Client
	if m.Latency.MeanUS < 3*m.Client.WaitUS || m.Latency.MaxUS < 5*us(slowDelay) {
		t.Errorf("mean latency %.1f ms, max %.1f ms, round trip %.1f ms: queueing before the send is not charged",
			m.Latency.MeanUS/1e3, m.Latency.MaxUS/1e3, m.Client.WaitUS/1e3)
	}
	if m.Delayed < m.Requests/2 || m.Client.LagUS < m.Client.WaitUS {
		t.Errorf("%d of %d requests delayed, mean lag %.1f ms", m.Delayed, m.Requests, m.Client.LagUS/1e3)
	}
}

// The server split reports the batches the server formed: with dynamic
// batching, batch-1 requests queued behind a running execution are run
// together, and ModelStatistics' batch_stats show sizes above 1.
func TestRunServerFormedBatches(t *testing.T) {
	ts := startServer(t)
	cfg := quick(ts.addr, "dynslow")
	cfg.Concurrency = []int{4}
	cfg.Window = 150 * time.Millisecond
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Levels[0]
	checkLevelOK(t, l)
	s := l.Total.Server
	if s == nil {
		t.Fatal("no server statistics")
	}
	larger := false
	for size, n := range s.BatchSizes {
		if size != "1" && n > 0 {
			larger = true
		}
	}
	if !larger || s.Executions >= s.Requests || s.Inferences != s.Requests {
		t.Errorf("server formed %v (%d executions for %d requests, %d inferences), want batches above the client's 1",
			s.BatchSizes, s.Executions, s.Requests, s.Inferences)
	}
	if s.QueueUS <= 0 {
		t.Errorf("queue time %v us: requests waited behind a running execution", s.QueueUS)
	}
}

func TestRunSharedMemory(t *testing.T) {
	testenv.ShmDir(t)
	ts := startServer(t)
	cfg := quick(ts.addr, "tiny")
	cfg.SharedMemory = SharedMemorySystem
	cfg.Batches = []int{1, 8}
	cfg.Concurrency = []int{2}
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rep.Levels {
		checkLevelOK(t, l)
	}
	// Regions are unregistered and deleted afterwards.
	left, _ := filepath.Glob(filepath.Join(shmDir, fmt.Sprintf("agiqa_perf_%d_*", os.Getpid())))
	if len(left) > 0 {
		t.Errorf("shared memory left behind: %v", left)
	}
	c, err := client.New(testCtx(t), ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	regions, err := c.SystemSharedMemoryStatus(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(regions) != 0 {
		t.Errorf("regions still registered: %v", regions)
	}

	// Dataset inputs through shared memory: the contract model checks every
	// IMAGE row and TOKENS row, so a wrong offset or size in the region fails.
	tokens := make([]int64, 77)
	tokens[0], tokens[1], tokens[2] = tokenStart, 320, tokenEnd
	cfg = quick(ts.addr, "contract")
	cfg.SharedMemory = SharedMemorySystem
	cfg.Samples = []Sample{{Name: "a.png", Image: testImages[0], Tokens: tokens}, {Name: "b.png", Image: testImages[1], Tokens: tokens}}
	cfg.Batches = []int{1, 3}
	before := contractCalls.Load()
	rep, err = Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Input != "dataset" || rep.SharedMemory != "system" {
		t.Errorf("input %s via %s", rep.Input, rep.SharedMemory)
	}
	for _, l := range rep.Levels {
		checkLevelOK(t, l)
	}
	if contractCalls.Load() == before {
		t.Error("the model never ran")
	}
}

func TestRunDatasetInputs(t *testing.T) {
	ts := startServer(t)
	tokens := make([]int64, 77)
	tokens[0], tokens[1], tokens[2] = tokenStart, 320, tokenEnd
	samples := []Sample{{Name: "a.png", Image: testImages[0], Tokens: tokens}, {Name: "b.png", Image: testImages[1], Tokens: tokens}}
	cfg := quick(ts.addr, "contract")
	cfg.Samples = samples
	cfg.Batches = []int{1, 3}
	before := contractCalls.Load()
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Input != "dataset" {
		t.Errorf("input %q, want dataset by default when samples are given", rep.Input)
	}
	for _, l := range rep.Levels {
		checkLevelOK(t, l)
	}
	if contractCalls.Load() == before {
		t.Error("the model never ran")
	}

	// A dataset image of the wrong size is refused before load, naming it.
	cfg.Samples = []Sample{{Name: "big.png", Image: make([]byte, 3*8*8), Tokens: tokens}}
	_, err = Run(testCtx(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "big.png") || !strings.Contains(err.Error(), "IMAGE") {
		t.Errorf("wrong-size image: err = %v", err)
	}
	// Random inputs for a contract model are well-formed token sequences.
	cfg.Samples, cfg.Input = nil, InputRandom
	if _, err := Run(testCtx(t), cfg); err == nil || !strings.Contains(err.Error(), "not a test image") {
		t.Errorf("random images should be refused by the test model: %v", err)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	ts := startServer(t)
	cases := []struct {
		name string
		mod  func(*Config)
		want []string
		// field is the Config field a *FieldError must name ("" = not a field's fault).
		field string
	}{
		{"not ready", func(c *Config) { c.Model = "missing" }, []string{`model "missing"`, "not ready", "no_such_function", "no load was sent"}, ""},
		{"unknown model", func(c *Config) { c.Model = "nope" }, []string{`model "nope"`, "not in the server's repository", "tiny"}, ""},
		{"batch above max", func(c *Config) { c.Batches = []int{1, 16} }, []string{"Config.Batches 16", "max_batch_size 8"}, "Batches"},
		{"batch without batching", func(c *Config) { c.Model = "nobatch"; c.Batches = []int{2} }, []string{"Config.Batches 2", "does not batch"}, "Batches"},
		{"rate 0", func(c *Config) { c.Rates = []float64{0} }, []string{"Config.Rates 0"}, "Rates"},
		{"both modes", func(c *Config) { c.Rates = []float64{1}; c.Concurrency = []int{1} }, []string{"Config.Rates: Concurrency is set too"}, "Rates"},
		{"concurrency 0", func(c *Config) { c.Concurrency = []int{0} }, []string{"Config.Concurrency 0"}, "Concurrency"},
		{"trials", func(c *Config) { c.MaxTrials = 2 }, []string{"Config.MaxTrials 2"}, "MaxTrials"},
		{"stability", func(c *Config) { c.Stability = 150 }, []string{"Config.Stability 150"}, "Stability"},
		{"dataset without samples", func(c *Config) { c.Input = InputDataset }, []string{`Config.Input "dataset": no Samples given`}, "Input"},
		{"shape of unknown input", func(c *Config) { c.Shapes = map[string][]int64{"Z": {1}} }, []string{"Config.Shapes Z", "no such input"}, "Shapes"},
		{"metrics urls", func(c *Config) { c.MetricsURLs = []string{"http://a/metrics", "http://b/metrics"} }, []string{"Config.MetricsURLs"}, "MetricsURLs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quick(ts.addr, "tiny")
			tc.mod(&cfg)
			rep, err := Run(testCtx(t), cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if rep != nil {
				t.Errorf("a report came back for a refused run")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// A library names its fields, never a program's flags.
			if strings.Contains(err.Error(), "--") {
				t.Errorf("error %q names a flag", err)
			}
			var fe *FieldError
			if got := errors.As(err, &fe); got != (tc.field != "") || got && fe.Field != tc.field {
				t.Errorf("error %q: FieldError %v (%+v), want field %q", err, got, fe, tc.field)
			}
		})
	}
	// Nothing reached the not-ready model's queue, and the refusals sent
	// no load to the tiny model either.
	c, err := client.New(testCtx(t), ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.ModelStatistics(testCtx(t), "tiny", "")
	if err != nil {
		t.Fatal(err)
	}
	if n := st[0].GetInferenceCount(); n != 0 {
		t.Errorf("refused runs sent %d inferences", n)
	}
}

// The server is stopped after the first level: the next window fails with
// the gRPC code counted, and the sweep stops or goes on per OnError, keeping
// the figures gathered.
func TestRunServerStoppedMidSweep(t *testing.T) {
	for _, onErr := range []OnError{OnErrorStop, OnErrorContinue} {
		t.Run(string(onErr), func(t *testing.T) {
			ts := startServer(t)
			cfg := quick(ts.addr, "tiny")
			cfg.Concurrency = []int{1, 2, 4}
			cfg.OnError = onErr
			cfg.Progress = func(ev Event) {
				if ev.Window == nil && ev.Level.Concurrency == 1 {
					ts.stop()
				}
			}
			rep, err := Run(testCtx(t), cfg)
			if !errors.Is(err, ErrLevelsFailed) {
				t.Fatalf("err = %v, want ErrLevelsFailed", err)
			}
			if rep == nil {
				t.Fatal("no report: the figures gathered so far are lost")
			}
			want := 2
			if onErr == OnErrorContinue {
				want = 3
			}
			if len(rep.Levels) != want {
				t.Fatalf("%d levels, want %d", len(rep.Levels), want)
			}
			checkLevelOK(t, rep.Levels[0])
			for _, l := range rep.Levels[1:] {
				if l.Status != StatusFailed || l.Error == "" {
					t.Errorf("%s: status %s, error %q", levelName(l), l.Status, l.Error)
				}
				if len(l.Windows) != 1 || !l.Windows[0].Failed {
					t.Errorf("%s: windows %d, want 1 failed", levelName(l), len(l.Windows))
				}
				if l.Total.Client.Errors["Unavailable"] == 0 {
					t.Errorf("%s: errors by code %v, want Unavailable", levelName(l), l.Total.Client.Errors)
				}
			}
			var csv strings.Builder
			if err := WriteCSV(&csv, rep); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(csv.String(), ",failed,") || !strings.Contains(csv.String(), "Unavailable:") {
				t.Errorf("CSV lacks the failed level:\n%s", csv.String())
			}
		})
	}
}

func TestRunSeveralTargets(t *testing.T) {
	a, b := startServer(t), startServer(t)
	cfg := quick(a.addr, "tiny")
	cfg.Targets = []string{a.addr, b.addr}
	cfg.Concurrency = []int{2}
	cfg.Connections = 2
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Levels[0]
	checkLevelOK(t, l)
	if len(l.PerTarget) != 2 {
		t.Fatalf("%d per-target figures", len(l.PerTarget))
	}
	var sum, inf uint64
	for i, f := range l.PerTarget {
		if f.Target != cfg.Targets[i] || f.Client.Success == 0 || f.Server == nil || f.Server.Requests == 0 {
			t.Errorf("target %d: %s with %d ok, server %+v", i, f.Target, f.Client.Success, f.Server)
		}
		sum += f.Client.Success
		inf += f.Server.Requests
	}
	if sum != l.Total.Client.Success || inf != l.Total.Server.Requests {
		t.Errorf("total %d ok / %d server, targets sum to %d / %d", l.Total.Client.Success, l.Total.Server.Requests, sum, inf)
	}
	if !approx(l.Total.Client.RequestsPerSec, l.PerTarget[0].Client.RequestsPerSec+l.PerTarget[1].Client.RequestsPerSec, 1e-6*l.Total.Client.RequestsPerSec) {
		t.Errorf("total %v req/s is not the sum of the targets'", l.Total.Client.RequestsPerSec)
	}
}

const tritonMetrics = `# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid="GPU-a"} 0.5
nv_gpu_utilization{gpu_uuid="GPU-b"} 0.25
# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes
# TYPE nv_gpu_memory_used_bytes gauge
nv_gpu_memory_used_bytes{gpu_uuid="GPU-a"} 1048576
nv_gpu_memory_used_bytes{gpu_uuid="GPU-b"} 2097152
# HELP nv_gpu_power_usage GPU power usage in watts
# TYPE nv_gpu_power_usage gauge
nv_gpu_power_usage{gpu_uuid="GPU-a"} 100
nv_gpu_power_usage{gpu_uuid="GPU-b"} 50
`

func TestRunTelemetry(t *testing.T) {
	ts := startServer(t)
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, tritonMetrics)
	}))
	defer metrics.Close()
	cfg := quick(ts.addr, "tiny")
	cfg.MetricsURLs = []string{metrics.URL + "/metrics"}
	cfg.ScrapeInterval = 20 * time.Millisecond
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := rep.Levels[0].Total.GPU
	if g == nil || len(g.GPUs) != 2 {
		t.Fatalf("GPU figures %+v", g)
	}
	if float64(g.UtilizationPct) != 37.5 || float64(g.PowerMeanW) != 150 || float64(g.MemoryUsedMaxBytes) != 3<<20 {
		t.Errorf("GPU totals: util %v%%, power %v W, memory %v", g.UtilizationPct, g.PowerMeanW, g.MemoryUsedMaxBytes)
	}

	// An endpoint that is not there is said once and the run goes on.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/metrics"
	dead.Close()
	var logged []string
	cfg.MetricsURLs = []string{deadURL}
	cfg.Concurrency = []int{1, 2}
	cfg.Logf = func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }
	rep, err = Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) != 1 || len(logged) != 1 || !strings.Contains(rep.Notes[0], "GPU telemetry unavailable") {
		t.Errorf("notes %q, logged %q: want one telemetry warning", rep.Notes, logged)
	}
	for _, l := range rep.Levels {
		checkLevelOK(t, l)
		if l.Total.GPU != nil {
			t.Error("GPU figures without an endpoint")
		}
	}
}

func TestRunInterrupted(t *testing.T) {
	ts := startServer(t)
	cfg := quick(ts.addr, "tiny")
	cfg.Concurrency = []int{1, 2}
	ctx, cancel := context.WithCancel(testCtx(t))
	cfg.Progress = func(ev Event) {
		if ev.Window != nil && ev.Window.Index == 1 {
			cancel()
		}
	}
	rep, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) || rep == nil || len(rep.Levels) != 1 {
		t.Fatalf("err %v, report %v", err, rep)
	}
}

// restartStats is a client interceptor that makes ModelStatistics look as
// Triton's does after the model is reloaded: from call number at on, every
// counter restarts from zero (the real counters minus those at that call).
func restartStats(at int) grpc.DialOption {
	var mu sync.Mutex
	calls := 0
	var base *pb.ModelStatistics
	sub := func(d, b *pb.StatisticDuration) {
		d.Count -= b.GetCount()
		d.Ns -= b.GetNs()
	}
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		resp, ok := reply.(*pb.ModelStatisticsResponse)
		if err != nil || !ok || len(resp.ModelStats) != 1 {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		m := resp.ModelStats[0]
		if calls == at {
			base = proto.Clone(m).(*pb.ModelStatistics)
		}
		if base == nil {
			return nil
		}
		m.InferenceCount -= base.InferenceCount
		m.ExecutionCount -= base.ExecutionCount
		is, bs := m.InferenceStats, base.InferenceStats
		sub(is.Success, bs.Success)
		sub(is.Fail, bs.Fail)
		sub(is.Queue, bs.Queue)
		sub(is.ComputeInput, bs.ComputeInput)
		sub(is.ComputeInfer, bs.ComputeInfer)
		sub(is.ComputeOutput, bs.ComputeOutput)
		for _, b := range m.BatchStats {
			for _, o := range base.BatchStats {
				if o.BatchSize == b.BatchSize {
					sub(b.ComputeInput, o.ComputeInput)
					sub(b.ComputeInfer, o.ComputeInfer)
					sub(b.ComputeOutput, o.ComputeOutput)
				}
			}
		}
		return nil
	})
}

// A model reloaded mid-level restarts its statistics: that window's server
// split is unknown (said in a note), but every request succeeded, so the
// level is measured, not failed (which, with --on-error stop, would end the
// sweep).
func TestRunStatisticsRestartMidLevel(t *testing.T) {
	ts := startServer(t)
	cfg := quick(ts.addr, "tiny")
	cfg.MaxTrials = 4
	// Call 1 opens window 1, call 2 closes it, call 3 closes window 2.
	cfg.DialOptions = []grpc.DialOption{restartStats(3)}
	rep, err := Run(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	l := rep.Levels[0]
	if l.Status == StatusFailed {
		t.Fatalf("level failed: %s", l.Error)
	}
	if len(l.Windows) < 3 {
		t.Fatalf("%d windows", len(l.Windows))
	}
	for i, w := range l.Windows {
		if w.Failed || w.Error != "" {
			t.Errorf("window %d failed: %s", w.Index, w.Error)
		}
		if got := w.Total.Server != nil; got != (i != 1) {
			t.Errorf("window %d: server split present = %v", w.Index, got)
		}
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), ts.addr) || !strings.Contains(strings.Join(rep.Notes, "\n"), "window 2") {
		t.Errorf("notes %q do not say which target and window lost the server split", rep.Notes)
	}
}

// A response the client's check refuses is counted as Internal; the level's
// error must say what was wrong with it, since the server reported no error.
func TestRunBadResponseNamed(t *testing.T) {
	ts := startServer(t)
	cfg := quick(ts.addr, "tiny")
	cfg.DialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if w, ok := reply.(*wireResponse); ok && err == nil {
			w.b = w.b[:0] // the load's responses lose their outputs
		}
		return err
	})}
	rep, err := Run(testCtx(t), cfg)
	if !errors.Is(err, ErrLevelsFailed) || rep == nil {
		t.Fatalf("Run: %v", err)
	}
	l := rep.Levels[0]
	if l.Total.Client.Errors["Internal"] == 0 || !strings.Contains(l.Error, "response has 0 outputs, want 1") {
		t.Errorf("errors %v, level error %q: want Internal and the check's reason", l.Total.Client.Errors, l.Error)
	}
}
