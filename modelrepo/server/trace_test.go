package server

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// CUDA shared memory is answered as by Triton built without GPU support (grpc_server.cc without
// TRITON_ENABLE_GPU): status lists no region, unregister (one or all) succeeds, register is
// InvalidArgument "... GPUs not supported".
func TestCudaSharedMemoryWithoutGPU(t *testing.T) {
	h := start(t)
	c := ctx(t)
	st, err := h.c.CudaSharedMemoryStatus(c, &pb.CudaSharedMemoryStatusRequest{})
	if err != nil || len(st.Regions) != 0 {
		t.Errorf("status: %v, %v; want no regions", st, err)
	}
	_, err = h.c.CudaSharedMemoryStatus(c, &pb.CudaSharedMemoryStatusRequest{Name: "g"})
	wantStatus(t, err, codes.NotFound, `"g"`)
	_, err = h.c.CudaSharedMemoryRegister(c, &pb.CudaSharedMemoryRegisterRequest{Name: "g", RawHandle: make([]byte, 64), ByteSize: 16})
	wantStatus(t, err, codes.InvalidArgument, "failed to register CUDA shared memory region: 'g', GPUs not supported")
	for _, name := range []string{"", "g"} {
		if _, err := h.c.CudaSharedMemoryUnregister(c, &pb.CudaSharedMemoryUnregisterRequest{Name: name}); err != nil {
			t.Errorf("unregister %q: %v", name, err)
		}
	}
}

func traceValues(resp *pb.TraceSettingResponse) map[string]string {
	out := map[string]string{}
	for k, v := range resp.GetSettings() {
		out[k] = strings.Join(v.GetValue(), ",")
	}
	return out
}

func traceReq(model string, kv ...string) *pb.TraceSettingRequest {
	req := &pb.TraceSettingRequest{ModelName: model, Settings: map[string]*pb.TraceSettingRequest_SettingValue{}}
	for i := 0; i+1 < len(kv); i += 2 {
		sv := &pb.TraceSettingRequest_SettingValue{}
		if kv[i+1] != "" {
			sv.Value = strings.Split(kv[i+1], ",")
		}
		req.Settings[kv[i]] = sv
	}
	return req
}

// TraceSetting keeps and reports settings as Triton's trace extension describes: Triton's
// defaults at first, only the given settings change, a model's settings start from the global
// ones and a setting sent with no value falls back to the global value. Nothing is traced here,
// and the log says so.
func TestTraceSetting(t *testing.T) {
	logs := &syncBuffer{}
	h := start(t, WithLogger(logs))
	c := ctx(t)
	resp, err := h.c.TraceSetting(c, traceReq(""))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"trace_file": "", "trace_level": "OFF", "trace_rate": "1000", "trace_count": "-1", "log_frequency": "0", "trace_mode": "triton"}
	if got := traceValues(resp); len(got) != len(want) {
		t.Errorf("defaults %v, want %v", got, want)
	}
	for k, v := range want {
		if got := traceValues(resp)[k]; got != v {
			t.Errorf("default %s = %q, want %q", k, got, v)
		}
	}
	if resp, err = h.c.TraceSetting(c, traceReq("", "trace_level", "TIMESTAMPS,TENSORS", "trace_rate", "10")); err != nil {
		t.Fatal(err)
	}
	if got := traceValues(resp); got["trace_level"] != "TIMESTAMPS,TENSORS" || got["trace_rate"] != "10" || got["trace_count"] != "-1" {
		t.Errorf("after global update: %v", got)
	}
	if resp, err = h.c.TraceSetting(c, traceReq("echo", "trace_rate", "5")); err != nil {
		t.Fatal(err)
	}
	if got := traceValues(resp); got["trace_rate"] != "5" || got["trace_level"] != "TIMESTAMPS,TENSORS" {
		t.Errorf("echo's settings: %v", got)
	}
	if resp, _ = h.c.TraceSetting(c, traceReq("")); traceValues(resp)["trace_rate"] != "10" {
		t.Errorf("a model's setting changed the global one: %v", traceValues(resp))
	}
	if resp, _ = h.c.TraceSetting(c, traceReq("echo", "trace_rate", "")); traceValues(resp)["trace_rate"] != "10" {
		t.Errorf("cleared model setting should be the global 10: %v", traceValues(resp))
	}
	_, err = h.c.TraceSetting(c, traceReq("", "trace_colour", "red"))
	wantStatus(t, err, codes.InvalidArgument, `"trace_colour"`)
	_, err = h.c.TraceSetting(c, traceReq("", "trace_level", "LOUD"))
	wantStatus(t, err, codes.InvalidArgument, "trace_level", `"LOUD"`)
	_, err = h.c.TraceSetting(c, traceReq("", "trace_rate", "often"))
	wantStatus(t, err, codes.InvalidArgument, "trace_rate", `"often"`)
	_, err = h.c.TraceSetting(c, traceReq("nosuchmodel", "trace_rate", "1"))
	wantStatus(t, err, codes.NotFound, `"nosuchmodel"`)
	if !strings.Contains(logs.String(), "does not trace requests") {
		t.Errorf("log does not say the settings do nothing:\n%s", logs.String())
	}
}

