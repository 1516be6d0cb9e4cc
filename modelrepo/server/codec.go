package server

import (
	"errors"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// rawInputContentsField is ModelInferRequest.raw_input_contents's field number (grpc_service.proto).
const rawInputContentsField = 7

// inferCodec is gRPC's proto codec except for ModelInferRequest, whose tensor bytes it does not copy
// twice. The default codec joins the received chunks into a pooled buffer, and proto.Unmarshal then
// copies every raw_input_contents entry out of it: a 250 MiB request briefly needed 750 MiB besides
// the chunks, and the pooled buffer stayed cached after it. Here the chunks are joined once into a
// buffer of the request's own, and raw_input_contents are slices of it; only the other (small) fields
// go through proto.Unmarshal.
type inferCodec struct{ base encoding.CodecV2 }

func newInferCodec() inferCodec { return inferCodec{base: encoding.GetCodecV2("proto")} }

func (c inferCodec) Name() string { return c.base.Name() }

func (c inferCodec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

func (c inferCodec) Unmarshal(data mem.BufferSlice, v any) error {
	req, ok := v.(*pb.ModelInferRequest)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	buf := make([]byte, data.Len())
	data.CopyTo(buf)
	return unmarshalInferRequest(buf, req)
}

var errTruncatedField = errors.New("cannot parse invalid wire-format data")

// unmarshalInferRequest decodes buf into req as proto.Unmarshal does, except that raw_input_contents
// alias buf (each capped at its own length, so an append never writes into a neighbour).
func unmarshalInferRequest(buf []byte, req *pb.ModelInferRequest) error {
	var raw [][]byte
	rest := make([]byte, 0, 256)
	for b := buf; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errTruncatedField
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return errTruncatedField
		}
		field := b[:n+m]
		b = b[n+m:]
		if num == rawInputContentsField && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(field[n:])
			raw = append(raw, v[:len(v):len(v)])
			continue
		}
		// Everything else, a raw_input_contents of the wrong wire type included (proto keeps
		// that as an unknown field), is left to proto in its original order.
		rest = append(rest, field...)
	}
	if err := proto.Unmarshal(rest, req); err != nil {
		return err
	}
	if raw != nil {
		req.RawInputContents = raw
	}
	return nil
}
