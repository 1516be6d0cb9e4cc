package server

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// Triton's binary-data extension (docs/protocol/extension_binary_data.md):
// the body is the JSON inference header, then each binary tensor's bytes in
// order; this header gives the JSON's length, on the request and on a
// response that carries binary outputs.
const HeaderInferenceContentLength = "Inference-Header-Content-Length"

// Parameters of the binary-data extension.
const (
	paramBinaryDataSize   = "binary_data_size"   // input and response output: bytes in the binary section
	paramBinaryData       = "binary_data"        // requested output: answer it in binary
	paramBinaryDataOutput = "binary_data_output" // request: answer every output not requested by name in binary
)

type outputKind int

const (
	outJSON outputKind = iota
	outBinary
	outSHM // written to shared memory: no data in the response
)

// infer serves POST /v2/models/{name}[/versions/{v}]/infer: the request is
// turned into the ModelInferRequest a gRPC client would send (binary and
// JSON data alike become raw_input_contents) and runs where gRPC's does.
func (h *httpAPI) infer(w http.ResponseWriter, r *http.Request, model, version string) {
	if !method(w, r, http.MethodPost) {
		return
	}
	// The same server-wide bound as stream requests: at most that many
	// requests bodies are held, the rest wait for a slot.
	select {
	case h.s.inFlight <- struct{}{}:
		defer func() { <-h.s.inFlight }()
	case <-r.Context().Done():
		writeStatusError(w, status.FromContextError(r.Context().Err()).Err())
		return
	}
	body, err := h.readBody(r)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	hdrLen := len(body)
	if v := r.Header.Get(HeaderInferenceContentLength); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil || n < 0 || n > len(body):
			writeHTTPError(w, http.StatusBadRequest, fmt.Sprintf("%s %q: must be an integer in 0..%d (the body's length)", HeaderInferenceContentLength, v, len(body)))
			return
		case n == 0:
			writeHTTPError(w, http.StatusBadRequest, fmt.Sprintf("%s 0 (a body of raw binary input without a JSON header) is not supported by the embedded server; send the JSON header", HeaderInferenceContentLength))
			return
		}
		hdrLen = n
	}
	req, kinds, def, err := parseInferRequest(body[:hdrLen], body[hdrLen:], model, version)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	resp, err := h.s.resolveAndInfer(r.Context(), req)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	hdr, bins, err := encodeInferResponse(resp, kinds, def)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	size := len(hdr)
	if len(bins) > 0 {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set(HeaderInferenceContentLength, strconv.Itoa(len(hdr)))
		for _, b := range bins {
			size += len(b)
		}
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(hdr)
	for _, b := range bins {
		_, _ = w.Write(b)
	}
}

