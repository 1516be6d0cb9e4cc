package server

import (
	"sort"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// Triton's answers where the protocol leaves them open (issue 14, item 6).
// Facts from Triton's sources (triton-inference-server/server src/common.cc
// GetModelVersionFromString; core model_lifecycle.cc GetModel; core
// tritonserver.cc TRITONSERVER_ServerModelStatistics; server
// src/grpc/stream_infer_handler.cc):
//   - a version that is not an integer is INVALID_ARG, "version should be an
//     integral value > 0";
//   - no version asked and none ready: NOT_FOUND ("has no available versions");
//     a named version that is not ready: UNAVAILABLE; unknown version: NOT_FOUND;
//   - statistics of an unknown model, one without a ready version, or a version
//     that is not ready: INVALID_ARG ("requested model ... is not available");
//   - every ModelStreamInfer response carries the bool parameter
//     triton_final_response, true on the last response of its request.

// ParamFinalResponse is the stream response parameter that marks the last
// response of a request (always true here: one response per request).
const ParamFinalResponse = "triton_final_response"

// parseVersion reads a request's model version: 0 for "" (the server picks),
// else an integer > 0. Triton's std::stol also takes a sign, leading spaces
// and trailing garbage ("1abc" is 1) and lets 0 through to NotFound; here only
// decimal digits are a version, and 0 is refused as the message says.
func parseVersion(model, version string) (int64, error) {
	if version == "" {
		return 0, nil
	}
	for _, r := range version {
		if r < '0' || r > '9' {
			return 0, status.Errorf(codes.InvalidArgument,
				"model %q: version %q is not a number; a version should be an integral value > 0", model, version)
		}
	}
	n, err := strconv.ParseInt(version, 10, 64)
	if err != nil || n <= 0 {
		return 0, status.Errorf(codes.InvalidArgument,
			"model %q: version %q is out of range; a version should be an integral value > 0", model, version)
	}
	return n, nil
}

// markFinal sets triton_final_response on a stream response: true, since every
// request of a stream gets exactly one response here.
func markFinal(r *pb.ModelInferResponse) {
	if r.Parameters == nil {
		r.Parameters = map[string]*pb.InferParameter{}
	}
	r.Parameters[ParamFinalResponse] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}}
}

// forgetStats drops a model's counters, so that a model unloaded and loaded
// again starts from zero as in Triton, where the statistics live in the model
// object an unload destroys.
func (s *Server) forgetStats(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.stats {
		if k.name == name {
			delete(s.stats, k)
		}
	}
}

// readyModelNames lists the models with a ready version ("none" when none is).
func (s *Server) readyModelNames() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var names []string
	for n, ms := range s.models {
		if ms.latestReady() != nil {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
