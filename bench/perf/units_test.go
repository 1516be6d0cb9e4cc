package perf

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// Metrics' latency summary against the reference (testdata/gen_percentiles.py:
// exact nearest rank, cross-checked with numpy).
func TestMetricsAgainstNumpy(t *testing.T) {
	raw, err := os.ReadFile("testdata/percentiles.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]struct {
		Latencies   []int64            `json:"latencies_ns"`
		Mean        float64            `json:"mean_us"`
		Max         float64            `json:"max_us"`
		Percentiles map[string]float64 `json:"percentiles_us"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for name, c := range cases {
		m := NewMetrics(2*time.Second, 0)
		for _, ns := range c.Latencies {
			m.Add(&Result{Latency: time.Duration(ns), Batch: 2, Code: codes.OK})
		}
		m.Add(&Result{Code: codes.Unavailable, Latency: time.Hour}) // errors stay out of latency
		m.Close()
		got := map[string]float64{"50": m.Latency.P50US, "90": m.Latency.P90US, "95": m.Latency.P95US, "99": m.Latency.P99US, "99.9": m.Latency.P999US}
		for p, want := range c.Percentiles {
			if got[p] != want { // both are integer nanoseconds / 1000: exact
				t.Errorf("%s: p%s = %v us, numpy %v", name, p, got[p], want)
			}
		}
		if !approx(m.Latency.MeanUS, c.Mean, 1e-9*c.Mean) || m.Latency.MaxUS != c.Max {
			t.Errorf("%s: mean %v max %v, numpy %v %v", name, m.Latency.MeanUS, m.Latency.MaxUS, c.Mean, c.Max)
		}
		n := uint64(len(c.Latencies))
		if m.Requests != n+1 || m.Success != n || m.Inferences != 2*n || m.Errors["Unavailable"] != 1 {
			t.Errorf("%s: counts %d/%d/%d errors %v", name, m.Requests, m.Success, m.Inferences, m.Errors)
		}
		if !approx(m.RequestsPerSec, float64(n)/2, 1e-9) || !approx(m.InferencesPerSec, float64(n), 1e-9) {
			t.Errorf("%s: %v req/s %v infer/s over 2 s", name, m.RequestsPerSec, m.InferencesPerSec)
		}
	}
}

func TestMetricsMergeAndSplit(t *testing.T) {
	a, b := NewMetrics(time.Second, 0), NewMetrics(time.Second, 0)
	for i := 1; i <= 4; i++ {
		a.Add(&Result{Latency: time.Duration(i) * time.Millisecond, Prepare: time.Microsecond, Wait: 3 * time.Microsecond,
			Handle: 2 * time.Microsecond, Lag: 2 * time.Millisecond, Batch: 1})
	}
	b.Add(&Result{Latency: 10 * time.Millisecond, Prepare: 5 * time.Microsecond, Wait: 7 * time.Microsecond, Batch: 1})
	b.Add(&Result{Code: codes.DeadlineExceeded})
	a.Merge(b)
	a.Close()
	if a.Duration() != 2*time.Second || a.Success != 5 || a.ErrorCount() != 1 || a.Delayed != 4 {
		t.Fatalf("merged: %v, %d ok, %d errors, %d delayed", a.Duration(), a.Success, a.ErrorCount(), a.Delayed)
	}
	if a.Latency.MeanUS != 4000 || a.Latency.MaxUS != 10000 || a.Latency.P50US != 3000 {
		t.Errorf("latency %+v", a.Latency)
	}
	want := ClientSplit{PrepareUS: 9.0 / 5, WaitUS: 19.0 / 5, HandleUS: 8.0 / 5, LagUS: 8000.0 / 5}
	got := a.Client
	if !approx(got.PrepareUS, want.PrepareUS, 1e-9) || !approx(got.WaitUS, want.WaitUS, 1e-9) ||
		!approx(got.HandleUS, want.HandleUS, 1e-9) || !approx(got.LagUS, want.LagUS, 1e-9) {
		t.Errorf("client split %+v, want %+v", got, want)
	}
	if p := a.Percentile(80); p != 4000 {
		t.Errorf("p80 = %v", p)
	}
	empty := NewMetrics(time.Second, 0)
	empty.Close()
	if !math.IsNaN(empty.Percentile(50)) || empty.Latency.MeanUS != 0 {
		t.Errorf("empty metrics: %v", empty.Latency)
	}
	// The JSON is plain numbers (no NaN anywhere).
	if _, err := json.Marshal(empty); err != nil {
		t.Error(err)
	}
}

func TestStability(t *testing.T) {
	win := func(thr, lat float64, failed bool) *Window {
		m := NewMetrics(time.Second, 0)
		m.Success, m.InferencesPerSec = 1, thr
		m.Latency.MeanUS = lat
		return &Window{Total: &Figures{Client: m}, Failed: failed}
	}
	ws := func(v ...float64) []*Window {
		var out []*Window
		for i := 0; i < len(v); i += 2 {
			out = append(out, win(v[i], v[i+1], false))
		}
		return out
	}
	cases := []struct {
		ws   []*Window
		want bool
	}{
		{ws(100, 10, 100, 10, 100, 10), true},
		// perf_analyzer's rule (cli.md, --stability-percentage): max/min of
		// the last 3 windows within 1 + pct/100, on throughput and latency.
		{ws(100, 10, 105, 10, 109.9, 10), true},   // 109.9/100 < 1.10
		{ws(95, 10, 100, 10, 105, 10), false},     // within 5% of the mean, but 105/95 = 1.105
		{ws(91, 10, 100, 10, 101, 10), false},     // 101/91 = 1.11
		{ws(100, 10, 100, 10, 100, 10.9), true},   // latency 10.9/10 < 1.10
		{ws(100, 10, 100, 10.5, 100, 9.5), false}, // latency 10.5/9.5 = 1.105
		{ws(85, 10, 100, 10, 115, 10), false},
		{ws(100, 10, 100, 10, 100, 12.5), false},
		{[]*Window{win(100, 10, false), win(100, 10, true), win(100, 10, false)}, false},
	}
	for i, c := range cases {
		if got := stable(c.ws, 10, 0); got != c.want {
			t.Errorf("case %d: stable = %v", i, got)
		}
	}
	noSuccess := ws(100, 10, 100, 10, 100, 10)
	noSuccess[1].Total.Client.Success = 0
	if stable(noSuccess, 10, 0) {
		t.Error("a window without a successful request counted as stable")
	}
}

func TestServerStatsDelta(t *testing.T) {
	mk := func(inf, exec, ok, okNS, queueNS, inNS, inferNS, outNS uint64, batches map[uint64]uint64) []*pb.ModelStatistics {
		d := func(c, ns uint64) *pb.StatisticDuration { return &pb.StatisticDuration{Count: c, Ns: ns} }
		ms := &pb.ModelStatistics{InferenceCount: inf, ExecutionCount: exec, InferenceStats: &pb.InferStatistics{
			Success: d(ok, okNS), Fail: d(1, 5), Queue: d(ok, queueNS), ComputeInput: d(ok, inNS),
			ComputeInfer: d(ok, inferNS), ComputeOutput: d(ok, outNS)}}
		for size, n := range batches {
			ms.BatchStats = append(ms.BatchStats, &pb.InferBatchStatistics{BatchSize: size, ComputeInfer: d(n, n*1000)})
		}
		return []*pb.ModelStatistics{ms}
	}
	start := snapshotOf(mk(100, 50, 60, 6e6, 1e6, 2e5, 3e6, 1e5, map[uint64]uint64{1: 20, 4: 30}))
	end := snapshotOf(mk(180, 70, 100, 10e6, 1.8e6, 3e5, 5e6, 1.4e5, map[uint64]uint64{1: 20, 4: 40, 8: 10}))
	st, err := delta(start, end)
	if err != nil {
		t.Fatal(err)
	}
	want := &ServerStats{Requests: 40, Inferences: 80, Executions: 20, QueueUS: 20, ComputeInputUS: 2.5,
		ComputeInferUS: 50, ComputeOutputUS: 1, RequestUS: 100, BatchSizes: map[string]uint64{"4": 10, "8": 10}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("delta = %+v\nwant    %+v", st, want)
	}
	if s := st.BatchSizesString(); s != "4:10;8:10" {
		t.Errorf("batch sizes %q", s)
	}
	if _, err := delta(end, start); err == nil {
		t.Error("counters going backwards were accepted")
	}
	// Merging weighs means by requests.
	other := &ServerStats{Requests: 10, QueueUS: 70, BatchSizes: map[string]uint64{"8": 1}}
	st.merge(other)
	if st.Requests != 50 || st.QueueUS != 30 || st.BatchSizes["8"] != 11 {
		t.Errorf("merged %+v", st)
	}
}

func TestCheckResponse(t *testing.T) {
	resp := &pb.ModelInferResponse{
		ModelName: "m", Id: "x",
		Outputs: []*pb.ModelInferResponse_InferOutputTensor{
			{Name: "Y", Datatype: "FP32", Shape: []int64{2, 1}}, {Name: "Z", Datatype: "FP32", Shape: []int64{2, 1}}},
		RawOutputContents: [][]byte{make([]byte, 8), make([]byte, 8)},
	}
	b, _ := proto.Marshal(resp)
	if err := checkResponse(b, 2, 16); err != nil {
		t.Errorf("good response: %v", err)
	}
	if err := checkResponse(b, 2, -1); err != nil {
		t.Errorf("good response, size unknown: %v", err)
	}
	for _, c := range []struct {
		outs  int
		bytes int64
		want  string
	}{{1, 16, "2 outputs, want 1"}, {2, 32, "16 output bytes, want 32"}} {
		if err := checkResponse(b, c.outs, c.bytes); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkResponse(%d, %d) = %v, want %q", c.outs, c.bytes, err, c.want)
		}
	}
	resp.RawOutputContents = resp.RawOutputContents[:1]
	b, _ = proto.Marshal(resp)
	if err := checkResponse(b, 2, 16); err == nil || !strings.Contains(err.Error(), "1 raw_output_contents") {
		t.Errorf("mismatched raw count: %v", err)
	}
	if err := checkResponse([]byte{0x2a, 0xff}, 0, -1); err == nil {
		t.Error("truncated message accepted")
	}
}

func TestRawCodec(t *testing.T) {
	req := &pb.ModelInferRequest{ModelName: "m", RawInputContents: [][]byte{{1, 2, 3}}}
	w, err := encode(req)
	if err != nil {
		t.Fatal(err)
	}
	out, err := rawCodec{}.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.ModelInferRequest
	if err := proto.Unmarshal(out.Materialize(), &back); err != nil || !proto.Equal(&back, req) {
		t.Errorf("round trip: %v %v", &back, err)
	}
	var resp wireResponse
	for _, in := range [][]byte{{9, 9, 9, 9}, {7}} {
		if err := (rawCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(in)}, &resp); err != nil || string(resp.b) != string(in) {
			t.Errorf("unmarshal %v -> %v %v", in, resp.b, err)
		}
	}
	if _, err := (rawCodec{}).Marshal(req); err == nil {
		t.Error("a plain message was accepted by the raw codec")
	}
}

func TestPayloads(t *testing.T) {
	mi := &modelInfo{name: "m", maxBatch: 8, inputs: []tensorSpec{
		{name: "IMAGE", dtype: tensor.Uint8, dims: []int64{3, 2, 2}},
		{name: "TOKENS", dtype: tensor.Int64, dims: []int64{77}},
		{name: "F", dtype: tensor.FP32, dims: []int64{5}},
		{name: "S", dtype: tensor.Bytes, dims: []int64{2}},
	}}
	for i := range mi.inputs {
		mi.inputs[i].rowBytes = rowBytes(mi.inputs[i].dtype, mi.inputs[i].dims)
	}
	pl, err := mi.makePayloads(InputRandom, nil, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(pl) != 16 {
		t.Errorf("%d random variants", len(pl))
	}
	for _, v := range pl {
		if len(v[0]) != 3*12 || len(v[1]) != 3*77*8 || len(v[2]) != 3*5*4 || len(v[3]) != 3*2*(4+bytesElement) {
			t.Fatalf("payload sizes %d %d %d %d", len(v[0]), len(v[1]), len(v[2]), len(v[3]))
		}
		for r := 0; r < 3; r++ { // each TOKENS row: start, ids, end, zeros
			row := v[1][r*77*8 : (r+1)*77*8]
			tok := func(j int) int64 { return int64(binary.LittleEndian.Uint64(row[8*j:])) }
			if tok(0) != tokenStart {
				t.Fatalf("row %d starts with %d", r, tok(0))
			}
			end := -1
			for j := 1; j < 77; j++ {
				switch x := tok(j); {
				case end >= 0 && x != 0:
					t.Fatalf("row %d: token %d after the end token", r, x)
				case x == tokenEnd:
					end = j
				case end < 0 && (x < 1 || x >= tokenStart):
					t.Fatalf("row %d: token %d out of the vocabulary", r, x)
				}
			}
			if end < 0 {
				t.Fatalf("row %d has no end token", r)
			}
		}
		for i := 0; i < len(v[2]); i += 4 {
			if f := math.Float32frombits(binary.LittleEndian.Uint32(v[2][i:])); !(f >= 0 && f < 1) {
				t.Fatalf("random float %v outside [0, 1)", f)
			}
		}
		if _, err := tensor.DecodeBytes("S", v[3], 6); err != nil {
			t.Fatalf("BYTES payload: %v", err)
		}
	}
	zeros, err := mi.makePayloads(InputZeros, nil, 2, 1)
	if err != nil || len(zeros) != 1 {
		t.Fatalf("zeros: %d variants, %v", len(zeros), err)
	}
	for _, b := range zeros[0][0] {
		if b != 0 {
			t.Fatal("zeros payload is not zero")
		}
	}
	// The byte budget caps the variants.
	big := &modelInfo{name: "big", maxBatch: 64, inputs: []tensorSpec{{name: "IMAGE", dtype: tensor.Uint8, dims: []int64{3, 512, 512}, rowBytes: 3 * 512 * 512}}}
	samples := make([]Sample, 4096)
	for i := range samples {
		samples[i] = Sample{Name: "x", Image: make([]byte, 3*512*512)}
	}
	pl, err = big.makePayloads(InputDataset, samples, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pl); n != MaxInputBytes/(64*3*512*512) {
		t.Errorf("%d variants of 48 MiB under a %d MiB budget", n, MaxInputBytes>>20)
	}
}

func TestPacer(t *testing.T) {
	for _, arr := range []Arrival{ArrivalConstant, ArrivalPoisson} {
		lr := &loadRun{cfg: &Config{Arrival: arr}}
		ctx, cancel := context.WithCancel(context.Background())
		lr.ctx = ctx
		tickets := make(chan time.Duration)
		lr.wg.Add(1)
		go lr.pace(tickets, 1000, rand.New(rand.NewPCG(1, 2)))
		const n = 20000
		var prev time.Duration
		var gaps []float64
		for i := 0; i < n; i++ {
			at := <-tickets
			if i > 0 {
				gaps = append(gaps, float64(at-prev))
			}
			prev = at
		}
		cancel()
		lr.wg.Wait()
		var mean, sq float64
		for _, g := range gaps {
			mean += g
		}
		mean /= float64(len(gaps))
		for _, g := range gaps {
			sq += (g - mean) * (g - mean)
		}
		sd := math.Sqrt(sq / float64(len(gaps)))
		switch arr {
		case ArrivalConstant: // every gap 1 ms
			if !approx(mean, 1e6, 1) || sd > 1 {
				t.Errorf("constant: mean gap %v ns, sd %v", mean, sd)
			}
		case ArrivalPoisson: // exponential: mean = sd = 1 ms (within sampling error, 3 sigma)
			if !approx(mean, 1e6, 3*1e6/math.Sqrt(n)) || !approx(sd, 1e6, 0.05e6) {
				t.Errorf("poisson: mean gap %v ns, sd %v", mean, sd)
			}
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Targets: []string{"x:1"}, Model: "m"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Concurrency, []int{1}) || !reflect.DeepEqual(c.Batches, []int{1}) || c.Window != DefaultWindow ||
		c.Stability != 10 || c.MaxTrials != 10 || c.Input != InputRandom || c.OnError != OnErrorStop ||
		c.SharedMemory != SharedMemoryNone || c.Timeout != DefaultTimeout || c.ScrapeInterval != 200*time.Millisecond {
		t.Errorf("defaults %+v", c)
	}
	c, _ = Config{Targets: []string{"x:1"}, Model: "m", Samples: []Sample{{}}}.withDefaults()
	if c.Input != InputDataset {
		t.Errorf("input %q with samples, want dataset", c.Input)
	}
}

// statsOf builds a ModelStatistics response with one entry per version:
// each version has done n requests of batch 1 (1 us each phase).
func statsOf(versions map[string]uint64) []*pb.ModelStatistics {
	var out []*pb.ModelStatistics
	for v, n := range versions {
		d := &pb.StatisticDuration{Count: n, Ns: n * 1000}
		out = append(out, &pb.ModelStatistics{Name: "m", Version: v, InferenceCount: n, ExecutionCount: n,
			InferenceStats: &pb.InferStatistics{Success: d, Fail: &pb.StatisticDuration{}, Queue: d,
				ComputeInput: d, ComputeInfer: d, ComputeOutput: d},
			BatchStats: []*pb.InferBatchStatistics{{BatchSize: 1, ComputeInfer: d}}})
	}
	return out
}

// With several versions loaded (--version not given: statistics cover every
// ready version), deltas are per version: one version unloaded mid-window is
// not "counters went backwards", and one version reset (reloaded) is not
// hidden by another's growth.
func TestServerStatsDeltaVersions(t *testing.T) {
	// Version 1 is unloaded; version 2, the one under load, did 30 requests.
	st, err := delta(snapshotOf(statsOf(map[string]uint64{"1": 100, "2": 50})), snapshotOf(statsOf(map[string]uint64{"2": 80})))
	if err != nil {
		t.Fatalf("version 1 unloaded: %v", err)
	}
	if st.Requests != 30 || st.Inferences != 30 || st.BatchSizes["1"] != 30 {
		t.Errorf("version 1 unloaded: delta %+v, want the 30 requests of version 2", st)
	}
	// Version 3 appears (loaded mid-run) and takes 7 requests.
	st, err = delta(snapshotOf(statsOf(map[string]uint64{"2": 50})), snapshotOf(statsOf(map[string]uint64{"2": 50, "3": 7})))
	if err != nil || st.Requests != 7 {
		t.Errorf("version 3 loaded: delta %+v, %v; want 7 requests", st, err)
	}
	// Version 1 reloaded (its counters restart) while version 2 grew by
	// more: the sum grew, but version 1's figure for the window is unknown.
	_, err = delta(snapshotOf(statsOf(map[string]uint64{"1": 100, "2": 50})), snapshotOf(statsOf(map[string]uint64{"1": 10, "2": 200})))
	if !errors.Is(err, errStatsReset) || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("version 1 reset hidden by version 2: err = %v, want errStatsReset naming version 1", err)
	}
	// A reset seen only in the per-batch-size counts is a reset too, not a
	// batch size silently dropped.
	start := snapshotOf(statsOf(map[string]uint64{"1": 100}))
	endStats := statsOf(map[string]uint64{"1": 120})
	endStats[0].BatchStats[0].ComputeInfer.Count = 5
	if _, err := delta(start, snapshotOf(endStats)); !errors.Is(err, errStatsReset) {
		t.Errorf("batch-size count went from 100 to 5: err = %v, want errStatsReset", err)
	}
}

// A bad Config is refused with a *FieldError naming the field, as the Go
// API spells it (a program maps it to its own option names).
func TestConfigErrorsNameTheField(t *testing.T) {
	ok := Config{Targets: []string{"x:1"}, Model: "m"}
	for _, c := range []struct {
		field, want string
		mod         func(*Config)
	}{
		{"Targets", "Config.Targets: no target given", func(c *Config) { c.Targets = nil }},
		{"Targets", "Config.Targets: target 2 is empty", func(c *Config) { c.Targets = []string{"x:1", ""} }},
		{"Model", "Config.Model: no model given", func(c *Config) { c.Model = "" }},
		{"Concurrency", "Config.Concurrency 0: must be >= 1", func(c *Config) { c.Concurrency = []int{1, 0} }},
		{"Rates", "Config.Rates -1: must be a finite number > 0", func(c *Config) { c.Rates = []float64{-1} }},
		{"Rates", "Config.Rates: Concurrency is set too", func(c *Config) { c.Rates, c.Concurrency = []float64{1}, []int{1} }},
		{"Arrival", `Config.Arrival "bursty": want constant or poisson`, func(c *Config) { c.Arrival = "bursty" }},
		{"MaxInflight", "Config.MaxInflight -1: must be >= 1", func(c *Config) { c.MaxInflight = -1 }},
		{"Batches", "Config.Batches 0: must be >= 1", func(c *Config) { c.Batches = []int{0} }},
		{"Warmup", "Config.Warmup -1: must be >= 0", func(c *Config) { c.Warmup = -1 }},
		{"Window", "Config.Window -1s: must be > 0", func(c *Config) { c.Window = -time.Second }},
		{"WindowRequests", "Config.WindowRequests -3: must be >= 0", func(c *Config) { c.WindowRequests = -3 }},
		{"Stability", "Config.Stability 100: want a percentage in (0, 100)", func(c *Config) { c.Stability = 100 }},
		{"Percentile", "Config.Percentile 101: want 0 (mean)", func(c *Config) { c.Percentile = 101 }},
		{"MaxTrials", "Config.MaxTrials 2: must be >= 3", func(c *Config) { c.MaxTrials = 2 }},
		{"Input", `Config.Input "dataset": no Samples given`, func(c *Config) { c.Input = InputDataset }},
		{"Input", `Config.Input "foo": want dataset, random or zeros`, func(c *Config) { c.Input = "foo" }},
		{"SharedMemory", `Config.SharedMemory "cuda": want none or system`, func(c *Config) { c.SharedMemory = "cuda" }},
		{"Connections", "Config.Connections -1: must be >= 1", func(c *Config) { c.Connections = -1 }},
		{"Timeout", "Config.Timeout -1s: must be > 0", func(c *Config) { c.Timeout = -time.Second }},
		{"OnError", `Config.OnError "maybe": want stop or continue`, func(c *Config) { c.OnError = "maybe" }},
		{"MetricsURLs", "Config.MetricsURLs: 2 URLs for 1 targets", func(c *Config) { c.MetricsURLs = []string{"a", "b"} }},
	} {
		cfg := ok
		c.mod(&cfg)
		_, err := cfg.withDefaults()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a FieldError for %s starting %q", c.field, err, c.field, c.want)
			continue
		}
		// Rename puts a program's own name for the field in its place.
		if got := fe.Rename("--x"); got != "--x"+strings.TrimPrefix(err.Error(), "Config."+c.field) {
			t.Errorf("%s: Rename = %q for %q", c.field, got, err)
		}
	}
}
