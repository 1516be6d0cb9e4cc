package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// jsonDataToRaw encodes an input's JSON "data" (flat or nested arrays in
// row-major order, or one scalar) as the little-endian bytes the binary form
// carries. As in Triton, FP16 and BF16 cannot be sent as JSON.
func jsonDataToRaw(name, datatype string, shape []int64, data json.RawMessage) ([]byte, error) {
	dt := tensor.DataType(datatype)
	size, ok := tensor.ElementSize(dt)
	switch {
	case !ok:
		return nil, invalidf("input %q: datatype %q is not a KServe v2 datatype", name, datatype)
	case dt == tensor.FP16 || dt == tensor.BF16:
		return nil, invalidf("receiving %s data via JSON is not supported. Please use the binary data format for input %q", dt, name)
	}
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, invalidf("input %q: %v", name, err)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, jsonError("input "+strconv.Quote(name)+" data", err)
	}
	var flat []any
	flatten(v, &flat)
	if int64(len(flat)) != n {
		return nil, invalidf("input %q: 'data' has %d elements; shape %v needs %d", name, len(flat), shape, n)
	}
	if dt == tensor.Bytes {
		elems := make([][]byte, len(flat))
		for i, e := range flat {
			s, ok := e.(string)
			if !ok {
				return nil, invalidf("input %q: data[%d] = %v is not a string (BYTES)", name, i, e)
			}
			elems[i] = []byte(s)
		}
		return tensor.EncodeBytes(elems), nil
	}
	out := make([]byte, len(flat)*size)
	for i, e := range flat {
		if err := putJSONElement(out[i*size:], dt, size, e); err != nil {
			return nil, invalidf("input %q: data[%d] = %v %s", name, i, e, err.Error())
		}
	}
	return out, nil
}

func flatten(v any, out *[]any) {
	if a, ok := v.([]any); ok {
		for _, e := range a {
			flatten(e, out)
		}
		return
	}
	*out = append(*out, v)
}

type elemErr string

func (e elemErr) Error() string { return string(e) }

func putJSONElement(b []byte, dt tensor.DataType, size int, e any) error {
	if dt == tensor.Bool {
		v, ok := e.(bool)
		if !ok {
			return elemErr("is not a boolean (BOOL)")
		}
		b[0] = 0
		if v {
			b[0] = 1
		}
		return nil
	}
	num, ok := e.(json.Number)
	if !ok {
		return elemErr("is not a number (" + string(dt) + ")")
	}
	switch dt {
	case tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64:
		v, err := strconv.ParseInt(num.String(), 10, 8*size)
		if err != nil {
			return elemErr("is not an integer that fits " + string(dt))
		}
		putLE(b, uint64(v), size)
	case tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64:
		v, err := strconv.ParseUint(num.String(), 10, 8*size)
		if err != nil {
			return elemErr("is not an unsigned integer that fits " + string(dt))
		}
		putLE(b, v, size)
	case tensor.FP32, tensor.FP64:
		// Read as a double and narrowed, as Triton reads JSON floats.
		v, err := strconv.ParseFloat(num.String(), 64)
		if err != nil {
			return elemErr("is not a finite " + string(dt))
		}
		if dt == tensor.FP32 {
			putLE(b, uint64(math.Float32bits(float32(v))), 4)
		} else {
			putLE(b, math.Float64bits(v), 8)
		}
	}
	return nil
}

// encodeInferResponse writes a response as KServe v2 JSON, with the outputs
// answered in binary after it (their order, "binary_data_size" naming each
// one's bytes).
func encodeInferResponse(resp *pb.ModelInferResponse, kinds map[string]outputKind, def outputKind) ([]byte, [][]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if resp.Id != "" {
		b.WriteString(`"id":`)
		writeJSONString(&b, resp.Id)
		b.WriteByte(',')
	}
	b.WriteString(`"model_name":`)
	writeJSONString(&b, resp.ModelName)
	b.WriteString(`,"model_version":`)
	writeJSONString(&b, resp.ModelVersion)
	if len(resp.Parameters) > 0 {
		b.WriteString(`,"parameters":`)
		writeParamsJSON(&b, resp.Parameters, -1)
	}
	b.WriteString(`,"outputs":[`)
	var bins [][]byte
	for i, o := range resp.Outputs {
		if i > 0 {
			b.WriteByte(',')
		}
		var raw []byte
		if i < len(resp.RawOutputContents) {
			raw = resp.RawOutputContents[i]
		}
		kind, ok := kinds[o.Name]
		if !ok {
			kind = def
		}
		b.WriteString(`{"name":`)
		writeJSONString(&b, o.Name)
		b.WriteString(`,"datatype":`)
		writeJSONString(&b, o.Datatype)
		b.WriteString(`,"shape":[`)
		for j, d := range o.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(d, 10))
		}
		b.WriteByte(']')
		binSize := int64(-1)
		if kind == outBinary {
			binSize = int64(len(raw))
		}
		if len(o.Parameters) > 0 || binSize >= 0 {
			b.WriteString(`,"parameters":`)
			writeParamsJSON(&b, o.Parameters, binSize)
		}
		switch kind {
		case outBinary:
			if len(raw) > 0 {
				bins = append(bins, raw)
			}
		case outJSON:
			b.WriteString(`,"data":`)
			if err := writeDataJSON(&b, o, raw); err != nil {
				return nil, nil, err
			}
		}
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.Bytes(), bins, nil
}

