package perf

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// The hot path sends ModelInferRequest messages that were serialised once,
// before the clock started, and receives responses as bytes into a buffer
// each worker reuses. rawCodec is the gRPC codec that makes this possible:
// it hands the pre-encoded bytes to the transport as they are and copies a
// response into the worker's buffer, so no request is marshalled and no input
// byte is copied or allocated per request. Its name is "proto" so the
// content-type on the wire stays application/grpc+proto, which Triton expects.
type rawCodec struct{}

var _ encoding.CodecV2 = rawCodec{}

// wireRequest is a serialised ModelInferRequest, shared read-only by workers.
type wireRequest struct{ b []byte }

// wireResponse is a worker's reusable response buffer.
type wireResponse struct{ b []byte }

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	r, ok := v.(*wireRequest)
	if !ok {
		return nil, fmt.Errorf("perf: rawCodec cannot marshal %T", v)
	}
	// SliceBuffer's Free is a no-op: the bytes are never returned to a pool.
	return mem.BufferSlice{mem.SliceBuffer(r.b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*wireResponse)
	if !ok {
		return fmt.Errorf("perf: rawCodec cannot unmarshal into %T", v)
	}
	n := data.Len()
	if cap(r.b) < n {
		r.b = make([]byte, n)
	}
	r.b = r.b[:n]
	data.CopyTo(r.b)
	return nil
}

// ModelInferResponse field numbers (grpc_service.proto).
const (
	fieldRespOutputs = 5
	fieldRespRaw     = 6
)

var errMalformed = errors.New("malformed ModelInferResponse")

// checkResponse walks a serialised ModelInferResponse without decoding it
// into messages (no allocation) and checks that it carries wantOutputs
// outputs and, when raw contents are used, one raw entry per output whose
// total size is wantRawBytes (when wantRawBytes >= 0).
func checkResponse(b []byte, wantOutputs int, wantRawBytes int64) error {
	outputs, raws := 0, 0
	var rawBytes int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if num == fieldRespRaw && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errMalformed
			}
			raws++
			rawBytes += int64(len(v))
			b = b[m:]
			continue
		}
		if num == fieldRespOutputs {
			outputs++
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return errMalformed
		}
		b = b[m:]
	}
	if outputs != wantOutputs {
		return fmt.Errorf("response has %d outputs, want %d", outputs, wantOutputs)
	}
	if raws != 0 && raws != outputs {
		return fmt.Errorf("response has %d outputs but %d raw_output_contents entries", outputs, raws)
	}
	if raws > 0 && wantRawBytes >= 0 && rawBytes != wantRawBytes {
		return fmt.Errorf("response carries %d output bytes, want %d", rawBytes, wantRawBytes)
	}
	return nil
}
