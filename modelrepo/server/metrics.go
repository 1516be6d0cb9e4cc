package server

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// DefaultMetricsAddr is Triton's metrics port, loopback only.
const DefaultMetricsAddr = "127.0.0.1:8002"

// MetricsPath is where Triton serves its Prometheus metrics.
const MetricsPath = "/metrics"

// metricsContentType is the Prometheus text exposition format, the only one Triton serves.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// failReason is the reason label of nv_inference_request_failure. Triton (since 24.x) splits
// failures into REJECTED (the scheduler refused it: queue full), CANCELED (the client went away
// or its deadline passed), BACKEND (the model's execution failed) and OTHER (everything else,
// e.g. a request that does not match the model), and exports all four for every version.
type failReason int

const (
	failRejected failReason = iota
	failCanceled
	failBackend
	failOther
	numFailReasons
)

var failReasonNames = [numFailReasons]string{"REJECTED", "CANCELED", "BACKEND", "OTHER"}

// failReasonOf classifies the error a model execution returned: a request cancelled while it
// waited or ran is CANCELED, any other execution error the backend's.
func failReasonOf(err error) failReason {
	switch status.Code(err) {
	case codes.Canceled, codes.DeadlineExceeded:
		return failCanceled
	}
	return failBackend
}

// statSnapshot is one version's counters read at once.
type statSnapshot struct {
	success, fail, queue, input, infer, output duration
	inferences, executions                     uint64
	failReasons                                [numFailReasons]uint64
}

func (st *versionStats) snapshot() statSnapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	return statSnapshot{success: st.success, fail: st.fail, queue: st.queue, input: st.computeInput,
		infer: st.computeInfer, output: st.computeOutput, inferences: st.inferenceCount,
		executions: st.executionCount, failReasons: st.failReasons}
}

// metricVersion is one loaded model version as the metrics see it.
type metricVersion struct {
	model, version string
	stats          statSnapshot
	pending        int64
}

// metricVersions lists the ready versions, by model name then version. As in Triton, a version
// has metrics while it is loaded; unloading it removes them.
func (s *Server) metricVersions() []metricVersion {
	s.mu.RLock()
	states := make([]*modelState, 0, len(s.models))
	for _, ms := range s.models {
		states = append(states, ms)
	}
	s.mu.RUnlock()
	sort.Slice(states, func(i, j int) bool { return states[i].name < states[j].name })
	var out []metricVersion
	for _, ms := range states {
		for _, vs := range ms.versions {
			if !vs.ready || vs.stats == nil {
				continue
			}
			mv := metricVersion{model: vs.name, version: vs.vstr, stats: vs.stats.snapshot()}
			if vs.sched != nil {
				mv.pending = vs.sched.queued.Load()
			}
			out = append(out, mv)
		}
	}
	return out
}

// metricDef is one of Triton's per-model metrics: name, HELP text (Triton's), type and value.
type metricDef struct {
	name, help string
	gauge      bool
	value      func(metricVersion) float64
}

func micros(d duration) float64 { return float64(d.ns / uint64(time.Microsecond)) }

// tritonMetrics are the inference request metrics of Triton's metrics documentation
// (docs/user_guide/metrics.md, "Inference Request Metrics"), with its names and units: counts,
// and cumulative latencies in microseconds. request_duration covers successful requests, queue
// and compute_* their phases, as the statistics extension counts them.
var tritonMetrics = []metricDef{
	{"nv_inference_request_success", "Number of successful inference requests, all batch sizes", false,
		func(m metricVersion) float64 { return float64(m.stats.success.count) }},
	{"nv_inference_request_failure", "Number of failed inference requests, all batch sizes", false, nil},
	{"nv_inference_count", "Number of inferences performed (does not include cached requests)", false,
		func(m metricVersion) float64 { return float64(m.stats.inferences) }},
	{"nv_inference_exec_count", "Number of model executions performed (does not include cached requests)", false,
		func(m metricVersion) float64 { return float64(m.stats.executions) }},
	{"nv_inference_request_duration_us", "Cumulative inference request duration in microseconds (includes cached requests)", false,
		func(m metricVersion) float64 { return micros(m.stats.success) }},
	{"nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds (includes cached requests)", false,
		func(m metricVersion) float64 { return micros(m.stats.queue) }},
	{"nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds (does not include cached requests)", false,
		func(m metricVersion) float64 { return micros(m.stats.input) }},
	{"nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds (does not include cached requests)", false,
		func(m metricVersion) float64 { return micros(m.stats.infer) }},
	{"nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds (does not include cached requests)", false,
		func(m metricVersion) float64 { return micros(m.stats.output) }},
	{"nv_inference_pending_request_count", "Instantaneous number of pending requests awaiting execution per-model.", true,
		func(m metricVersion) float64 { return float64(m.pending) }},
}

func label(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)}
}

func (d metricDef) sample(labels []*dto.LabelPair, v float64) *dto.Metric {
	if d.gauge {
		return &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(v)}}
	}
	return &dto.Metric{Label: labels, Counter: &dto.Counter{Value: proto.Float64(v)}}
}

// metricFamilies builds the exposition: every family is present (with HELP and TYPE) even when
// no model is loaded, so a scraper sees the names at once.
func (s *Server) metricFamilies() []*dto.MetricFamily {
	versions := s.metricVersions()
	fams := make([]*dto.MetricFamily, 0, len(tritonMetrics))
	for _, d := range tritonMetrics {
		typ := dto.MetricType_COUNTER
		if d.gauge {
			typ = dto.MetricType_GAUGE
		}
		fam := &dto.MetricFamily{Name: proto.String(d.name), Help: proto.String(d.help), Type: &typ}
		for _, mv := range versions {
			if d.value == nil { // the failure counter, one sample per reason
				for r, n := range mv.stats.failReasons {
					labels := []*dto.LabelPair{label("model", mv.model), label("reason", failReasonNames[r]), label("version", mv.version)}
					fam.Metric = append(fam.Metric, d.sample(labels, float64(n)))
				}
				continue
			}
			labels := []*dto.LabelPair{label("model", mv.model), label("version", mv.version)}
			fam.Metric = append(fam.Metric, d.sample(labels, d.value(mv)))
		}
		fams = append(fams, fam)
	}
	return fams
}

// MetricsHandler serves Triton's per-model inference metrics in Prometheus text format at
// MetricsPath (GET or HEAD); other paths are 404, other methods 405.
func (s *Server) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != MetricsPath {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, fmt.Sprintf("%s %s: method not allowed (GET or HEAD)", r.Method, MetricsPath), http.StatusMethodNotAllowed)
			return
		}
		var buf bytes.Buffer
		for _, fam := range s.metricFamilies() {
			if _, err := expfmt.MetricFamilyToText(&buf, fam); err != nil {
				s.log.Printf("metrics: encoding %s: %v", fam.GetName(), err)
				http.Error(w, "metrics: encoding "+fam.GetName()+": "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", metricsContentType)
		w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
		if r.Method == http.MethodGet {
			_, _ = w.Write(buf.Bytes())
		}
	})
}

// ServeMetrics serves MetricsHandler on lis until GracefulStop, then returns nil.
func (s *Server) ServeMetrics(lis net.Listener) error {
	hs := &http.Server{Handler: s.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
	return s.metrics.serve(hs, lis, "metrics", func() { s.log.Printf("serving metrics on http://%s%s", lis.Addr(), MetricsPath) })
}

// closeMetrics stops every metrics listener; a scrape in progress is cut off.
func (s *Server) closeMetrics() {
	for _, hs := range s.metrics.stop() {
		_ = hs.Close()
	}
}
