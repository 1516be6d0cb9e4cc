package perf

import (
	"math"
	"slices"
	"time"

	"github.com/agiqa-bench/agiqa/bench/metrics"
	"google.golang.org/grpc/codes"
)

// Result is one finished request as the load generator records it. Workers
// append Results to preallocated per-worker buffers; Metrics consumes them
// after the window is cut, off the hot path.
type Result struct {
	// Latency runs from the intended send time (open loop: the schedule's
	// slot, so a server that falls behind shows its queueing; closed loop:
	// the moment the worker began the request) to the response's arrival.
	Latency time.Duration
	// Prepare is the client's time picking and readying the request before
	// it is handed to gRPC (pre-encoded requests make it small).
	Prepare time.Duration
	// Wait is the gRPC round trip: sending, the network and the server,
	// receiving.
	Wait time.Duration
	// Handle is the client's time checking the response after it arrived.
	Handle time.Duration
	// Lag is how late the request was sent relative to its schedule slot
	// (open loop only; 0 in closed loop).
	Lag time.Duration
	// Batch is the number of inferences in the request (its batch size).
	Batch int32
	// Target indexes Config.Targets.
	Target int32
	// Code is the gRPC status code; codes.OK for success.
	Code codes.Code

	// seq numbers completions in order across workers (from 1 per level)
	// and at when, so a count window takes exactly its requests and ends
	// when the last of them finished.
	seq uint64
	at  time.Time
}

// DelayedThreshold is the schedule lag above which an open-loop request
// counts as delayed (the load generator could not send it on time).
const DelayedThreshold = time.Millisecond

// Metrics accumulates Results (vegeta style: Add each, then Close) into the
// figures of one window, one target or a merge of windows. Latency
// percentiles are exact: every successful request's latency is kept and the
// nearest-rank percentile is taken (the smallest sample with at least p% of
// samples at or below it), so there is no histogram error to state.
//
// Durations in JSON are microseconds (fields ending in _us).
type Metrics struct {
	// Requests is the number of requests that finished (success or error).
	Requests uint64 `json:"requests"`
	// Success is the number of requests answered without error.
	Success uint64 `json:"success"`
	// Inferences is the number of inferences in successful requests (the
	// sum of their batch sizes).
	Inferences uint64 `json:"inferences"`
	// Errors counts failed requests by gRPC code name ("Unavailable").
	Errors map[string]uint64 `json:"errors,omitempty"`
	// Delayed counts open-loop requests sent more than DelayedThreshold
	// after their slot: the client, not the server, was behind.
	Delayed uint64 `json:"delayed,omitempty"`
	// DurationUS is the measured time span in microseconds: the window
	// length, or the sum of merged windows.
	DurationUS float64 `json:"duration_us"`
	// RequestsPerSec is Success / duration.
	RequestsPerSec float64 `json:"requests_per_sec"`
	// InferencesPerSec is Inferences / duration.
	InferencesPerSec float64 `json:"inferences_per_sec"`
	// Latency summarises the latencies of successful requests.
	Latency LatencySummary `json:"latency"`
	// Client is the mean client-side time split of successful requests.
	Client ClientSplit `json:"client"`

	duration  time.Duration
	latencies []time.Duration
	sumLat    time.Duration
	sumPrep   time.Duration
	sumWait   time.Duration
	sumHandle time.Duration
	sumLag    time.Duration
	closed    bool
}

// LatencySummary holds latency statistics in microseconds.
type LatencySummary struct {
	MeanUS float64 `json:"mean_us"`
	P50US  float64 `json:"p50_us"`
	P90US  float64 `json:"p90_us"`
	P95US  float64 `json:"p95_us"`
	P99US  float64 `json:"p99_us"`
	P999US float64 `json:"p99_9_us"`
	MaxUS  float64 `json:"max_us"`
}

// ClientSplit is where a successful request's time went on the client, as
// means in microseconds (see Result).
type ClientSplit struct {
	PrepareUS float64 `json:"prepare_us"`
	WaitUS    float64 `json:"wait_us"`
	HandleUS  float64 `json:"handle_us"`
	// LagUS is the mean open-loop schedule lag (0 in closed loop).
	LagUS float64 `json:"schedule_lag_us"`
}

