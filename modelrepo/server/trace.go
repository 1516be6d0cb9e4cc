package server

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// The trace and logging extensions (Triton's protocol/extension_trace.md and
// extension_logging.md). The embedded server keeps the settings in memory and reports them as
// Triton does, but neither traces requests nor changes its logging by them (its log goes where
// WithLogger says); every update that would have an effect in Triton is logged as ignored.

// Triton's global trace settings at startup (tritonserver --trace-config defaults).
var defaultTraceSettings = map[string][]string{
	"trace_file":    {""},
	"trace_level":   {"OFF"},
	"trace_rate":    {"1000"},
	"trace_count":   {"-1"},
	"log_frequency": {"0"},
	"trace_mode":    {"triton"},
}

// Triton's log settings at startup (tritonserver --log-* defaults).
func defaultLogSettings() map[string]*pb.LogSettingsResponse_SettingValue {
	b := func(v bool) *pb.LogSettingsResponse_SettingValue {
		return &pb.LogSettingsResponse_SettingValue{ParameterChoice: &pb.LogSettingsResponse_SettingValue_BoolParam{BoolParam: v}}
	}
	str := func(v string) *pb.LogSettingsResponse_SettingValue {
		return &pb.LogSettingsResponse_SettingValue{ParameterChoice: &pb.LogSettingsResponse_SettingValue_StringParam{StringParam: v}}
	}
	return map[string]*pb.LogSettingsResponse_SettingValue{
		"log_file": str(""), "log_info": b(true), "log_warnings": b(true), "log_errors": b(true),
		"log_verbose_level": {ParameterChoice: &pb.LogSettingsResponse_SettingValue_Uint32Param{Uint32Param: 0}},
		"log_format":        str("default"),
	}
}

// runtimeSettings holds what TraceSetting and LogSettings set.
type runtimeSettings struct {
	mu         sync.Mutex
	trace      map[string][]string            // global; nil until first used
	modelTrace map[string]map[string][]string // per model: only the settings it overrides
	logs       map[string]*pb.LogSettingsResponse_SettingValue
}

// checkTraceSetting validates one trace setting's values (Triton's accepted forms).
func checkTraceSetting(key string, vals []string) error {
	one := func() (string, error) {
		if len(vals) != 1 {
			return "", invalidf("trace setting %q takes one value, got %d", key, len(vals))
		}
		return vals[0], nil
	}
	switch key {
	case "trace_level":
		for _, v := range vals {
			if v != "OFF" && v != "TIMESTAMPS" && v != "TENSORS" {
				return invalidf("trace setting trace_level: %q is not OFF, TIMESTAMPS or TENSORS", v)
			}
		}
		return nil
	case "trace_rate", "trace_count", "log_frequency":
		v, err := one()
		if err != nil {
			return err
		}
		n, perr := strconv.ParseInt(v, 10, 32)
		if perr != nil || n < -1 || (n == -1 && key != "trace_count") {
			return invalidf("trace setting %s: %q is not a valid count", key, v)
		}
		return nil
	case "trace_file":
		_, err := one()
		return err
	case "trace_mode":
		v, err := one()
		if err == nil && v != "triton" && v != "opentelemetry" {
			err = invalidf("trace setting trace_mode: %q is not triton or opentelemetry", v)
		}
		return err
	}
	keys := make([]string, 0, len(defaultTraceSettings))
	for k := range defaultTraceSettings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return invalidf("unknown trace setting %q (settings: %s)", key, strings.Join(keys, ", "))
}