// readBody reads the request body, decompressed as its Content-Encoding
// says (gzip, deflate, identity: Triton's), within the message size limit.
func (h *httpAPI) readBody(r *http.Request) ([]byte, error) {
	limit := int64(h.s.opts.maxMsg)
	if r.ContentLength > limit {
		return nil, status.Errorf(codes.ResourceExhausted, "request body of %d bytes is over the limit of %d (--max-message-bytes)", r.ContentLength, limit)
	}
	var rd io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "deflate":
		var zr io.ReadCloser
		var err error
		if enc == "gzip" {
			zr, err = gzip.NewReader(io.LimitReader(r.Body, limit+1))
		} else {
			zr, err = zlib.NewReader(io.LimitReader(r.Body, limit+1))
		}
		if err != nil {
			return nil, invalidf("request body: Content-Encoding %s: %v", enc, err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, status.Errorf(codes.Unimplemented, "Unsupported compression type %q (supported: gzip, deflate)", enc)
	}
	body, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, invalidf("reading the request body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, status.Errorf(codes.ResourceExhausted, "request body is over the limit of %d bytes (--max-message-bytes)", limit)
	}
	return body, nil
}

type jsonInferRequest struct {
	ID         json.RawMessage            `json:"id"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Inputs     *[]json.RawMessage         `json:"inputs"`
	Outputs    []json.RawMessage          `json:"outputs"`
}

type jsonInput struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Data       json.RawMessage            `json:"data"`
}

type jsonOutput struct {
	Name       string                     `json:"name"`
	Parameters map[string]json.RawMessage `json:"parameters"`
}

// jsonError says where a JSON document is malformed.
func jsonError(what string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return invalidf("%s: malformed JSON at byte %d: %v", what, se.Offset, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return invalidf("%s: field %q must be a JSON %s, not %s", what, te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return invalidf("%s: malformed JSON: %v", what, err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	case "int64", "uint64", "int", "float64":
		return "number"
	}
	return goKind
}

// parseInferRequest turns a KServe v2 JSON inference header and its binary
// sections into a ModelInferRequest, and says how each output is answered.
func parseInferRequest(header, bin []byte, model, version string) (*pb.ModelInferRequest, map[string]outputKind, outputKind, error) {
	var jr jsonInferRequest
	if err := json.Unmarshal(header, &jr); err != nil {
		return nil, nil, 0, jsonError(fmt.Sprintf("inference request for model %q", model), err)
	}
	req := &pb.ModelInferRequest{ModelName: model, ModelVersion: version}
	if len(jr.ID) > 0 {
		if err := json.Unmarshal(jr.ID, &req.Id); err != nil {
			return nil, nil, 0, invalidf("inference request for model %q: 'id' must be a string", model)
		}
	}
	def := outJSON
	for k, v := range jr.Parameters {
		switch {
		case k == paramBinaryDataOutput:
			var b bool
			if json.Unmarshal(v, &b) != nil {
				return nil, nil, 0, invalidf("inference request for model %q: parameter %s must be a boolean", model, k)
			}
			if b {
				def = outBinary
			}
		case strings.HasPrefix(k, "triton_"):
			return nil, nil, 0, invalidf("parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified (%q)", k)
		default:
			p, err := jsonParameter(v)
			if err != nil {
				return nil, nil, 0, invalidf("inference request for model %q: parameter %q: %v", model, k, err)
			}
			if req.Parameters == nil {
				req.Parameters = map[string]*pb.InferParameter{}
			}
			req.Parameters[k] = p
		}
	}
	if jr.Inputs == nil {
		return nil, nil, 0, invalidf("inference request for model %q has no 'inputs' array", model)
	}
	rest := bin
	for i, raw := range *jr.Inputs {
		var err error
		if rest, err = parseInput(req, i, raw, rest); err != nil {
			return nil, nil, 0, err
		}
	}
	if len(rest) > 0 {
		return nil, nil, 0, invalidf("unexpected additional input data for model %q: %d bytes follow the inputs' binary data", model, len(rest))
	}
	kinds := map[string]outputKind{}
	for i, raw := range jr.Outputs {
		o, kind, err := parseOutput(i, raw)
		if err != nil {
			return nil, nil, 0, err
		}
		req.Outputs = append(req.Outputs, o)
		kinds[o.Name] = kind
	}
	return req, kinds, def, nil
}

// parseInput adds inputs[i] to req and returns the binary sections after its own.
func parseInput(req *pb.ModelInferRequest, i int, raw json.RawMessage, bin []byte) ([]byte, error) {
	var named struct {
		Name *string `json:"name"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Name == nil {
		return nil, invalidf("inputs[%d] of the request for model %q: must be an object with a string 'name'", i, req.ModelName)
	}
	name := *named.Name
	var in jsonInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, jsonError(fmt.Sprintf("input %q", name), err)
	}
	if in.Shape == nil {
		return nil, invalidf("input %q: no 'shape'", name)
	}
	for _, d := range in.Shape {
		if d < 0 {
			return nil, invalidf("input %q: shape %v has a negative dimension", name, in.Shape)
		}
	}
	t := &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: in.Datatype, Shape: in.Shape}
	_, hasBin := in.Parameters[paramBinaryDataSize]
	_, hasSHM := in.Parameters[ParamSHMRegion]
	hasData := in.Data != nil
	if n := btoi(hasData) + btoi(hasBin) + btoi(hasSHM); n != 1 {
		return nil, invalidf("input %q: must set exactly one of 'data', 'binary_data_size' in 'parameters', 'shared_memory_region' in 'parameters'; it sets %d", name, n)
	}
	for k, v := range in.Parameters {
		if k == paramBinaryDataSize {
			continue
		}
		p, err := jsonParameter(v)
		if err != nil {
			return nil, invalidf("input %q: parameter %q: %v", name, k, err)
		}
		if t.Parameters == nil {
			t.Parameters = map[string]*pb.InferParameter{}
		}
		t.Parameters[k] = p
	}
	req.Inputs = append(req.Inputs, t)
	switch {
	case hasSHM:
		return bin, nil
	case hasBin:
		var size uint64
		if err := json.Unmarshal(in.Parameters[paramBinaryDataSize], &size); err != nil {
			return nil, invalidf("input %q: parameter %s must be a non-negative integer", name, paramBinaryDataSize)
		}
		if size > uint64(len(bin)) {
			return nil, invalidf("unexpected size for input %q, expecting %d additional bytes for model %q (binary_data_size %d, %d bytes left in the body)",
				name, size-uint64(len(bin)), req.ModelName, size, len(bin))
		}
		req.RawInputContents = append(req.RawInputContents, bin[:size:size])
		return bin[size:], nil
	default:
		data, err := jsonDataToRaw(name, in.Datatype, in.Shape, in.Data)
		if err != nil {
			return nil, err
		}
		req.RawInputContents = append(req.RawInputContents, data)
		return bin, nil
	}
}

