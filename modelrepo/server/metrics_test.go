package server

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"

	"github.com/agiqa-bench/agiqa/bench/perf/telemetry"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// serveMetrics starts ServeMetrics on a loopback port and returns its URL.
func serveMetrics(t *testing.T, h *harness) (string, chan error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.srv.ServeMetrics(lis) }()
	return "http://" + lis.Addr().String() + MetricsPath, done
}

func scrape(t *testing.T, url string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET %s: %s, Content-Type %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("Prometheus text parser refuses the exposition: %v\n%s", err, body)
	}
	return string(body), fams
}

// sample finds the value of name{labels} (labels as k=v pairs, all of which must match).
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	t.Helper()
	fam := fams[name]
	if fam == nil {
		t.Fatalf("no metric family %s", name)
	}
next:
	for _, m := range fam.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if labelValueOf(m, labels[i]) != labels[i+1] {
				continue next
			}
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func labelValueOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// The metrics endpoint exports Triton's per-model metric names (docs/user_guide/metrics.md),
// with HELP and TYPE, labelled model and version, with nv_inference_request_failure split by
// reason as Triton 24.x does; Prometheus' own text parser and agiqa perf's telemetry read it.
// Expected counts come from the requests the test sent; durations must equal the statistics
// extension's (both are the same counters, in µs against ns).
func TestMetricsEndpoint(t *testing.T) {
	h := start(t)
	c := ctx(t)
	url, done := serveMetrics(t, h)
	// Before any request every family is present; echo's counters are 0.
	_, fams := scrape(t, url)
	if v, ok := sample(t, fams, "nv_inference_request_success", "model", "echo", "version", "1"); !ok || v != 0 {
		t.Errorf("fresh success count %v (present %v), want 0", v, ok)
	}
	for _, shape := range [][]int64{{1, 2}, {3, 2}} {
		vals := make([]float32, shape[0]*2)
		if _, err := h.c.ModelInfer(c, xReq("echo", shape, vals...)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 3}, 1, 2, 3)) // wrong shape: OTHER
	wantStatus(t, err, codes.InvalidArgument)
	_, err = h.c.ModelInfer(c, xReq("panicky", []int64{1, 2}, 13, 1)) // the model panics: BACKEND
	wantStatus(t, err, codes.Internal)

	body, fams := scrape(t, url)
	for _, name := range []string{"nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
		"nv_inference_exec_count", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
		"nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us", "nv_inference_compute_output_duration_us"} {
		fam := fams[name]
		if fam == nil || fam.GetType() != dto.MetricType_COUNTER || fam.GetHelp() == "" {
			t.Errorf("%s: family %v, want a counter with HELP", name, fam)
		}
		if !strings.Contains(body, "# TYPE "+name+" counter\n") {
			t.Errorf("exposition lacks a TYPE line for %s", name)
		}
	}
	want := map[string]float64{"nv_inference_request_success": 2, "nv_inference_count": 4, "nv_inference_exec_count": 2}
	for name, w := range want {
		if v, _ := sample(t, fams, name, "model", "echo", "version", "1"); v != w {
			t.Errorf("%s{model=echo} = %v, want %v", name, v, w)
		}
	}
	for reason, w := range map[string]float64{"OTHER": 1, "BACKEND": 0, "REJECTED": 0, "CANCELED": 0} {
		if v, ok := sample(t, fams, "nv_inference_request_failure", "model", "echo", "version", "1", "reason", reason); !ok || v != w {
			t.Errorf("failure{model=echo,reason=%s} = %v (present %v), want %v", reason, v, ok, w)
		}
	}
	if v, _ := sample(t, fams, "nv_inference_request_failure", "model", "panicky", "reason", "BACKEND"); v != 1 {
		t.Errorf("failure{model=panicky,reason=BACKEND} = %v, want 1", v)
	}
	st, err := h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "echo", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	is := st.ModelStats[0].InferenceStats
	for name, ns := range map[string]uint64{"nv_inference_request_duration_us": is.Success.Ns, "nv_inference_queue_duration_us": is.Queue.Ns,
		"nv_inference_compute_infer_duration_us": is.ComputeInfer.Ns} {
		if v, _ := sample(t, fams, name, "model", "echo"); v != float64(ns/1000) || (name == "nv_inference_request_duration_us" && v <= 0 && ns >= 1000) {
			t.Errorf("%s = %v µs, statistics say %d ns", name, v, ns)
		}
	}
	// agiqa perf's telemetry scrapes this endpoint for GPU figures: it must parse and find none.
	gpus, err := telemetry.Parse(strings.NewReader(body))
	if err != nil || len(gpus) != 0 {
		t.Errorf("telemetry.Parse: %v GPUs, %v", gpus, err)
	}
	// An unloaded model's metrics go, as in Triton.
	if _, ok := sample(t, fams, "nv_inference_count", "model", "nobatch", "version", "1"); !ok {
		t.Error("loaded model nobatch has no metrics")
	}
	if _, err := h.c.RepositoryModelUnload(c, &pb.RepositoryModelUnloadRequest{ModelName: "nobatch"}); err != nil {
		t.Fatal(err)
	}
	if _, fams = scrape(t, url); fams["nv_inference_count"] != nil {
		if _, ok := sample(t, fams, "nv_inference_count", "model", "nobatch"); ok {
			t.Error("unloaded model nobatch still has metrics")
		}
	}
	for path, code := range map[string]int{"/nope": http.StatusNotFound, MetricsPath: http.StatusMethodNotAllowed} {
		method := http.MethodGet
		if path == MetricsPath {
			method = http.MethodPost
		}
		req, _ := http.NewRequestWithContext(c, method, strings.TrimSuffix(url, MetricsPath)+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("%s %s: %d, want %d", method, path, resp.StatusCode, code)
		}
	}
	// GracefulStop closes the metrics listener and ServeMetrics returns nil.
	h.stopped = true
	if err := h.srv.GracefulStop(c); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeMetrics after stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeMetrics still serving after GracefulStop")
	}
}
