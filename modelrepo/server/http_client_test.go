package server

// The two endpoint clients of the conformance suite. httpEndpoint is written
// from the KServe v2 REST spec and Triton's binary-data extension, not from
// the server's code: it sends inputs as binary sections, asks for binary
// outputs, and reads every JSON answer back with protojson (Google's parser)
// into the gRPC message of the same operation.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

type grpcEndpoint struct{ c pb.GRPCInferenceServiceClient }

func (g *grpcEndpoint) Live(c context.Context) (bool, error) {
	r, err := g.c.ServerLive(c, &pb.ServerLiveRequest{})
	return r.GetLive(), err
}

func (g *grpcEndpoint) Ready(c context.Context) (bool, error) {
	r, err := g.c.ServerReady(c, &pb.ServerReadyRequest{})
	return r.GetReady(), err
}

func (g *grpcEndpoint) ServerMetadata(c context.Context) (*pb.ServerMetadataResponse, error) {
	return g.c.ServerMetadata(c, &pb.ServerMetadataRequest{})
}

func (g *grpcEndpoint) ModelReady(c context.Context, name, version string) (bool, error) {
	r, err := g.c.ModelReady(c, &pb.ModelReadyRequest{Name: name, Version: version})
	return r.GetReady(), err
}

func (g *grpcEndpoint) ModelMetadata(c context.Context, name, version string) (*pb.ModelMetadataResponse, error) {
	return g.c.ModelMetadata(c, &pb.ModelMetadataRequest{Name: name, Version: version})
}

func (g *grpcEndpoint) ModelConfig(c context.Context, name, version string) (*pb.ModelConfig, error) {
	r, err := g.c.ModelConfig(c, &pb.ModelConfigRequest{Name: name, Version: version})
	return r.GetConfig(), err
}

func (g *grpcEndpoint) Index(c context.Context, ready bool) (*pb.RepositoryIndexResponse, error) {
	return g.c.RepositoryIndex(c, &pb.RepositoryIndexRequest{Ready: ready})
}

func (g *grpcEndpoint) Load(c context.Context, name string) error {
	_, err := g.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: name})
	return err
}

func (g *grpcEndpoint) Unload(c context.Context, name string) error {
	_, err := g.c.RepositoryModelUnload(c, &pb.RepositoryModelUnloadRequest{ModelName: name})
	return err
}

func (g *grpcEndpoint) Statistics(c context.Context, name, version string) (*pb.ModelStatisticsResponse, error) {
	return g.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: name, Version: version})
}

func (g *grpcEndpoint) Infer(c context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	return g.c.ModelInfer(c, req)
}

func (g *grpcEndpoint) SHMStatus(c context.Context, region string) (*pb.SystemSharedMemoryStatusResponse, error) {
	return g.c.SystemSharedMemoryStatus(c, &pb.SystemSharedMemoryStatusRequest{Name: region})
}

// httpError is a non-2xx answer: its code and the "error" of its body.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.msg) }

func asHTTPError(err error, target **httpError) bool { return errors.As(err, target) }

type httpEndpoint struct {
	base string
	c    *http.Client
}

func newHTTPEndpoint(base string) *httpEndpoint { return &httpEndpoint{base: base, c: &http.Client{}} }

// do sends a request and returns the 200 answer's body and headers; any
// other status is an *httpError carrying the body's "error".
func (e *httpEndpoint) do(c context.Context, method, path string, hdr http.Header, body []byte) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(c, method, e.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := e.c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error *string `json:"error"`
		}
		if len(b) == 0 {
			return nil, resp.Header, &httpError{code: resp.StatusCode}
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == nil {
			return nil, nil, fmt.Errorf("HTTP %d with a body that is not {\"error\": ...}: %q", resp.StatusCode, b)
		}
		return nil, resp.Header, &httpError{code: resp.StatusCode, msg: *eb.Error}
	}
	return b, resp.Header, nil
}

