package server

// The conformance suite: every case runs the same operation against the gRPC
// and the HTTP/REST endpoints of one server and the two answers must agree
// (equal protos once the HTTP JSON is read back with protojson, Google's
// parser, not ours; errors equal in message and in Triton's HTTP code for the
// gRPC code). The reference for what the answers should be is Triton's
// protocol; the tests in server_test.go check those for gRPC, so agreement
// carries them to HTTP.
//
// Adding a case (engineers M1, M2, ...): append to conformanceCases a
//
//	{"what it checks", func(c context.Context, e endpoint) any { return result(e.Call(c, ...)) }},
//
// that returns what both endpoints must agree on: a proto, a value, or
// result(x, err) of both. A case may mutate server state if it restores it;
// it runs on gRPC first, then on HTTP. An operation missing from endpoint is
// one method on each of grpcEndpoint and httpEndpoint (http_client_test.go).

import (
	"context"
	"fmt"
	"net"
	"testing"

	"reflect"
	"sort"
	"strings"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// endpoint is the server's API as either protocol offers it.
type endpoint interface {
	Live(context.Context) (bool, error)
	Ready(context.Context) (bool, error)
	ServerMetadata(context.Context) (*pb.ServerMetadataResponse, error)
	ModelReady(c context.Context, name, version string) (bool, error)
	ModelMetadata(c context.Context, name, version string) (*pb.ModelMetadataResponse, error)
	ModelConfig(c context.Context, name, version string) (*pb.ModelConfig, error)
	Index(c context.Context, ready bool) (*pb.RepositoryIndexResponse, error)
	Load(c context.Context, name string) error
	Unload(c context.Context, name string) error
	Statistics(c context.Context, name, version string) (*pb.ModelStatisticsResponse, error)
	Infer(c context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error)
	SHMStatus(c context.Context, region string) (*pb.SystemSharedMemoryStatusResponse, error)
}

// outcome is what both endpoints must agree on: a value, or an error as
// (Triton's HTTP code, message).
type outcome struct {
	Value any
	Code  int
	Err   string
}

func result(v any, err error) outcome {
	if err != nil {
		var he *httpError
		if asHTTPError(err, &he) {
			return outcome{Code: he.code, Err: he.msg}
		}
		st := status.Convert(err)
		return outcome{Code: httpCode(st.Code()), Err: st.Message()}
	}
	return outcome{Value: v}
}

func errOnly(err error) outcome { return result(nil, err) }

// timeless drops what differs between two reads of the same counters: times.
func timeless(st *pb.ModelStatisticsResponse) *pb.ModelStatisticsResponse {
	if st == nil {
		return nil
	}
	st = proto.Clone(st).(*pb.ModelStatisticsResponse)
	zero := func(d *pb.StatisticDuration) {
		if d != nil {
			d.Ns = 0
		}
	}
	for _, m := range st.ModelStats {
		m.LastInference = 0
		if is := m.InferenceStats; is != nil {
			for _, d := range []*pb.StatisticDuration{is.Success, is.Fail, is.Queue, is.ComputeInput, is.ComputeInfer, is.ComputeOutput, is.CacheHit, is.CacheMiss} {
				zero(d)
			}
		}
		for _, b := range m.BatchStats {
			zero(b.ComputeInput)
			zero(b.ComputeInfer)
			zero(b.ComputeOutput)
		}
	}
	return st
}

// counts are the counters of one version after minus before.
func counts(before, after *pb.ModelStatisticsResponse) map[string]uint64 {
	get := func(r *pb.ModelStatisticsResponse) map[string]uint64 {
		out := map[string]uint64{}
		for _, m := range r.GetModelStats() {
			is := m.GetInferenceStats()
			out["inference_count"] += m.InferenceCount
			out["execution_count"] += m.ExecutionCount
			out["success"] += is.GetSuccess().GetCount()
			out["fail"] += is.GetFail().GetCount()
			out["queue"] += is.GetQueue().GetCount()
			out["compute_infer"] += is.GetComputeInfer().GetCount()
		}
		return out
	}
	b, a := get(before), get(after)
	for k := range a {
		a[k] -= b[k]
	}
	return a
}

var conformanceCases = []struct {
	name string
	run  func(c context.Context, e endpoint) any
}{
	{"live", func(c context.Context, e endpoint) any { return result(e.Live(c)) }},
	{"ready", func(c context.Context, e endpoint) any { return result(e.Ready(c)) }},
	{"server metadata", func(c context.Context, e endpoint) any { return result(e.ServerMetadata(c)) }},
	{"model ready", func(c context.Context, e endpoint) any {
		var out []outcome
		for _, m := range [][2]string{{"echo", ""}, {"echo", "1"}, {"echo", "9"}, {"broken", ""}, {"missingfn", ""}, {"nope", ""}} {
			out = append(out, result(e.ModelReady(c, m[0], m[1])))
		}
		return out
	}},
	{"model metadata", func(c context.Context, e endpoint) any {
		var out []outcome
		for _, m := range [][2]string{{"echo", ""}, {"echo", "1"}, {"nobatch", ""}, {"strings", ""}, {"echo", "9"}, {"nope", ""}, {"broken", ""}} {
			out = append(out, result(e.ModelMetadata(c, m[0], m[1])))
		}
		return out
	}},
	{"model config", func(c context.Context, e endpoint) any {
		var out []outcome
		for _, m := range [][2]string{{"echo", ""}, {"batcher", ""}, {"blocker", "1"}, {"strings", ""}, {"echo", "9"}, {"nope", ""}} {
			out = append(out, result(e.ModelConfig(c, m[0], m[1])))
		}
		return out
	}},
	{"repository index", func(c context.Context, e endpoint) any {
		all, err := e.Index(c, false)
		ready, err2 := e.Index(c, true)
		return []outcome{result(all, err), result(ready, err2)}
	}},
	{"infer", func(c context.Context, e endpoint) any {
		req := xReq("echo", []int64{3, 2}, 1, 2, 3, 4, 5, 6)
		req.Id = "req-7"
		return result(e.Infer(c, req))
	}},
	{"infer one requested output", func(c context.Context, e endpoint) any {
		req := xReq("nobatch", []int64{2}, 1.5, -2)
		req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "SUM"}}
		return result(e.Infer(c, req))
	}},
	{"infer BYTES", func(c context.Context, e endpoint) any {
		req := &pb.ModelInferRequest{ModelName: "strings",
			Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "S", Datatype: "BYTES", Shape: []int64{1, 2}}},
			RawInputContents: [][]byte{encodeBytes("ab", "Cd")}}
		return result(e.Infer(c, req))
	}},
	{"infer errors", func(c context.Context, e endpoint) any {
		bad := func(f func(*pb.ModelInferRequest)) *pb.ModelInferRequest {
			r := xReq("echo", []int64{1, 2}, 1, 2)
			f(r)
			return r
		}
		reqs := []*pb.ModelInferRequest{
			bad(func(r *pb.ModelInferRequest) { r.ModelName = "nope" }),
			bad(func(r *pb.ModelInferRequest) { r.ModelVersion = "9" }),
			bad(func(r *pb.ModelInferRequest) { r.ModelName = "broken" }),
			bad(func(r *pb.ModelInferRequest) { r.Inputs[0].Datatype = "INT32" }),
			bad(func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{1, 3} }),
			bad(func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{2, 2} }), // data for 1 row
			bad(func(r *pb.ModelInferRequest) { r.Inputs[0].Name = "Z" }),
			bad(func(r *pb.ModelInferRequest) {
				r.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "NOPE"}}
			}),
			bad(func(r *pb.ModelInferRequest) {
				r.Inputs[0].Shape = []int64{9, 2}
				r.RawInputContents[0] = make([]byte, 72)
			}),
		}
		var out []outcome
		for _, r := range reqs {
			out = append(out, errOnly(func() error { _, err := e.Infer(c, r); return err }()))
		}
		return out
	}},
	{"statistics after N requests", func(c context.Context, e endpoint) any {
		before, err := e.Statistics(c, "echo", "")
		if err != nil {
			return errOnly(err)
		}
		for i := 0; i < 4; i++ {
			if _, err := e.Infer(c, xReq("echo", []int64{2, 2}, 1, 2, 3, 4)); err != nil {
				return errOnly(err)
			}
		}
		_, failed := e.Infer(c, xReq("echo", []int64{1, 3}, 1, 2, 3))
		after, err := e.Statistics(c, "echo", "1")
		return []any{counts(before, after), errOnly(failed), result(timeless(after).GetModelStats()[0].GetName(), err)}
	}},
	{"statistics shapes and errors", func(c context.Context, e endpoint) any {
		var out []outcome
		for _, m := range [][2]string{{"nobatch", ""}, {"nobatch", "1"}, {"nope", ""}, {"echo", "9"}} {
			st, err := e.Statistics(c, m[0], m[1])
			out = append(out, result(timeless(st), err))
		}
		all, err := e.Statistics(c, "", "")
		names := []string{}
		for _, m := range all.GetModelStats() {
			names = append(names, m.Name+"/"+m.Version)
		}
		return append(out, result(names, err))
	}},
	{"unload and load", func(c context.Context, e endpoint) any {
		var out []outcome
		out = append(out, errOnly(e.Unload(c, "nobatch")))
		out = append(out, result(e.ModelReady(c, "nobatch", "")))
		_, err := e.Infer(c, xReq("nobatch", []int64{2}, 1, 2))
		out = append(out, errOnly(err))
		idx, err := e.Index(c, false)
		out = append(out, result(idx, err))
		out = append(out, errOnly(e.Load(c, "nobatch")))
		out = append(out, result(e.ModelReady(c, "nobatch", "")))
		out = append(out, errOnly(e.Load(c, "nosuchdir")))
		out = append(out, errOnly(e.Load(c, "../x")))
		return out
	}},
	{"shared-memory status", func(c context.Context, e endpoint) any {
		st, err := e.SHMStatus(c, "")
		_, err2 := e.SHMStatus(c, "nope")
		return []outcome{result(st, err), errOnly(err2)}
	}},
}

