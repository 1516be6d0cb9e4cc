package server

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// Triton's codes for a version that is not a number or not > 0 (src/common.cc
// GetModelVersionFromString: INVALID_ARG, "version should be an integral value
// > 0"), in every RPC that takes one.
func TestBadVersionIsInvalidArgument(t *testing.T) {
	h := start(t)
	c := ctx(t)
	for _, v := range []string{"abc", "-1", "0", "1.5", " 1", "1a", "99999999999999999999"} {
		t.Run(fmt.Sprintf("%q", v), func(t *testing.T) {
			_, err := h.c.ModelReady(c, &pb.ModelReadyRequest{Name: "echo", Version: v})
			wantStatus(t, err, codes.InvalidArgument, "integral value > 0")
			_, err = h.c.ModelMetadata(c, &pb.ModelMetadataRequest{Name: "echo", Version: v})
			wantStatus(t, err, codes.InvalidArgument, `model "echo"`, fmt.Sprintf("%q", v))
			_, err = h.c.ModelConfig(c, &pb.ModelConfigRequest{Name: "echo", Version: v})
			wantStatus(t, err, codes.InvalidArgument)
			_, err = h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "echo", Version: v})
			wantStatus(t, err, codes.InvalidArgument)
			r := xReq("echo", []int64{1, 2}, 1, 2)
			r.ModelVersion = v
			_, err = h.c.ModelInfer(c, r)
			wantStatus(t, err, codes.InvalidArgument)
			// Parsed before the model is looked up, as in Triton.
			r.ModelName = "nope"
			_, err = h.c.ModelInfer(c, r)
			wantStatus(t, err, codes.InvalidArgument)
		})
	}
	// Leading zeros are still the number (std::stol reads "01" as 1).
	r := xReq("echo", []int64{1, 2}, 1, 2)
	r.ModelVersion = "01"
	if resp, err := h.c.ModelInfer(c, r); err != nil || resp.ModelVersion != "1" {
		t.Errorf("version 01: %v, %v", resp, err)
	}
}

// Statistics exist only for ready versions (core tritonserver.cc
// TRITONSERVER_ServerModelStatistics): an unknown model, a model with no
// ready version, or a version that is not ready is INVALID_ARG.
func TestStatisticsUnknownIsInvalidArgument(t *testing.T) {
	h := start(t)
	c := ctx(t)
	for _, req := range []*pb.ModelStatisticsRequest{
		{Name: "nope"},
		{Name: "nope", Version: "1"},
		{Name: "echo", Version: "2"},
		{Name: "missingfn"}, // listed, but its only version failed to load
		{Name: "missingfn", Version: "1"},
	} {
		_, err := h.c.ModelStatistics(c, req)
		wantStatus(t, err, codes.InvalidArgument, fmt.Sprintf("%q", req.Name), "not available")
	}
	st, err := h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "echo"})
	if err != nil || len(st.ModelStats) != 1 || st.ModelStats[0].Version != "1" {
		t.Errorf("echo, every ready version: %v %v", st, err)
	}
}