func logValue(v *pb.LogSettingsResponse_SettingValue) any {
	switch c := v.GetParameterChoice().(type) {
	case *pb.LogSettingsResponse_SettingValue_BoolParam:
		return c.BoolParam
	case *pb.LogSettingsResponse_SettingValue_Uint32Param:
		return c.Uint32Param
	case *pb.LogSettingsResponse_SettingValue_StringParam:
		return c.StringParam
	}
	return nil
}

// LogSettings reports Triton's log settings (extension_logging.md: log_file, log_info,
// log_warnings, log_errors, log_verbose_level, log_format), updates only those given, checks
// their types, and says in the log that the embedded server's logging does not follow them.
func TestLogSettings(t *testing.T) {
	logs := &syncBuffer{}
	h := start(t, WithLogger(logs))
	c := ctx(t)
	resp, err := h.c.LogSettings(c, &pb.LogSettingsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"log_file": "", "log_info": true, "log_warnings": true, "log_errors": true, "log_verbose_level": uint32(0), "log_format": "default"}
	if len(resp.Settings) != len(want) {
		t.Errorf("settings %v, want the %d of Triton", resp.Settings, len(want))
	}
	for k, v := range want {
		if got := logValue(resp.Settings[k]); got != v {
			t.Errorf("default %s = %v, want %v", k, got, v)
		}
	}
	resp, err = h.c.LogSettings(c, &pb.LogSettingsRequest{Settings: map[string]*pb.LogSettingsRequest_SettingValue{
		"log_verbose_level": {ParameterChoice: &pb.LogSettingsRequest_SettingValue_Uint32Param{Uint32Param: 2}},
		"log_format":        {ParameterChoice: &pb.LogSettingsRequest_SettingValue_StringParam{StringParam: "ISO8601"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if logValue(resp.Settings["log_verbose_level"]) != uint32(2) || logValue(resp.Settings["log_format"]) != "ISO8601" || logValue(resp.Settings["log_info"]) != true {
		t.Errorf("after update: %v", resp.Settings)
	}
	for key, sv := range map[string]*pb.LogSettingsRequest_SettingValue{
		"log_info":   {ParameterChoice: &pb.LogSettingsRequest_SettingValue_StringParam{StringParam: "yes"}},
		"log_format": {ParameterChoice: &pb.LogSettingsRequest_SettingValue_StringParam{StringParam: "xml"}},
		"log_color":  {ParameterChoice: &pb.LogSettingsRequest_SettingValue_BoolParam{BoolParam: true}},
	} {
		_, err := h.c.LogSettings(c, &pb.LogSettingsRequest{Settings: map[string]*pb.LogSettingsRequest_SettingValue{key: sv}})
		wantStatus(t, err, codes.InvalidArgument, key)
	}
	if !strings.Contains(logs.String(), "log does not follow them") {
		t.Errorf("log does not say the settings do nothing:\n%s", logs.String())
	}
}