// TraceSetting updates and reports the global trace settings, or a model's (model_name):
// a model's settings start as copies of the global ones, and a setting given with no value
// falls back to the global value again. The embedded server records no traces.
func (v *service) TraceSetting(_ context.Context, req *pb.TraceSettingRequest) (*pb.TraceSettingResponse, error) {
	s := v.s
	if req.ModelName != "" {
		s.mu.RLock()
		known := s.models[req.ModelName] != nil
		s.mu.RUnlock()
		if !known {
			return nil, status.Errorf(codes.NotFound, "trace settings: unknown model %q (models: %s)", req.ModelName, s.modelNames())
		}
	}
	for key, sv := range req.Settings {
		if len(sv.GetValue()) == 0 {
			if _, known := defaultTraceSettings[key]; !known {
				return nil, checkTraceSetting(key, nil)
			}
			continue
		}
		if err := checkTraceSetting(key, sv.GetValue()); err != nil {
			return nil, err
		}
	}
	st := &s.settings
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.trace == nil {
		st.trace = map[string][]string{}
		for k, vals := range defaultTraceSettings {
			st.trace[k] = vals
		}
		st.modelTrace = map[string]map[string][]string{}
	}
	target := st.trace
	if req.ModelName != "" {
		if st.modelTrace[req.ModelName] == nil {
			st.modelTrace[req.ModelName] = map[string][]string{}
		}
		target = st.modelTrace[req.ModelName]
	}
	for key, sv := range req.Settings {
		switch {
		case len(sv.GetValue()) > 0:
			target[key] = append([]string(nil), sv.GetValue()...)
		case req.ModelName != "":
			delete(target, key) // back to the global value
		default:
			target[key] = defaultTraceSettings[key]
		}
	}
	if len(req.Settings) > 0 {
		s.log.Printf("trace settings of %s updated (%s); kept and reported only: the embedded server does not trace requests",
			traceScope(req.ModelName), settingKeys(req.Settings))
	}
	resp := &pb.TraceSettingResponse{Settings: map[string]*pb.TraceSettingResponse_SettingValue{}}
	for k, vals := range st.trace {
		if mv, ok := st.modelTrace[req.ModelName][k]; ok && req.ModelName != "" {
			vals = mv
		}
		resp.Settings[k] = &pb.TraceSettingResponse_SettingValue{Value: append([]string(nil), vals...)}
	}
	return resp, nil
}

func traceScope(model string) string {
	if model == "" {
		return "the server"
	}
	return fmt.Sprintf("model %q", model)
}

func settingKeys[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// checkLogSetting converts one requested log setting, checking its type as Triton does.
func checkLogSetting(key string, sv *pb.LogSettingsRequest_SettingValue) (*pb.LogSettingsResponse_SettingValue, error) {
	out := &pb.LogSettingsResponse_SettingValue{}
	switch c := sv.GetParameterChoice().(type) {
	case *pb.LogSettingsRequest_SettingValue_BoolParam:
		out.ParameterChoice = &pb.LogSettingsResponse_SettingValue_BoolParam{BoolParam: c.BoolParam}
	case *pb.LogSettingsRequest_SettingValue_Uint32Param:
		out.ParameterChoice = &pb.LogSettingsResponse_SettingValue_Uint32Param{Uint32Param: c.Uint32Param}
	case *pb.LogSettingsRequest_SettingValue_StringParam:
		out.ParameterChoice = &pb.LogSettingsResponse_SettingValue_StringParam{StringParam: c.StringParam}
	default:
		return nil, invalidf("log setting %q has no value", key)
	}
	want := map[string]string{"log_file": "string", "log_info": "bool", "log_warnings": "bool", "log_errors": "bool",
		"log_verbose_level": "uint32", "log_format": "string"}[key]
	var got string
	switch out.ParameterChoice.(type) {
	case *pb.LogSettingsResponse_SettingValue_BoolParam:
		got = "bool"
	case *pb.LogSettingsResponse_SettingValue_Uint32Param:
		got = "uint32"
	default:
		got = "string"
	}
	switch {
	case want == "":
		return nil, invalidf("unknown log setting %q (settings: log_errors, log_file, log_format, log_info, log_verbose_level, log_warnings)", key)
	case got != want:
		return nil, invalidf("log setting %s must be a %s (%s_param), got a %s", key, want, want, got)
	case key == "log_format" && out.GetStringParam() != "default" && out.GetStringParam() != "ISO8601":
		return nil, invalidf("log setting log_format: %q is not default or ISO8601", out.GetStringParam())
	}
	return out, nil
}

// LogSettings updates and reports the log settings. They are kept and reported; the embedded
// server's log is what WithLogger (agiqa serve -v) chose, whatever they say.
func (v *service) LogSettings(_ context.Context, req *pb.LogSettingsRequest) (*pb.LogSettingsResponse, error) {
	s := v.s
	updates := map[string]*pb.LogSettingsResponse_SettingValue{}
	for key, sv := range req.Settings {
		val, err := checkLogSetting(key, sv)
		if err != nil {
			return nil, err
		}
		updates[key] = val
	}
	st := &s.settings
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.logs == nil {
		st.logs = defaultLogSettings()
	}
	for k, val := range updates {
		st.logs[k] = val
	}
	if len(updates) > 0 {
		s.log.Printf("log settings updated (%s); kept and reported only: the embedded server's log does not follow them", settingKeys(updates))
	}
	resp := &pb.LogSettingsResponse{Settings: map[string]*pb.LogSettingsResponse_SettingValue{}}
	for k, val := range st.logs {
		resp.Settings[k] = &pb.LogSettingsResponse_SettingValue{ParameterChoice: val.ParameterChoice}
	}
	return resp, nil
}
