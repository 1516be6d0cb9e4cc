package perf

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/agiqa-bench/agiqa/client"
)

// Benchmarks of the hot path (run with -bench; never part of the normal run):
//
//	go test ./bench/perf/ -run '^$' -bench . -benchmem
//
// BenchmarkSend is one request through the load generator's path
// (pre-encoded request, raw codec, reused response buffer, preallocated
// result buffer); BenchmarkClientInfer is the same request through
// client.Infer, which builds and decodes messages per call.

func benchEngine(b *testing.B, model string, batch int) (*engine, *prepared) {
	ts := startServer(b)
	c, err := Config{Targets: []string{ts.addr}, Model: model}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	e := &engine{cfg: &c, noted: map[string]bool{}, report: &Report{}}
	b.Cleanup(e.close)
	if err := e.connect(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if e.model, err = describe(ctx, e.targets[0].ctl, model, "", nil); err != nil {
		b.Fatal(err)
	}
	prep, err := e.prepare(ctx, batch)
	if err != nil {
		b.Fatal(err)
	}
	return e, prep
}

func BenchmarkSend(b *testing.B) {
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			e, prep := benchEngine(b, "tiny", batch)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			lr := &loadRun{cfg: e.cfg, reqs: prep.reqs, batch: int32(batch), outputs: 1,
				rawBytes: e.model.wantRawBytes(batch), callOpts: e.callOpts, ctx: ctx, full: make(chan struct{}, 1)}
			w := &worker{conn: e.targets[0].conns[0], recs: make([]Result, 0, b.N)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				now := time.Now()
				lr.send(w, now, now)
			}
			b.StopTimer()
			for _, r := range w.recs {
				if r.Code != codes.OK {
					b.Fatalf("request failed: %v", r.Code)
				}
			}
		})
	}
}

func BenchmarkClientInfer(b *testing.B) {
	e, _ := benchEngine(b, "tiny", 1)
	pl, err := e.model.makePayloads(InputRandom, nil, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	req := e.model.clientRequest(pl[0], 1, "", nil)
	c := e.targets[0].ctl
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Infer(ctx, req); err != nil {
			b.Fatal(client.Code(err), err)
		}
	}
}

func BenchmarkMetricsAdd(b *testing.B) {
	m := NewMetrics(time.Second, b.N)
	r := Result{Latency: time.Millisecond, Batch: 1}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Latency = time.Duration(i)
		m.Add(&r)
	}
}