// After an unload, infer, metadata, config and statistics agree with Triton
// (core model_lifecycle.cc GetModel): no version asked gives NotFound ("has no
// available versions"), the unloaded version asked by number Unavailable ("is
// not at ready state"), statistics InvalidArgument; ModelReady is false.
// Loaded again, the model's statistics start from zero.
func TestUnloadThenEverythingAgrees(t *testing.T) {
	h := start(t)
	c := ctx(t)
	for i := 0; i < 3; i++ {
		if _, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.c.RepositoryModelUnload(c, &pb.RepositoryModelUnloadRequest{ModelName: "echo"}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		version string
		code    codes.Code
	}{{"", codes.NotFound}, {"1", codes.Unavailable}} {
		r := xReq("echo", []int64{1, 2}, 1, 2)
		r.ModelVersion = v.version
		_, err := h.c.ModelInfer(c, r)
		wantStatus(t, err, v.code, `model "echo"`, "not ready", "unloaded")
		_, err = h.c.ModelMetadata(c, &pb.ModelMetadataRequest{Name: "echo", Version: v.version})
		wantStatus(t, err, v.code, `model "echo"`, "unloaded")
		_, err = h.c.ModelConfig(c, &pb.ModelConfigRequest{Name: "echo", Version: v.version})
		wantStatus(t, err, v.code, `model "echo"`, "unloaded")
		_, err = h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "echo", Version: v.version})
		wantStatus(t, err, codes.InvalidArgument, `"echo"`, "not available")
		if r, err := h.c.ModelReady(c, &pb.ModelReadyRequest{Name: "echo", Version: v.version}); err != nil || r.Ready {
			t.Errorf("ModelReady version %q after unload: %v %v", v.version, r, err)
		}
	}
	all, err := h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all.ModelStats {
		if m.Name == "echo" {
			t.Errorf("all-model statistics list unloaded echo: %v", m)
		}
	}
	// Unloading it again, or a model never loaded, succeeds and does nothing.
	for _, name := range []string{"echo", "never-loaded"} {
		if _, err := h.c.RepositoryModelUnload(c, &pb.RepositoryModelUnloadRequest{ModelName: name}); err != nil {
			t.Errorf("unload %s: %v", name, err)
		}
	}
	if _, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "echo"}); err != nil {
		t.Fatal(err)
	}
	st, err := h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "echo", Version: "1"})
	if err != nil || len(st.ModelStats) != 1 {
		t.Fatalf("after reload: %v %v", st, err)
	}
	if s := st.ModelStats[0]; s.InferenceCount != 0 || s.ExecutionCount != 0 || s.InferenceStats.Success.Count != 0 || len(s.BatchStats) != 0 {
		t.Errorf("statistics after unload and load are not reset: %v", s)
	}
	if _, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2)); err != nil {
		t.Fatal(err)
	}
	st, _ = h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "echo", Version: "1"})
	if s := st.ModelStats[0]; s.InferenceCount != 1 || s.InferenceStats.Success.Count != 1 {
		t.Errorf("after one request: %v", s)
	}
	// A load of a loaded model (no unload between) keeps the counters.
	if _, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "echo"}); err != nil {
		t.Fatal(err)
	}
	st, _ = h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "echo", Version: "1"})
	if s := st.ModelStats[0]; s.InferenceStats.Success.Count != 1 {
		t.Errorf("after a reload: %v", s)
	}
}

// Every stream response carries triton_final_response (server
// src/grpc/stream_infer_handler.cc sets it on each response it writes): true,
// since each request gets one response, failed ones included.
func TestStreamFinalResponseParameter(t *testing.T) {
	h := start(t)
	c := ctx(t)
	stream, err := h.c.ModelStreamInfer(c)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*pb.ModelInferRequest{xReq("echo", []int64{1, 2}, 1, 2), xReq("nope", []int64{1, 2}, 1, 2), xReq("echo", []int64{1, 3}, 1, 2, 3)}
	for i, r := range reqs {
		r.Id = fmt.Sprint("r", i)
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		m, err := stream.Recv()
		if err != nil {
			break
		}
		n++
		p := m.GetInferResponse().GetParameters()[ParamFinalResponse]
		if b, ok := p.GetParameterChoice().(*pb.InferParameter_BoolParam); !ok || !b.BoolParam {
			t.Errorf("response %q (error %q): %s = %v, want bool true", m.GetInferResponse().GetId(), m.ErrorMessage, ParamFinalResponse, p)
		}
	}
	if n != len(reqs) {
		t.Errorf("%d responses, want %d", n, len(reqs))
	}
	// A unary ModelInfer response does not carry it (Triton sets it on streams only).
	resp, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2))
	if err != nil || resp.Parameters[ParamFinalResponse] != nil {
		t.Errorf("unary response: %v %v", resp.GetParameters(), err)
	}
}