func parseOutput(i int, raw json.RawMessage) (*pb.ModelInferRequest_InferRequestedOutputTensor, outputKind, error) {
	var o jsonOutput
	if err := json.Unmarshal(raw, &o); err != nil || o.Name == "" {
		return nil, 0, invalidf("outputs[%d]: must be an object with a string 'name'", i)
	}
	t := &pb.ModelInferRequest_InferRequestedOutputTensor{Name: o.Name}
	kind := outJSON
	for k, v := range o.Parameters {
		if k == paramBinaryData {
			var b bool
			if json.Unmarshal(v, &b) != nil {
				return nil, 0, invalidf("output %q: parameter %s must be a boolean", o.Name, k)
			}
			if b {
				kind = outBinary
			}
			continue
		}
		p, err := jsonParameter(v)
		if err != nil {
			return nil, 0, invalidf("output %q: parameter %q: %v", o.Name, k, err)
		}
		if t.Parameters == nil {
			t.Parameters = map[string]*pb.InferParameter{}
		}
		t.Parameters[k] = p
	}
	if _, ok := t.Parameters[ParamSHMRegion]; ok {
		// Triton: "Output can't set both 'shared_memory_region' and 'binary_data'".
		if kind == outBinary {
			return nil, 0, invalidf("output %q: can't set both 'shared_memory_region' and 'binary_data'", o.Name)
		}
		if _, cls := t.Parameters[ParamClassification]; cls {
			return nil, 0, invalidf("output %q: can't set both 'shared_memory_region' and 'classification'", o.Name)
		}
		kind = outSHM
	}
	return t, kind, nil
}

// jsonParameter is a JSON parameter value as an InferParameter: a string,
// a boolean, an integer or another number (Triton's four kinds).
func jsonParameter(v json.RawMessage) (*pb.InferParameter, error) {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return nil, err
	}
	switch x := x.(type) {
	case string:
		return &pb.InferParameter{ParameterChoice: &pb.InferParameter_StringParam{StringParam: x}}, nil
	case bool:
		return &pb.InferParameter{ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: x}}, nil
	case json.Number:
		if n, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return &pb.InferParameter{ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: n}}, nil
		}
		if n, err := strconv.ParseUint(x.String(), 10, 64); err == nil {
			return &pb.InferParameter{ParameterChoice: &pb.InferParameter_Uint64Param{Uint64Param: n}}, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return &pb.InferParameter{ParameterChoice: &pb.InferParameter_DoubleParam{DoubleParam: f}}, nil
	}
	return nil, errors.New("must be a string, a boolean or a number")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
