package perf

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/bench/perf/telemetry"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// checkGolden compares got with testdata/<name>.golden, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testenv.Golden(t, name, got, *update)
}

// fixedFigures builds figures from n synthetic results (latency base..)
// over one second.
func fixedFigures(target string, n int, batch int32, base time.Duration, server bool, gpu bool) *Figures {
	m := NewMetrics(time.Second, n)
	for i := 0; i < n; i++ {
		m.Add(&Result{Latency: base + time.Duration(i)*time.Microsecond, Prepare: 2 * time.Microsecond,
			Wait: base, Handle: time.Microsecond, Batch: batch})
	}
	f := &Figures{Target: target, Client: m}
	if server {
		f.Server = &ServerStats{Requests: uint64(n), Inferences: uint64(n) * uint64(batch), Executions: uint64(n),
			QueueUS: 10, ComputeInputUS: 5, ComputeInferUS: 100, ComputeOutputUS: 3, RequestUS: 120,
			BatchSizes: map[string]uint64{"1": uint64(n) / 2, "2": uint64(n) / 4}}
	}
	if gpu {
		acc := &telemetry.Accumulator{}
		acc.Add([]telemetry.GPU{{UUID: "GPU-0", Utilization: 0.8, MemoryUsed: 2 << 30, MemoryTotal: 16 << 30, Power: 210}})
		f.GPU = acc.Summary()
	}
	return f
}

