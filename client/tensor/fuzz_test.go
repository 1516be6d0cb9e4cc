package tensor

import (
	"bytes"
	"testing"
)

// FuzzDecodeBytes: DecodeBytes never panics, and whatever it accepts is exactly
// n elements that re-encode to the same buffer (so nothing was skipped or
// double-counted).
func FuzzDecodeBytes(f *testing.F) {
	f.Add([]byte{}, int64(0))
	f.Add(EncodeBytes([][]byte{[]byte("a photo of a cat")}), int64(1))
	f.Add(EncodeBytes([][]byte{nil, []byte("x"), nil}), int64(3))
	f.Add([]byte{10, 0, 0, 0, 'a', 'b'}, int64(1))  // element past the buffer
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, int64(1)) // 4 GiB length
	f.Add([]byte{1, 0, 0, 0, 'a', 0, 0}, int64(2))  // cut prefix
	f.Add([]byte{0, 0, 0, 0}, int64(-1))            // negative count
	f.Add([]byte{0, 0, 0, 0}, int64(1<<62))         // absurd count
	f.Fuzz(func(t *testing.T, raw []byte, n int64) {
		els, err := DecodeBytes("F", raw, n)
		if err != nil {
			return
		}
		if int64(len(els)) != n {
			t.Fatalf("asked for %d elements, got %d", n, len(els))
		}
		if re := EncodeBytes(els); !bytes.Equal(re, raw) {
			t.Fatalf("re-encoding differs: % x vs % x", re, raw)
		}
	})
}

var fuzzTypes = []DataType{Bool, Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64, FP16, FP32, FP64, Bytes, "FP8"}

// FuzzValidateRaw: Validate never panics on any datatype / shape / buffer, and
// when it accepts a tensor the buffer really holds product(shape) elements, so
// the typed decoders that trust it cannot read out of bounds.
func FuzzValidateRaw(f *testing.F) {
	f.Add(uint8(10), int64(1), int64(1), []byte{0, 0, 0x80, 0x3f}) // FP32 [1,1]
	f.Add(uint8(10), int64(1), int64(1), []byte{0, 0, 0x80})       // short
	f.Add(uint8(8), int64(1), int64(77), make([]byte, 77*8))       // TOKENS
	f.Add(uint8(12), int64(1), int64(2), []byte{1, 0, 0, 0, 'a', 0, 0, 0, 0})
	f.Add(uint8(12), int64(1), int64(1), []byte{9, 0, 0, 0, 'a'})
	f.Add(uint8(9), int64(-1), int64(2), []byte{})        // negative dim
	f.Add(uint8(0), int64(1<<40), int64(1<<40), []byte{}) // overflow
	f.Add(uint8(13), int64(1), int64(1), []byte{0})       // unknown type
	f.Fuzz(func(t *testing.T, ti uint8, d0, d1 int64, raw []byte) {
		dt := fuzzTypes[int(ti)%len(fuzzTypes)]
		tn := &Tensor{Name: "F", DataType: dt, Shape: []int64{d0, d1}, Raw: raw}
		if err := tn.Validate(); err != nil {
			return
		}
		n, err := NumElements(tn.Shape)
		if err != nil {
			t.Fatalf("Validate accepted shape %v that NumElements refuses: %v", tn.Shape, err)
		}
		if dt == Bytes {
			els, err := tn.ByteElements()
			if err != nil || int64(len(els)) != n {
				t.Fatalf("valid BYTES tensor decodes to %d elements (%v), want %d", len(els), err, n)
			}
			return
		}
		size, ok := ElementSize(dt)
		if !ok {
			t.Fatalf("Validate accepted unknown datatype %q", dt)
		}
		if int64(len(raw)) != n*int64(size) {
			t.Fatalf("%s shape %v: accepted %d bytes, want %d", dt, tn.Shape, len(raw), n*int64(size))
		}
		var got int
		switch dt {
		case Bool:
			v, err := tn.Bools()
			got = checkLen(t, len(v), err)
		case Uint8:
			v, err := tn.Uint8s()
			got = checkLen(t, len(v), err)
		case Int32:
			v, err := tn.Int32s()
			got = checkLen(t, len(v), err)
		case Int64:
			v, err := tn.Int64s()
			got = checkLen(t, len(v), err)
		case FP16:
			v, err := tn.FP16s()
			got = checkLen(t, len(v), err)
		case FP32:
			v, err := tn.Float32s()
			got = checkLen(t, len(v), err)
		case FP64:
			v, err := tn.Float64s()
			got = checkLen(t, len(v), err)
		default:
			return // no typed decoder for the other integer widths
		}
		if int64(got) != n {
			t.Fatalf("%s decoded %d elements, want %d", dt, got, n)
		}
	})
}

func checkLen(t *testing.T, n int, err error) int {
	t.Helper()
	if err != nil {
		t.Fatalf("decoder refused a tensor Validate accepted: %v", err)
	}
	return n
}