func (e *httpEndpoint) getJSON(c context.Context, path string, m proto.Message) error {
	b, _, err := e.do(c, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	return protojson.Unmarshal(b, m)
}

func modelPath(name, version string) string {
	p := "/v2/models/" + url.PathEscape(name)
	if version != "" {
		p += "/versions/" + url.PathEscape(version)
	}
	return p
}

// health is true on 200, false on 400 (KServe v2: the answer is the status).
func (e *httpEndpoint) health(c context.Context, path string) (bool, error) {
	_, _, err := e.do(c, http.MethodGet, path, nil, nil)
	var he *httpError
	if errors.As(err, &he) && he.code == http.StatusBadRequest {
		return false, nil
	}
	return err == nil, err
}

func (e *httpEndpoint) Live(c context.Context) (bool, error)  { return e.health(c, "/v2/health/live") }
func (e *httpEndpoint) Ready(c context.Context) (bool, error) { return e.health(c, "/v2/health/ready") }

func (e *httpEndpoint) ServerMetadata(c context.Context) (*pb.ServerMetadataResponse, error) {
	m := &pb.ServerMetadataResponse{}
	return m, e.getJSON(c, "/v2", m)
}

func (e *httpEndpoint) ModelReady(c context.Context, name, version string) (bool, error) {
	return e.health(c, modelPath(name, version)+"/ready")
}

func (e *httpEndpoint) ModelMetadata(c context.Context, name, version string) (*pb.ModelMetadataResponse, error) {
	m := &pb.ModelMetadataResponse{}
	if err := e.getJSON(c, modelPath(name, version), m); err != nil {
		return nil, err
	}
	return m, nil
}

func (e *httpEndpoint) ModelConfig(c context.Context, name, version string) (*pb.ModelConfig, error) {
	m := &pb.ModelConfig{}
	if err := e.getJSON(c, modelPath(name, version)+"/config", m); err != nil {
		return nil, err
	}
	return m, nil
}

func (e *httpEndpoint) Index(c context.Context, ready bool) (*pb.RepositoryIndexResponse, error) {
	b, _, err := e.do(c, http.MethodPost, "/v2/repository/index", nil, []byte(`{"ready":`+strconv.FormatBool(ready)+`}`))
	if err != nil {
		return nil, err
	}
	// The answer is a bare array of the gRPC message's "models".
	m := &pb.RepositoryIndexResponse{}
	return m, protojson.Unmarshal(append(append([]byte(`{"models":`), b...), '}'), m)
}

func (e *httpEndpoint) Load(c context.Context, name string) error {
	_, _, err := e.do(c, http.MethodPost, "/v2/repository/models/"+url.PathEscape(name)+"/load", nil, nil)
	return err
}

func (e *httpEndpoint) Unload(c context.Context, name string) error {
	_, _, err := e.do(c, http.MethodPost, "/v2/repository/models/"+url.PathEscape(name)+"/unload", nil, nil)
	return err
}

func (e *httpEndpoint) Statistics(c context.Context, name, version string) (*pb.ModelStatisticsResponse, error) {
	p := "/v2/models/stats"
	if name != "" {
		p = modelPath(name, version) + "/stats"
	}
	m := &pb.ModelStatisticsResponse{}
	if err := e.getJSON(c, p, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (e *httpEndpoint) SHMStatus(c context.Context, region string) (*pb.SystemSharedMemoryStatusResponse, error) {
	p := "/v2/systemsharedmemory/status"
	if region != "" {
		p = "/v2/systemsharedmemory/region/" + url.PathEscape(region) + "/status"
	}
	b, _, err := e.do(c, http.MethodGet, p, nil, nil)
	if err != nil {
		return nil, err
	}
	var regions []json.RawMessage
	if err := json.Unmarshal(b, &regions); err != nil {
		return nil, err
	}
	m := &pb.SystemSharedMemoryStatusResponse{Regions: map[string]*pb.SystemSharedMemoryStatusResponse_RegionStatus{}}
	for _, r := range regions {
		rs := &pb.SystemSharedMemoryStatusResponse_RegionStatus{}
		if err := protojson.Unmarshal(r, rs); err != nil {
			return nil, err
		}
		m.Regions[rs.Name] = rs
	}
	return m, nil
}

// Infer sends req's raw inputs as binary sections and asks for every output
// in binary, so the answer compares byte for byte with gRPC's.
func (e *httpEndpoint) Infer(c context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	type jin struct {
		Name       string         `json:"name"`
		Shape      []int64        `json:"shape"`
		Datatype   string         `json:"datatype"`
		Parameters map[string]any `json:"parameters"`
	}
	type jout struct {
		Name       string         `json:"name"`
		Parameters map[string]any `json:"parameters"`
	}
	hdr := struct {
		ID         string         `json:"id,omitempty"`
		Parameters map[string]any `json:"parameters"`
		Inputs     []jin          `json:"inputs"`
		Outputs    []jout         `json:"outputs,omitempty"`
	}{ID: req.Id, Parameters: map[string]any{"binary_data_output": true}}
	var bin []byte
	for i, in := range req.Inputs {
		hdr.Inputs = append(hdr.Inputs, jin{Name: in.Name, Shape: in.Shape, Datatype: in.Datatype,
			Parameters: map[string]any{"binary_data_size": len(req.RawInputContents[i])}})
		bin = append(bin, req.RawInputContents[i]...)
	}
	for _, o := range req.Outputs {
		hdr.Outputs = append(hdr.Outputs, jout{Name: o.Name, Parameters: map[string]any{"binary_data": true}})
	}
	j, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	h := http.Header{HeaderInferenceContentLength: {strconv.Itoa(len(j))}, "Content-Type": {"application/octet-stream"}}
	body, rh, err := e.do(c, http.MethodPost, modelPath(req.ModelName, req.ModelVersion)+"/infer", h, append(j, bin...))
	if err != nil {
		return nil, err
	}
	return decodeHTTPInferResponse(body, rh)
}

// decodeHTTPInferResponse reads a KServe v2 response with binary outputs
// into the gRPC message.
func decodeHTTPInferResponse(body []byte, h http.Header) (*pb.ModelInferResponse, error) {
	n := len(body)
	if v := h.Get(HeaderInferenceContentLength); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n > len(body) {
			return nil, fmt.Errorf("bad %s %q for a %d-byte body", HeaderInferenceContentLength, v, len(body))
		}
	}
	var r struct {
		ID           string `json:"id"`
		ModelName    string `json:"model_name"`
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Name       string  `json:"name"`
			Datatype   string  `json:"datatype"`
			Shape      []int64 `json:"shape"`
			Parameters struct {
				BinaryDataSize *int `json:"binary_data_size"`
			} `json:"parameters"`
			Data json.RawMessage `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body[:n], &r); err != nil {
		return nil, err
	}
	resp := &pb.ModelInferResponse{Id: r.ID, ModelName: r.ModelName, ModelVersion: r.ModelVersion}
	rest := body[n:]
	for _, o := range r.Outputs {
		if o.Parameters.BinaryDataSize == nil || *o.Parameters.BinaryDataSize > len(rest) {
			return nil, fmt.Errorf("output %q: no binary section of its binary_data_size", o.Name)
		}
		sz := *o.Parameters.BinaryDataSize
		resp.Outputs = append(resp.Outputs, &pb.ModelInferResponse_InferOutputTensor{Name: o.Name, Datatype: o.Datatype, Shape: o.Shape})
		resp.RawOutputContents = append(resp.RawOutputContents, rest[:sz])
		rest = rest[sz:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the outputs' binary sections", len(rest))
	}
	return resp, nil
}

// encodeBytes is BYTES wire form: a 4-byte little-endian length per element.
func encodeBytes(elems ...string) []byte {
	var b []byte
	for _, e := range elems {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e)))
		b = append(b, e...)
	}
	return b
}
