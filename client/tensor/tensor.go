// Package tensor holds the KServe v2 tensor representation shared by the client
// and the embedded server: a name, a datatype, a shape and the raw little-endian,
// row-major bytes that travel in raw_input_contents / raw_output_contents.
package tensor

import (
	"encoding/binary"
	"fmt"
	"math"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// DataType is a KServe v2 datatype name as it appears on the wire ("FP32").
type DataType string

const (
	Bool   DataType = "BOOL"
	Uint8  DataType = "UINT8"
	Uint16 DataType = "UINT16"
	Uint32 DataType = "UINT32"
	Uint64 DataType = "UINT64"
	Int8   DataType = "INT8"
	Int16  DataType = "INT16"
	Int32  DataType = "INT32"
	Int64  DataType = "INT64"
	FP16   DataType = "FP16"
	FP32   DataType = "FP32"
	FP64   DataType = "FP64"
	Bytes  DataType = "BYTES"
	// BF16 is Triton's bfloat16; it travels raw only (no typed contents field).
	BF16 DataType = "BF16"
)

var elementSizes = map[DataType]int{
	Bool: 1, Uint8: 1, Uint16: 2, Uint32: 4, Uint64: 8,
	Int8: 1, Int16: 2, Int32: 4, Int64: 8,
	FP16: 2, FP32: 4, FP64: 8,
	Bytes: 0,
	BF16:  2,
}

// ElementSize is the fixed byte size of one element; 0 for BYTES (variable) and
// ok=false for a name that is not a KServe v2 datatype.
func ElementSize(dt DataType) (size int, ok bool) {
	size, ok = elementSizes[dt]
	return size, ok
}

var toConfig = map[DataType]pb.DataType{
	Bool: pb.DataType_TYPE_BOOL, Uint8: pb.DataType_TYPE_UINT8, Uint16: pb.DataType_TYPE_UINT16,
	Uint32: pb.DataType_TYPE_UINT32, Uint64: pb.DataType_TYPE_UINT64, Int8: pb.DataType_TYPE_INT8,
	Int16: pb.DataType_TYPE_INT16, Int32: pb.DataType_TYPE_INT32, Int64: pb.DataType_TYPE_INT64,
	FP16: pb.DataType_TYPE_FP16, FP32: pb.DataType_TYPE_FP32, FP64: pb.DataType_TYPE_FP64,
	Bytes: pb.DataType_TYPE_STRING,
	// BF16 <-> TYPE_BF16 is left out on purpose: the embedded server and its
	// ONNX Runtime backend rely on FromConfig refusing TYPE_BF16, which they
	// do not serve. The client still decodes BF16 outputs from Triton.
}

// FromConfig maps a model-config datatype (TYPE_FP32) to its wire name (FP32).
func FromConfig(dt pb.DataType) (DataType, bool) {
	for k, v := range toConfig {
		if v == dt {
			return k, true
		}
	}
	return "", false
}

// ConfigType maps a wire name (FP32) to the model-config enum (TYPE_FP32).
func (dt DataType) ConfigType() (pb.DataType, bool) {
	v, ok := toConfig[dt]
	return v, ok
}

// Error reports a malformed tensor, naming it.
type Error struct {
	Tensor string
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("tensor %q: %s", e.Tensor, e.Msg) }

func errorf(name, format string, args ...any) error {
	return &Error{Tensor: name, Msg: fmt.Sprintf(format, args...)}
}

// NumElements is the product of shape, refusing negative dimensions and overflow.
func NumElements(shape []int64) (int64, error) {
	zero := false
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("dimension %d is %d; shapes sent for inference must be fully specified", i, d)
		}
		zero = zero || d == 0
	}
	if zero {
		// Checked first: [2^62, 4, 0] holds no elements, it does not overflow.
		return 0, nil
	}
	n := int64(1)
	for _, d := range shape {
		if n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v overflows int64", shape)
		}
		n *= d
	}
	return n, nil
}

// Tensor is one named tensor in wire form.
type Tensor struct {
	Name     string
	DataType DataType
	Shape    []int64
	Raw      []byte
}

// Validate checks that the datatype is known and that Raw holds exactly
// product(Shape) elements: a fixed byte length for fixed-size types, and for
// BYTES that every 4-byte length prefix stays inside the buffer.
func (t *Tensor) Validate() error {
	size, ok := ElementSize(t.DataType)
	if !ok {
		return errorf(t.Name, "unknown datatype %q", t.DataType)
	}
	n, err := NumElements(t.Shape)
	if err != nil {
		return errorf(t.Name, "%v", err)
	}
	if t.DataType == Bytes {
		_, err := DecodeBytes(t.Name, t.Raw, n)
		return err
	}
	if n > math.MaxInt64/int64(size) {
		// Unchecked, the product wraps and a few bytes could "match" a huge shape.
		return errorf(t.Name, "%s shape %v overflows int64 in bytes", t.DataType, t.Shape)
	}
	if want := n * int64(size); int64(len(t.Raw)) != want {
		return errorf(t.Name, "%s shape %v needs %d bytes (%d elements x %d), got %d",
			t.DataType, t.Shape, want, n, size, len(t.Raw))
	}
	return nil
}

// EncodeBytes serialises BYTES elements: each a 4-byte little-endian length, then the bytes.
func EncodeBytes(elems [][]byte) []byte {
	total := 0
	for _, e := range elems {
		total += 4 + len(e)
	}
	out := make([]byte, 0, total)
	for _, e := range elems {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e)))
		out = append(out, e...)
	}
	return out
}

// DecodeBytes parses exactly n BYTES elements from raw; the elements alias raw.
func DecodeBytes(name string, raw []byte, n int64) ([][]byte, error) {
	if n < 0 {
		return nil, errorf(name, "BYTES: negative element count %d", n)
	}
	if n > int64(len(raw))/4 {
		return nil, errorf(name, "BYTES: %d elements need at least %d bytes of length prefixes, got %d", n, 4*n, len(raw))
	}
	out := make([][]byte, 0, n)
	off := 0
	for i := int64(0); i < n; i++ {
		if len(raw)-off < 4 {
			return nil, errorf(name, "BYTES element %d: length prefix runs past the buffer (offset %d of %d)", i, off, len(raw))
		}
		l := binary.LittleEndian.Uint32(raw[off:])
		off += 4
		if uint64(l) > uint64(len(raw)-off) {
			return nil, errorf(name, "BYTES element %d: length %d runs past the buffer (%d bytes left)", i, l, len(raw)-off)
		}
		// Capacity capped at the element: an append to it must not write
		// over the next element's prefix in the shared buffer.
		out = append(out, raw[off:off+int(l):off+int(l)])
		off += int(l)
	}
	if off != len(raw) {
		return nil, errorf(name, "BYTES: %d trailing bytes after %d elements", len(raw)-off, n)
	}
	return out, nil
}
