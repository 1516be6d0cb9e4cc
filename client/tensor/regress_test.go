package tensor

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// Decoded BYTES elements alias the wire buffer; each must end at its own
// length. With the buffer's capacity behind it, appending to element 0 (a
// natural thing to do with a decoded prompt) wrote over element 1's prefix.
func TestDecodeBytesElementsDoNotShareCapacity(t *testing.T) {
	raw := EncodeBytes([][]byte{[]byte("cat"), []byte("dog")})
	els, err := DecodeBytes("S", raw, 2)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(els[0], "XXXXXXX"...)
	if string(els[1]) != "dog" {
		t.Fatalf("appending to element 0 changed element 1 to %q", els[1])
	}
	if !bytes.Equal(raw, EncodeBytes([][]byte{[]byte("cat"), []byte("dog")})) {
		t.Fatalf("appending to element 0 changed the wire buffer: % x", raw)
	}
}

// A shape with a zero dimension holds no elements however large the other
// dimensions are; it used to be refused as an int64 overflow when the large
// dimensions came first.
func TestNumElementsZeroDimAfterLargeDims(t *testing.T) {
	for _, shape := range [][]int64{{1 << 62, 4, 0}, {0, 1 << 62, 4}, {1 << 40, 1 << 40, 0, 7}} {
		n, err := NumElements(shape)
		if err != nil || n != 0 {
			t.Errorf("NumElements(%v) = %d, %v; want 0, nil", shape, n, err)
		}
	}
	// A negative dimension stays an error even after a zero.
	if _, err := NumElements([]int64{0, -1}); err == nil {
		t.Error("NumElements([0 -1]) accepted a negative dimension")
	}
	if _, err := NumElements([]int64{1 << 62, 4}); err == nil {
		t.Error("NumElements([2^62 4]) did not report the overflow")
	}
}

// BF16 is a 2-byte wire datatype: validated by length, widened exactly (the
// bits are a float32's top half). It has no model-config mapping here on
// purpose (the embedded server refuses TYPE_BF16 through FromConfig).
func TestBF16(t *testing.T) {
	if s, ok := ElementSize(BF16); !ok || s != 2 {
		t.Fatalf("ElementSize(BF16) = %d, %v", s, ok)
	}
	bad := Tensor{Name: "Q", DataType: BF16, Shape: []int64{2}, Raw: []byte{0, 0, 0}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "needs 4 bytes") {
		t.Errorf("Validate(3 bytes for BF16 [2]) = %v", err)
	}
	// 1.5, -0, NaN, smallest positive subnormal bfloat16.
	tn := Tensor{Name: "Q", DataType: BF16, Shape: []int64{4}, Raw: []byte{0xc0, 0x3f, 0x00, 0x80, 0xc0, 0x7f, 0x01, 0x00}}
	v, err := tn.Float64Values()
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != 1.5 || v[1] != 0 || !math.Signbit(v[1]) || !math.IsNaN(v[2]) || v[3] != math.Ldexp(1, -133) {
		t.Errorf("Float64Values = %v", v)
	}
	if _, err := tn.Float32s(); err == nil {
		t.Error("Float32s decoded a BF16 tensor")
	}
	if _, ok := BF16.ConfigType(); ok {
		t.Error("BF16.ConfigType() mapped; the embedded server relies on FromConfig refusing TYPE_BF16")
	}
}
