package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// JSON as Triton's HTTP endpoint writes it: a message's fields under their
// proto names, in field order; primitive, repeated and map fields always
// (protobuf's always_print_primitive_fields, as Triton's ModelConfigToJson
// sets it), unset message and oneof fields not; enums by name; and 64-bit
// integers as JSON numbers, not the strings protobuf's own printer writes
// (Triton's config_version 1 "fixes" every int64 of ModelConfig so; its
// statistics and metadata JSON are numbers too).

func protoJSON(m proto.Message) []byte {
	var b bytes.Buffer
	writeMessageJSON(&b, m.ProtoReflect())
	return b.Bytes()
}

func writeMessageJSON(b *bytes.Buffer, m protoreflect.Message) {
	b.WriteByte('{')
	fields := m.Descriptor().Fields()
	first := true
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !emitField(m, fd) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(b, string(fd.Name()))
		b.WriteByte(':')
		writeFieldJSON(b, fd, m.Get(fd))
	}
	b.WriteByte('}')
}

func emitField(m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	if fd.IsList() || fd.IsMap() {
		return true
	}
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		return m.Has(fd)
	}
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind || fd.HasPresence() {
		return m.Has(fd)
	}
	return true
}

func writeFieldJSON(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch {
	case fd.IsList():
		l := v.List()
		b.WriteByte('[')
		for i := 0; i < l.Len(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			writeSingularJSON(b, fd, l.Get(i))
		}
		b.WriteByte(']')
	case fd.IsMap():
		mp := v.Map()
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k.String())
			b.WriteByte(':')
			writeSingularJSON(b, fd.MapValue(), mp.Get(k))
		}
		b.WriteByte('}')
	default:
		writeSingularJSON(b, fd, v)
	}
}

func writeSingularJSON(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.FloatKind:
		writeJSONFloat(b, v.Float(), 32)
	case protoreflect.DoubleKind:
		writeJSONFloat(b, v.Float(), 64)
	case protoreflect.StringKind:
		writeJSONString(b, v.String())
	case protoreflect.BytesKind:
		writeJSONString(b, base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			writeJSONString(b, string(ev.Name()))
		} else {
			b.WriteString(strconv.FormatInt(int64(v.Enum()), 10))
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		writeMessageJSON(b, v.Message())
	}
}

// writeJSONFloat writes NaN and infinities as protobuf's JSON mapping does
// (strings), since JSON numbers cannot carry them.
func writeJSONFloat(b *bytes.Buffer, f float64, bits int) {
	switch {
	case math.IsNaN(f):
		b.WriteString(`"NaN"`)
	case math.IsInf(f, 1):
		b.WriteString(`"Infinity"`)
	case math.IsInf(f, -1):
		b.WriteString(`"-Infinity"`)
	default:
		b.WriteString(strconv.FormatFloat(f, 'g', -1, bits))
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// httpCode is the HTTP status Triton's HTTPCodeFromError gives an error of
// the gRPC code the shared internals return (server src/http_server.cc:
// INTERNAL 500, NOT_FOUND 404, UNAVAILABLE 503, UNSUPPORTED 501, all else 400).
func httpCode(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Internal:
		return http.StatusInternalServerError
	case codes.NotFound:
		return http.StatusNotFound
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.Unimplemented:
		return http.StatusNotImplemented
	default:
		return http.StatusBadRequest
	}
}

// writeJSON answers 200 with a JSON body.
func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeHTTPError answers as Triton does: {"error": "<message>"}.
func writeHTTPError(w http.ResponseWriter, code int, msg string) {
	var b bytes.Buffer
	b.WriteString(`{"error":`)
	writeJSONString(&b, msg)
	b.WriteByte('}')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// writeStatusError answers err (a gRPC status from the shared internals)
// with Triton's HTTP code for it and the same message.
func writeStatusError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	writeHTTPError(w, httpCode(st.Code()), st.Message())
}