func fixedReport(targets int) *Report {
	r := &Report{Model: "tiny", Targets: []string{"10.0.0.1:8001"}, Mode: "concurrency", Input: "random",
		SharedMemory: "none", StabilityPct: 10, WindowUS: 1e6, MaxTrials: 10, Warmup: 20, MaxBatchSize: 8,
		Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	if targets == 2 {
		r.Targets = append(r.Targets, "10.0.0.2:8001")
	}
	for i, c := range []int{1, 4} {
		l := &Level{Batch: 2, Concurrency: c, Status: StatusStable}
		var per []*Figures
		for _, tg := range r.Targets {
			per = append(per, fixedFigures(tg, 1000*(i+1), 2, time.Duration(c)*100*time.Microsecond, true, true))
		}
		tot := &Figures{Target: "total", Client: NewMetrics(0, 0), Server: &ServerStats{}}
		for _, f := range per {
			tot.Client.Merge(f.Client)
			tot.Server.merge(f.Server)
			f.Client.Close()
		}
		tot.Client.duration = time.Second
		tot.Client.Close()
		tot.GPU = per[0].GPU
		l.Total = tot
		if targets > 1 {
			l.PerTarget = per
		}
		l.Windows = []*Window{{Index: 1, Total: tot}}
		r.Levels = append(r.Levels, l)
	}
	// A failed level: errors by code, no server figures.
	fail := &Level{Batch: 2, Concurrency: 8, Status: StatusFailed, Error: "window 1: 7 of 9 requests failed (Unavailable:7)"}
	m := NewMetrics(time.Second, 0)
	for i := 0; i < 2; i++ {
		m.Add(&Result{Latency: time.Millisecond, Batch: 2})
	}
	for i := 0; i < 7; i++ {
		m.Add(&Result{Code: 14})
	}
	m.Close()
	fail.Total = &Figures{Target: "total", Client: m}
	r.Levels = append(r.Levels, fail)
	r.Notes = []string{"GPU telemetry unavailable, continuing without it: connection refused"}
	return r
}

func TestWriteTableGolden(t *testing.T) {
	for _, n := range []int{1, 2} {
		var b bytes.Buffer
		if err := WriteTable(&b, fixedReport(n)); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, map[int]string{1: "table", 2: "table_two_targets"}[n], b.Bytes())
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, fixedReport(2)); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "two_targets.csv", b.Bytes())
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// 2 levels x (total + 2 targets) + the failed level's total.
	if len(recs) != 1+2*3+1 {
		t.Fatalf("%d CSV records", len(recs))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	// perf_analyzer's columns (its --verbose-csv header with GPU metrics)
	// are where its users, and parsers written for it, look for them.
	for i, h := range []string{"Concurrency", "Inferences/Second", "Client Send", "Network+Server Send/Recv", "Server Queue",
		"Server Compute Input", "Server Compute Infer", "Server Compute Output", "Client Recv", "p50 latency", "p90 latency",
		"p95 latency", "p99 latency", "Avg latency", "request/response", "response wait",
		"Avg GPU Utilization", "Avg GPU Power Usage", "Max GPU Memory Usage", "Total GPU Memory"} {
		if col[h] != i {
			t.Errorf("column %q at %d, want %d", h, col[h], i)
		}
	}
	first := recs[1]
	// Level 1 total: 2 targets x 1000 requests x batch 2 in 1 s; latency
	// 100..1099 us: p50 = 599 us; network = wait 100 - server 118 -> 0.
	for h, want := range map[string]string{"Inferences/Second": "4000", "Requests/Second": "2000", "p50 latency": "599",
		"Avg latency": "600", "Server Queue": "10", "Network+Server Send/Recv": "0", "response wait": "100",
		"Client Send": "2", "Client Recv": "1", "request/response": "3",
		"Avg GPU Utilization": "0.8", "Max GPU Memory Usage": "2147483648", "Status": "stable", "Target": "total",
		"Server Batch Sizes": "1:1000;2:500"} {
		if got := first[col[h]]; got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	last := recs[len(recs)-1]
	if last[col["Status"]] != "failed" || last[col["Errors"]] != "Unavailable:7" || last[col["Server Queue"]] != "" {
		t.Errorf("failed level row %v", last)
	}
}

func TestWriteJSON(t *testing.T) {
	r := fixedReport(1)
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	lv := back["levels"].([]any)[0].(map[string]any)
	cl := lv["total"].(map[string]any)["client"].(map[string]any)
	lat := cl["latency"].(map[string]any)
	if cl["success"].(float64) != 1000 || lat["p50_us"].(float64) != 599 || lat["p99_9_us"].(float64) != 1098 {
		t.Errorf("JSON client figures %v", cl)
	}
	srv := lv["total"].(map[string]any)["server"].(map[string]any)
	if srv["compute_infer_us"].(float64) != 100 || srv["batch_sizes"].(map[string]any)["2"].(float64) != 250 {
		t.Errorf("JSON server figures %v", srv)
	}
	// Unknown GPU figures are null, not a JSON error.
	acc := &telemetry.Accumulator{}
	acc.Add([]telemetry.GPU{{UUID: "g", Utilization: math.NaN(), MemoryUsed: math.NaN(), MemoryTotal: math.NaN(), Power: 5}})
	r.Levels[0].Total.GPU = acc.Summary()
	b.Reset()
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"utilization_pct": null`) {
		t.Error("unknown utilisation not written as null")
	}
}

func TestWritePlots(t *testing.T) {
	dir := t.TempDir()
	r := fixedReport(1)
	paths, err := WritePlots(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tiny_throughput_latency.png", "tiny_b2_latency.png"}
	if len(paths) != len(want) {
		t.Fatalf("plots %v", paths)
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("plot %d is %s, want %s", i, filepath.Base(p), want[i])
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if b := img.Bounds(); b.Dx() != 672 || b.Dy() != 432 {
			t.Errorf("%s is %dx%d, want 672x432 (7x4.5 in at 96 dpi)", p, b.Dx(), b.Dy())
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v (%v), want 0644 like the other written reports", p, st.Mode().Perm(), err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// A failed level with successes still plots; one without draws nothing.
	r.Levels = r.Levels[2:]
	if paths, err := WritePlots(t.TempDir(), r); err != nil || len(paths) != 2 {
		t.Errorf("paths %v, err %v", paths, err)
	}
	r.Levels[0].Total.Client = closedEmpty()
	if paths, err := WritePlots(t.TempDir(), r); err != nil || len(paths) != 0 {
		t.Errorf("empty report plotted %v, err %v", paths, err)
	}
}