// NewMetrics returns an empty accumulator for a span of the given length
// (used for the per-second rates); capacity sizes the latency buffer.
func NewMetrics(d time.Duration, capacity int) *Metrics {
	return &Metrics{duration: d, latencies: make([]time.Duration, 0, capacity)}
}

// Add records one result. It must not be called after Close.
func (m *Metrics) Add(r *Result) {
	m.Requests++
	if r.Lag > DelayedThreshold {
		m.Delayed++
	}
	if r.Code != codes.OK {
		if m.Errors == nil {
			m.Errors = map[string]uint64{}
		}
		m.Errors[r.Code.String()]++
		return
	}
	m.Success++
	m.Inferences += uint64(r.Batch)
	m.latencies = append(m.latencies, r.Latency)
	m.sumLat += r.Latency
	m.sumPrep += r.Prepare
	m.sumWait += r.Wait
	m.sumHandle += r.Handle
	m.sumLag += r.Lag
}

// Merge folds o (not yet closed or closed, it is not changed) into m; their
// durations add up, as for consecutive windows.
func (m *Metrics) Merge(o *Metrics) {
	m.Requests += o.Requests
	m.Success += o.Success
	m.Inferences += o.Inferences
	m.Delayed += o.Delayed
	m.Errors = addCounts(m.Errors, o.Errors)
	m.duration += o.duration
	m.latencies = append(m.latencies, o.latencies...)
	m.sumLat += o.sumLat
	m.sumPrep += o.sumPrep
	m.sumWait += o.sumWait
	m.sumHandle += o.sumHandle
	m.sumLag += o.sumLag
	m.closed = false
}

// addCounts adds src's counts into dst and returns it; dst is allocated only when src has entries,
// so that a summary without any stays nil (and out of the JSON).
func addCounts(dst, src map[string]uint64) map[string]uint64 {
	for k, v := range src {
		if dst == nil {
			dst = map[string]uint64{}
		}
		dst[k] += v
	}
	return dst
}

// release drops the kept latencies once the summary is final.
func (m *Metrics) release() { m.latencies = nil }

// Duration is the span the rates are computed over.
func (m *Metrics) Duration() time.Duration { return m.duration }

// ErrorCount is the number of failed requests.
func (m *Metrics) ErrorCount() uint64 { return m.Requests - m.Success }

// Close computes the summary fields. It may be called again after Merge.
func (m *Metrics) Close() {
	m.closed = true
	m.DurationUS = us(m.duration)
	if m.duration > 0 {
		sec := m.duration.Seconds()
		m.RequestsPerSec = float64(m.Success) / sec
		m.InferencesPerSec = float64(m.Inferences) / sec
	}
	m.Latency = LatencySummary{}
	m.Client = ClientSplit{}
	n := len(m.latencies)
	if n == 0 {
		return
	}
	slices.Sort(m.latencies)
	fn := float64(n)
	m.Latency = LatencySummary{
		MeanUS: us(m.sumLat) / fn,
		P50US:  us(metrics.Percentile(m.latencies, 50)),
		P90US:  us(metrics.Percentile(m.latencies, 90)),
		P95US:  us(metrics.Percentile(m.latencies, 95)),
		P99US:  us(metrics.Percentile(m.latencies, 99)),
		P999US: us(metrics.Percentile(m.latencies, 99.9)),
		MaxUS:  us(m.latencies[n-1]),
	}
	m.Client = ClientSplit{
		PrepareUS: us(m.sumPrep) / fn,
		WaitUS:    us(m.sumWait) / fn,
		HandleUS:  us(m.sumHandle) / fn,
		LagUS:     us(m.sumLag) / fn,
	}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100, as
// metrics.Percentile defines it) of the successful latencies in microseconds; NaN when there are none. Call after
// Close.
func (m *Metrics) Percentile(p float64) float64 {
	if len(m.latencies) == 0 {
		return math.NaN()
	}
	if !m.closed {
		m.Close()
	}
	return us(metrics.Percentile(m.latencies, p))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