// writeParamsJSON writes parameters as a JSON object, with binary_data_size
// added when binSize >= 0.
func writeParamsJSON(b *bytes.Buffer, params map[string]*pb.InferParameter, binSize int64) {
	b.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	for _, k := range sortedKeys(params) {
		if k == paramBinaryDataSize && binSize >= 0 {
			continue
		}
		sep()
		writeJSONString(b, k)
		b.WriteByte(':')
		switch v := params[k].GetParameterChoice().(type) {
		case *pb.InferParameter_BoolParam:
			b.WriteString(strconv.FormatBool(v.BoolParam))
		case *pb.InferParameter_Int64Param:
			b.WriteString(strconv.FormatInt(v.Int64Param, 10))
		case *pb.InferParameter_Uint64Param:
			b.WriteString(strconv.FormatUint(v.Uint64Param, 10))
		case *pb.InferParameter_DoubleParam:
			writeJSONFloat(b, v.DoubleParam, 64)
		case *pb.InferParameter_StringParam:
			writeJSONString(b, v.StringParam)
		default:
			b.WriteString("null")
		}
	}
	if binSize >= 0 {
		sep()
		b.WriteString(`"` + paramBinaryDataSize + `":` + strconv.FormatInt(binSize, 10))
	}
	b.WriteByte('}')
}

// writeDataJSON writes an output's elements as a flat JSON array, as Triton
// does. FP16/BF16 are refused as Triton refuses them (InvalidArgument), and
// so is a NaN or infinity, which a JSON number cannot carry.
func writeDataJSON(b *bytes.Buffer, o *pb.ModelInferResponse_InferOutputTensor, raw []byte) error {
	dt := tensor.DataType(o.Datatype)
	if dt == tensor.FP16 || dt == tensor.BF16 {
		return invalidf("sending %s data via JSON is not supported. Please use the binary data format for output %q (parameters {\"binary_data\": true})", dt, o.Name)
	}
	t := &tensor.Tensor{Name: o.Name, DataType: dt, Shape: o.Shape, Raw: raw}
	if err := t.Validate(); err != nil {
		return status.Errorf(codes.Internal, "output %q: %v", o.Name, err)
	}
	if dt == tensor.Bytes {
		elems, err := t.ByteElements()
		if err != nil {
			return status.Errorf(codes.Internal, "output %q: %v", o.Name, err)
		}
		b.WriteByte('[')
		for i, e := range elems {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, string(e))
		}
		b.WriteByte(']')
		return nil
	}
	size, _ := tensor.ElementSize(dt)
	b.WriteByte('[')
	for i := 0; i*size < len(raw); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		e := raw[i*size : (i+1)*size]
		switch dt {
		case tensor.Bool:
			b.WriteString(strconv.FormatBool(e[0] != 0))
		case tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64:
			b.WriteString(strconv.FormatInt(signExtend(leUint(e), size), 10))
		case tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64:
			b.WriteString(strconv.FormatUint(leUint(e), 10))
		case tensor.FP32, tensor.FP64:
			// FP32 widened to a double, as Triton's AppendDouble writes it.
			f := math.Float64frombits(leUint(e))
			if dt == tensor.FP32 {
				f = float64(math.Float32frombits(uint32(leUint(e))))
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return status.Errorf(codes.Internal, "output %q: element %d is %v, which JSON cannot carry; request the output with parameters {\"binary_data\": true}", o.Name, i, f)
			}
			b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	b.WriteByte(']')
	return nil
}

func leUint(e []byte) uint64 {
	switch len(e) {
	case 1:
		return uint64(e[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(e))
	case 4:
		return uint64(binary.LittleEndian.Uint32(e))
	default:
		return binary.LittleEndian.Uint64(e)
	}
}

func signExtend(v uint64, size int) int64 {
	shift := 64 - 8*uint(size)
	return int64(v<<shift) >> shift
}
