package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDefaultURL(t *testing.T) {
	for in, want := range map[string]string{
		"gpu1:8001":      "http://gpu1:8002/metrics",
		"10.0.0.5:9000":  "http://10.0.0.5:8002/metrics",
		"[::1]:8001":     "http://[::1]:8002/metrics",
		"localhost":      "http://localhost:8002/metrics",
		"dns:///h2:8001": "http://h2:8002/metrics",
	} {
		if got := DefaultURL(in); got != want {
			t.Errorf("DefaultURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// testdata/triton_metrics.txt is an exposition in the layout Triton 24.x
// serves on :8002 (two GPUs, inference counters beside the GPU gauges).
func TestParseTritonExposition(t *testing.T) {
	f, err := os.Open("testdata/triton_metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gpus, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []GPU{
		{UUID: "GPU-0c3f2a1e-1111-2222-3333-444455556666", Utilization: 0.87, MemoryUsed: 13725007872, MemoryTotal: 85899345920, Power: 312.5},
		{UUID: "GPU-9d8e7f6a-aaaa-bbbb-cccc-ddddeeeeffff", Utilization: 0, MemoryUsed: 524288000, MemoryTotal: 85899345920, Power: 61.25},
	}
	if fmt.Sprint(gpus) != fmt.Sprint(want) {
		t.Errorf("Parse:\n got %v\nwant %v", gpus, want)
	}
}

func TestParseEdgeCases(t *testing.T) {
	gpus, err := Parse(strings.NewReader("# TYPE nv_inference_count counter\nnv_inference_count{model=\"m\",version=\"1\"} 5\n"))
	if err != nil || len(gpus) != 0 {
		t.Errorf("no GPU metrics: %v, %v", gpus, err)
	}
	gpus, err = Parse(strings.NewReader("nv_gpu_power_usage{gpu_uuid=\"g\"} 40\n"))
	if err != nil || len(gpus) != 1 || gpus[0].Power != 40 || !math.IsNaN(gpus[0].Utilization) {
		t.Errorf("partial GPU metrics: %v, %v", gpus, err)
	}
	if _, err := Parse(strings.NewReader("nv_gpu_utilization{gpu_uuid=\"g\" 0.5\n")); err == nil {
		t.Error("malformed exposition accepted")
	}
	_, err = Parse(strings.NewReader("# TYPE nv_gpu_utilization histogram\nnv_gpu_utilization_bucket{gpu_uuid=\"g\",le=\"1\"} 1\nnv_gpu_utilization_sum{gpu_uuid=\"g\"} 1\nnv_gpu_utilization_count{gpu_uuid=\"g\"} 1\n"))
	if err == nil || !strings.Contains(err.Error(), "nv_gpu_utilization") {
		t.Errorf("histogram utilisation: %v", err)
	}
}

func TestAccumulator(t *testing.T) {
	var a Accumulator
	a.Add([]GPU{{UUID: "a", Utilization: 0.2, MemoryUsed: 100, MemoryTotal: 1000, Power: 50}, {UUID: "b", Utilization: 1, MemoryUsed: 10, MemoryTotal: 500, Power: 90}})
	a.Add([]GPU{{UUID: "a", Utilization: 0.6, MemoryUsed: 300, MemoryTotal: 1000, Power: 70}, {UUID: "b", Utilization: math.NaN(), MemoryUsed: 5, MemoryTotal: 500, Power: 110}})
	s := a.Summary()
	// a: util mean 40%, mem max 300, power 60; b: util 100% (one reading), mem 10, power 100.
	if len(s.GPUs) != 2 || s.GPUs[0].UtilizationPct != 40 || s.GPUs[0].MemoryUsedMaxBytes != 300 || s.GPUs[0].PowerMeanW != 60 ||
		s.GPUs[1].UtilizationPct != 100 || s.GPUs[1].Samples != 2 {
		t.Errorf("per GPU %+v %+v", s.GPUs[0], s.GPUs[1])
	}
	if s.UtilizationPct != 70 || s.MemoryUsedMaxBytes != 310 || s.MemoryTotalBytes != 1500 || s.PowerMeanW != 160 {
		t.Errorf("totals %+v", s)
	}
	var b Accumulator
	b.Add([]GPU{{UUID: "a", Utilization: 1, MemoryUsed: 900, MemoryTotal: 1000, Power: 60}})
	b.Merge(&a)
	if g := b.Summary().GPUs[0]; g.Samples != 3 || !approx(float64(g.UtilizationPct), 60) || g.MemoryUsedMaxBytes != 900 {
		t.Errorf("merged %+v", g)
	}
	if (&Accumulator{}).Summary() != nil {
		t.Error("empty accumulator has a summary")
	}
	js, err := json.Marshal(&Summary{UtilizationPct: Number(math.NaN()), PowerMeanW: 3})
	if err != nil || !strings.Contains(string(js), `"utilization_pct":null`) || !strings.Contains(string(js), `"power_mean_w":3`) {
		t.Errorf("JSON %s %v", js, err)
	}
	var back Summary
	if err := json.Unmarshal(js, &back); err != nil || back.UtilizationPct.Known() || back.PowerMeanW != 3 {
		t.Errorf("JSON round trip %+v %v", back, err)
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSampler(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := n.Add(1)
		fmt.Fprintf(w, "nv_gpu_utilization{gpu_uuid=\"g\"} %g\n", float64(k%2)) // 1, 0, 1, 0, ...
	}))
	defer srv.Close()
	var warned []string
	s, err := NewSampler(srv.URL+"/metrics", 5*time.Millisecond, func(m string) { warned = append(warned, m) })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	s.Stop()
	acc := s.Take()
	if acc == nil {
		t.Fatal("no scrape recorded")
	}
	g := acc.Summary().GPUs[0]
	if g.Samples != int(n.Load()) || !approx(float64(g.UtilizationPct), 100*float64((g.Samples+1)/2)/float64(g.Samples)) {
		t.Errorf("%d scrapes served, summary %+v", n.Load(), g)
	}
	if s.Take() != nil || len(warned) != 0 || s.Failed() {
		t.Errorf("second Take not empty, or warnings %v", warned)
	}
}

func TestSamplerWarnsOnce(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	var mu sync.Mutex
	var warned []string
	s, err := NewSampler(srv.URL+"/metrics", time.Millisecond, func(m string) { mu.Lock(); warned = append(warned, m); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	time.Sleep(30 * time.Millisecond)
	s.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(warned) != 1 || !strings.Contains(warned[0], "404") || !s.Failed() || s.Take() != nil {
		t.Errorf("warnings %q, failed %v", warned, s.Failed())
	}
	for _, bad := range []string{"ftp://x/metrics", "localhost:8002", ""} {
		if _, err := NewSampler(bad, time.Second, nil); err == nil {
			t.Errorf("URL %q accepted", bad)
		}
	}
}
