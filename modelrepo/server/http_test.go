package server

// HTTP-only behaviour: JSON tensors, the binary-data extension's headers, and
// Triton's answers to bad HTTP input (400 naming the tensor; the paths,
// codes and messages cited are Triton's server src/http_server.cc).

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, e *httpEndpoint, path string, hdr http.Header, body []byte) ([]byte, http.Header, error) {
	t.Helper()
	return e.do(ctx(t), http.MethodPost, path, hdr, body)
}

func TestHTTPInferJSONAndMixedOutputs(t *testing.T) {
	_, _, e := startBoth(t)
	// Y as JSON, SUM in binary: the binary section follows the JSON header.
	body := `{"id":"a1","inputs":[{"name":"X","shape":[2,2],"datatype":"FP32","data":[[1.5,2],[3,-4.25]]}],
		"outputs":[{"name":"Y"},{"name":"SUM","parameters":{"binary_data":true}}]}`
	b, h, err := post(t, e, "/v2/models/echo/infer", nil, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(h.Get(HeaderInferenceContentLength))
	if err != nil || h.Get("Content-Type") != "application/octet-stream" || n+8 != len(b) {
		t.Fatalf("headers %v for a %d-byte body: want octet-stream and a JSON length leaving 8 bytes", h, len(b))
	}
	var r struct {
		ID, ModelName, ModelVersion string
		Outputs                     []struct {
			Name       string
			Shape      []int64
			Datatype   string
			Parameters map[string]any
			Data       []float64
		}
	}
	if err := json.Unmarshal(b[:n], &r); err != nil {
		t.Fatal(err)
	}
	// Expected values: echo copies X to Y and sums each row (1.5+2, 3-4.25).
	y := r.Outputs[0]
	if r.ID != "a1" || len(r.Outputs) != 2 || y.Name != "Y" || y.Datatype != "FP32" ||
		!equalF64(y.Data, []float64{1.5, 2, 3, -4.25}) || len(y.Parameters) != 0 {
		t.Errorf("JSON output: %+v", r)
	}
	if s := r.Outputs[1]; s.Name != "SUM" || s.Parameters["binary_data_size"] != 8.0 || s.Data != nil {
		t.Errorf("binary output: %+v", s)
	}
	sums := []float32{math.Float32frombits(le32(b[n:])), math.Float32frombits(le32(b[n+4:]))}
	if sums[0] != 3.5 || sums[1] != -1.25 {
		t.Errorf("SUM = %v, want [3.5 -1.25]", sums)
	}
	// Without binary outputs the answer is plain JSON, no length header.
	b, h, err = post(t, e, "/v2/models/strings/infer", nil,
		[]byte(`{"inputs":[{"name":"S","shape":[1,2],"datatype":"BYTES","data":["hi","Yo"]}]}`))
	if err != nil || h.Get(HeaderInferenceContentLength) != "" || h.Get("Content-Type") != "application/json" ||
		!strings.Contains(string(b), `"data":["HI","YO"]`) {
		t.Errorf("BYTES as JSON: %s %v %v", b, h, err)
	}
}

func equalF64(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestHTTPBadInput(t *testing.T) {
	_, _, e := startBoth(t)
	bin := func(hdr string, data []byte) (http.Header, []byte) {
		return http.Header{HeaderInferenceContentLength: {strconv.Itoa(len(hdr))}}, append([]byte(hdr), data...)
	}
	xBin := func(size int) string {
		return `{"inputs":[{"name":"X","shape":[2,2],"datatype":"FP32","parameters":{"binary_data_size":` + strconv.Itoa(size) + `}}]}`
	}
	short, shortBody := bin(xBin(16), fp32Raw(1, 2))
	long, longBody := bin(xBin(8), fp32Raw(1, 2, 3, 4))
	mism, mismBody := bin(xBin(8), fp32Raw(1, 2))
	for _, tc := range []struct {
		name string
		path string
		hdr  http.Header
		body string
		code int
		subs []string
	}{
		{"malformed JSON", "/v2/models/echo/infer", nil, `{"inputs":[{"name":"X",`, 400, []string{"malformed JSON", `"echo"`}},
		{"field of the wrong type", "/v2/models/echo/infer", nil, `{"inputs":[{"name":"X","shape":"2","datatype":"FP32","data":[1,2]}]}`, 400, []string{`input "X"`, "shape"}},
		{"binary section shorter than its size", "/v2/models/echo/infer", short, string(shortBody), 400, []string{`input "X"`, "expecting 8 additional bytes", `"echo"`}},
		{"bytes left after the binary sections", "/v2/models/echo/infer", long, string(longBody), 400, []string{"unexpected additional input data", "8 bytes"}},
		{"binary size not the shape's", "/v2/models/echo/infer", mism, string(mismBody), 400, []string{`input "X"`}},
		{"JSON data not the shape's", "/v2/models/echo/infer", nil, `{"inputs":[{"name":"X","shape":[1,2],"datatype":"FP32","data":[1,2,3]}]}`, 400, []string{`input "X"`, "3 elements", "needs 2"}},
		{"JSON element of the wrong type", "/v2/models/echo/infer", nil, `{"inputs":[{"name":"X","shape":[1,2],"datatype":"FP32","data":[1,"a"]}]}`, 400, []string{`input "X"`, "data[1]"}},
		{"data and binary both", "/v2/models/echo/infer", nil, `{"inputs":[{"name":"X","shape":[1,2],"datatype":"FP32","data":[1,2],"parameters":{"binary_data_size":8}}]}`, 400, []string{`input "X"`, "exactly one of"}},
		{"header length past the body", "/v2/models/echo/infer", http.Header{HeaderInferenceContentLength: {"999"}}, `{"inputs":[]}`, 400, []string{HeaderInferenceContentLength}},
		{"reserved parameter", "/v2/models/echo/infer", nil, `{"parameters":{"triton_x":1},"inputs":[]}`, 400, []string{"triton_"}},
		{"no inputs array", "/v2/models/echo/infer", nil, `{}`, 400, []string{"'inputs'"}},
		{"unknown model", "/v2/models/nope/infer", nil, `{"inputs":[{"name":"X","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`, 404, []string{`unknown model "nope"`}},
		{"unknown path", "/v2/modelz", nil, ``, 404, []string{"Not Found"}},
		{"unknown encoding", "/v2/models/echo/infer", http.Header{"Content-Encoding": {"br"}}, `{}`, 501, []string{"compression"}},
		{"malformed load body", "/v2/repository/models/echo/load", nil, `{"parameters":`, 400, []string{"load of model", "malformed JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := post(t, e, tc.path, tc.hdr, []byte(tc.body))
			var he *httpError
			if !errors.As(err, &he) || he.code != tc.code {
				t.Fatalf("got %v, want HTTP %d", err, tc.code)
			}
			for _, s := range tc.subs {
				if !strings.Contains(he.msg, s) {
					t.Errorf("message %q lacks %q", he.msg, s)
				}
			}
		})
	}
	// Triton answers a method a path does not take with 405.
	if _, _, err := e.do(ctx(t), http.MethodGet, "/v2/models/echo/infer", nil, nil); !isHTTP(err, 405) {
		t.Errorf("GET infer: %v, want 405", err)
	}
}

func isHTTP(err error, code int) bool {
	var he *httpError
	return errors.As(err, &he) && he.code == code
}

func TestHTTPGzipRequestAndNumbersInConfig(t *testing.T) {
	_, _, e := startBoth(t)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(`{"inputs":[{"name":"X","shape":[2],"datatype":"FP32","data":[2,5]}],"outputs":[{"name":"SUM"}]}`))
	zw.Close()
	b, _, err := post(t, e, "/v2/models/nobatch/infer", http.Header{"Content-Encoding": {"gzip"}}, z.Bytes())
	if err != nil || !strings.Contains(string(b), `"data":[7]`) {
		t.Errorf("gzip request: %s %v", b, err)
	}
	// Triton's config JSON carries 64-bit fields as numbers (ModelConfigToJson).
	b, _, err = e.do(ctx(t), http.MethodGet, "/v2/models/batcher/config", nil, nil)
	for _, want := range []string{`"max_queue_delay_microseconds":2000000`, `"dims":[2]`, `"data_type":"TYPE_FP32"`, `"max_batch_size":8`} {
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("config %s lacks %s (%v)", b, want, err)
		}
	}
}

func TestHTTPGracefulStopDrainsInFlight(t *testing.T) {
	h, _, e := startBoth(t)
	g := newGate(t, 77)
	done := make(chan error, 1)
	go func() {
		_, _, err := e.do(context.Background(), http.MethodPost, "/v2/models/blocker/infer", nil,
			[]byte(`{"inputs":[{"name":"X","shape":[1,2],"datatype":"FP32","data":[77,1]}]}`))
		done <- err
	}()
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the model")
	}
	stopped := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- h.srv.GracefulStop(c)
	}()
	h.stopped = true
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("GracefulStop returned (%v) with an HTTP request in flight", err)
	default:
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Errorf("in-flight HTTP request: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("GracefulStop: %v", err)
	}
}