// startBoth serves the test repository over gRPC and HTTP from one server.
func startBoth(t *testing.T) (*harness, *grpcEndpoint, *httpEndpoint) {
	t.Helper()
	h := start(t)
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.srv.ServeHTTPAPI(hlis) }()
	return h, &grpcEndpoint{c: h.c}, newHTTPEndpoint("http://" + hlis.Addr().String())
}

func TestConformanceGRPCAndHTTPAgree(t *testing.T) {
	_, g, hp := startBoth(t)
	for _, tc := range conformanceCases {
		t.Run(tc.name, func(t *testing.T) {
			c := ctx(t)
			fromGRPC := tc.run(c, g)
			fromHTTP := tc.run(c, hp)
			g, h := canon(fromGRPC), canon(fromHTTP)
			if g != h {
				t.Errorf("gRPC and HTTP disagree:\ngRPC: %s\nHTTP: %s", g, h)
			} else if testing.Verbose() {
				t.Logf("both: %s", g)
			}
		})
	}
}

// Both endpoints count into one set of statistics: requests made over one
// show in the other's ModelStatistics.
func TestConformanceSharedStatistics(t *testing.T) {
	_, g, hp := startBoth(t)
	c := ctx(t)
	before, err := g.Statistics(c, "echo", "1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := hp.Infer(c, xReq("echo", []int64{2, 2}, 1, 2, 3, 4)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Infer(c, xReq("echo", []int64{1, 2}, 1, 2)); err != nil {
		t.Fatal(err)
	}
	for _, e := range []endpoint{g, hp} {
		after, err := e.Statistics(c, "echo", "1")
		if err != nil {
			t.Fatal(err)
		}
		got := counts(before, after)
		if got["success"] != 4 || got["inference_count"] != 7 || got["fail"] != 0 {
			t.Errorf("%T: counts after 3 HTTP and 1 gRPC requests (7 rows): %v, want success 4, inference_count 7", e, got)
		}
	}
}

// canon is a comparable rendering of a case's result; protos by their text
// form (stable within one process, map keys sorted).
func canon(v any) string {
	if m, ok := v.(proto.Message); ok {
		if reflect.ValueOf(m).IsNil() {
			return "<nil>"
		}
		return "{" + prototext.MarshalOptions{}.Format(m) + "}"
	}
	if o, ok := v.(outcome); ok {
		if o.Err != "" || o.Code != 0 {
			return fmt.Sprintf("error(%d %q)", o.Code, o.Err)
		}
		return canon(o.Value)
	}
	rv := reflect.ValueOf(v)
	switch {
	case v == nil:
		return "<nil>"
	case rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = canon(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case rv.Kind() == reflect.Map:
		var parts []string
		for _, k := range rv.MapKeys() {
			parts = append(parts, fmt.Sprintf("%v: %s", k, canon(rv.MapIndex(k).Interface())))
		}
		sort.Strings(parts)
		return "map[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf("%#v", v)
}
