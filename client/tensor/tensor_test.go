package tensor

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

func le32(v uint32) []byte       { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
func le64(v uint64) []byte       { return append(le32(uint32(v)), le32(uint32(v>>32))...) }
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// Every constructor must produce the little-endian bytes written out by hand
// here, pass Validate, and decode back to the same values.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	cases := []struct {
		name    string
		build   func() (*Tensor, error)
		wantDT  DataType
		wantRaw []byte
		decode  func(*Tensor) (any, error)
		want    any
	}{
		{"BOOL", func() (*Tensor, error) { return NewBool("b", []int64{3}, []bool{true, false, true}) },
			Bool, []byte{1, 0, 1},
			func(t *Tensor) (any, error) { return t.Bools() }, []bool{true, false, true}},
		{"UINT8", func() (*Tensor, error) { return NewUint8("u", []int64{2, 2}, []uint8{0, 1, 254, 255}) },
			Uint8, []byte{0, 1, 254, 255},
			func(t *Tensor) (any, error) { return t.Uint8s() }, []uint8{0, 1, 254, 255}},
		{"INT32", func() (*Tensor, error) { return NewInt32("i", []int64{3}, []int32{-1, 0, 0x01020304}) },
			Int32, cat(le32(0xffffffff), le32(0), []byte{4, 3, 2, 1}),
			func(t *Tensor) (any, error) { return t.Int32s() }, []int32{-1, 0, 0x01020304}},
		{"INT64", func() (*Tensor, error) { return NewInt64("l", []int64{1, 3}, []int64{-2, 1 << 40, 49406}) },
			Int64, cat(le64(0xfffffffffffffffe), le64(1<<40), le64(49406)),
			func(t *Tensor) (any, error) { return t.Int64s() }, []int64{-2, 1 << 40, 49406}},
		{"FP16", func() (*Tensor, error) { return NewFP16("h", []int64{4}, []float32{1, -2, 0.5, 65504}) },
			FP16, []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b},
			func(t *Tensor) (any, error) { return t.FP16s() }, []float32{1, -2, 0.5, 65504}},
		{"FP32", func() (*Tensor, error) { return NewFP32("f", []int64{2}, []float32{1.5, negZero}) },
			FP32, cat(le32(0x3fc00000), le32(0x80000000)),
			func(t *Tensor) (any, error) { return t.Float32s() }, []float32{1.5, negZero}},
		{"FP64", func() (*Tensor, error) { return NewFP64("d", []int64{1}, []float64{-2.5}) },
			FP64, le64(0xc004000000000000),
			func(t *Tensor) (any, error) { return t.Float64s() }, []float64{-2.5}},
		{"BYTES", func() (*Tensor, error) {
			return NewBytes("s", []int64{3}, [][]byte{[]byte("ab"), {}, []byte("xyz")})
		},
			Bytes, cat(le32(2), []byte("ab"), le32(0), le32(3), []byte("xyz")),
			func(t *Tensor) (any, error) { return t.ByteElements() }, [][]byte{[]byte("ab"), {}, []byte("xyz")}},
		{"empty FP32", func() (*Tensor, error) { return NewFP32("e", []int64{0, 4}, nil) },
			FP32, []byte{},
			func(t *Tensor) (any, error) { return t.Float32s() }, []float32{}},
		{"scalar INT32", func() (*Tensor, error) { return NewInt32("z", []int64{}, []int32{7}) },
			Int32, le32(7),
			func(t *Tensor) (any, error) { return t.Int32s() }, []int32{7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tn, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			if tn.DataType != tc.wantDT {
				t.Errorf("datatype %s, want %s", tn.DataType, tc.wantDT)
			}
			if !bytes.Equal(tn.Raw, tc.wantRaw) {
				t.Errorf("raw % x, want % x", tn.Raw, tc.wantRaw)
			}
			if err := tn.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got, err := tc.decode(tn)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decoded %v, want %v", got, tc.want)
			}
			// -0 must survive bit for bit, which DeepEqual on floats does not check.
			if f, ok := got.([]float32); ok {
				for i := range f {
					if math.Float32bits(f[i]) != math.Float32bits(tc.want.([]float32)[i]) {
						t.Errorf("element %d bits %08x, want %08x", i, math.Float32bits(f[i]), math.Float32bits(tc.want.([]float32)[i]))
					}
				}
			}
		})
	}
}

func TestConstructorsCopyShapeAndData(t *testing.T) {
	shape := []int64{2}
	data := []uint8{1, 2}
	tn, err := NewUint8("x", shape, data)
	if err != nil {
		t.Fatal(err)
	}
	shape[0], data[0] = 5, 9
	if tn.Shape[0] != 2 || tn.Raw[0] != 1 {
		t.Fatalf("tensor aliases caller memory: shape %v raw %v", tn.Shape, tn.Raw)
	}
}

func TestConstructorShapeErrors(t *testing.T) {
	cases := []struct {
		name  string
		build func() (*Tensor, error)
		want  string
	}{
		{"too few", func() (*Tensor, error) { return NewFP32("IMAGE", []int64{2, 2}, make([]float32, 3)) }, "holds 4 elements, data has 3"},
		{"too many", func() (*Tensor, error) { return NewInt64("TOKENS", []int64{77}, make([]int64, 78)) }, "holds 77 elements, data has 78"},
		{"negative dim", func() (*Tensor, error) { return NewUint8("IMAGE", []int64{-1, 3}, nil) }, "dimension 0 is -1"},
		{"overflow", func() (*Tensor, error) { return NewBool("B", []int64{1 << 40, 1 << 40}, nil) }, "overflows int64"},
		{"bytes count", func() (*Tensor, error) { return NewBytes("S", []int64{2}, [][]byte{nil}) }, "holds 2 elements, data has 1"},
		{"bytes negative", func() (*Tensor, error) { return NewBytes("S", []int64{-3}, nil) }, "dimension 0 is -3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build()
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not *tensor.Error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if te.Tensor == "" || !strings.Contains(err.Error(), strconv.Quote(te.Tensor)) {
				t.Errorf("error %q does not name the tensor", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		tn   Tensor
		want string // "" = valid
	}{
		{"fp32 exact", Tensor{"Q", FP32, []int64{2, 1}, make([]byte, 8)}, ""},
		{"fp32 short", Tensor{"QUALITY", FP32, []int64{1}, make([]byte, 3)}, "needs 4 bytes (1 elements x 4), got 3"},
		{"fp32 long", Tensor{"QUALITY", FP32, []int64{1}, make([]byte, 5)}, "needs 4 bytes"},
		{"fp16 odd", Tensor{"H", FP16, []int64{3}, make([]byte, 5)}, "needs 6 bytes"},
		{"fp64 short", Tensor{"D", FP64, []int64{2}, make([]byte, 8)}, "needs 16 bytes"},
		{"int64 tokens", Tensor{"TOKENS", Int64, []int64{1, 77}, make([]byte, 77*8)}, ""},
		{"int64 tokens short", Tensor{"TOKENS", Int64, []int64{1, 77}, make([]byte, 76*8)}, "needs 616 bytes"},
		{"uint8 image", Tensor{"IMAGE", Uint8, []int64{3, 4, 4}, make([]byte, 48)}, ""},
		{"uint8 image short", Tensor{"IMAGE", Uint8, []int64{3, 4, 4}, make([]byte, 47)}, "needs 48 bytes"},
		{"bool", Tensor{"B", Bool, []int64{2}, []byte{0, 1}}, ""},
		{"int32 nil raw", Tensor{"I", Int32, []int64{1}, nil}, "got 0"},
		{"zero elements", Tensor{"E", Int32, []int64{3, 0}, nil}, ""},
		{"unknown type", Tensor{"X", "FLOAT", []int64{1}, make([]byte, 4)}, `unknown datatype "FLOAT"`},
		{"empty type", Tensor{"X", "", []int64{1}, nil}, "unknown datatype"},
		{"negative dim", Tensor{"X", FP32, []int64{-1}, nil}, "dimension 0 is -1"},
		{"byte size overflows", Tensor{"X", FP32, []int64{1<<62 + 1}, make([]byte, 4)}, "overflows"},
		{"fp64 byte size overflows", Tensor{"X", FP64, []int64{1 << 61}, nil}, "overflows"},
		{"bytes ok", Tensor{"S", Bytes, []int64{2}, cat(le32(1), []byte("a"), le32(0))}, ""},
		{"bytes element past buffer", Tensor{"PROMPT", Bytes, []int64{1}, cat(le32(10), []byte("abc"))},
			"BYTES element 0: length 10 runs past the buffer (3 bytes left)"},
		{"bytes huge length", Tensor{"PROMPT", Bytes, []int64{2}, cat(le32(0), le32(0xffffffff))},
			"BYTES element 1: length 4294967295 runs past the buffer (0 bytes left)"},
		{"bytes truncated prefix", Tensor{"PROMPT", Bytes, []int64{2}, cat(le32(1), []byte("a"), []byte{0, 0, 0, 0, 1})},
			"trailing bytes"},
		{"bytes prefix cut", Tensor{"PROMPT", Bytes, []int64{2}, cat(le32(3), []byte("abc"), []byte{0, 0})},
			"BYTES element 1: length prefix runs past the buffer (offset 7 of 9)"},
		{"bytes too few prefixes", Tensor{"PROMPT", Bytes, []int64{3}, cat(le32(0), le32(0))},
			"3 elements need at least 12 bytes"},
		{"bytes trailing", Tensor{"PROMPT", Bytes, []int64{1}, cat(le32(1), []byte("ab"))},
			"1 trailing bytes after 1 elements"},
		{"bytes zero elements", Tensor{"PROMPT", Bytes, []int64{0}, nil}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tn.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			var te *Error
			if !errors.As(err, &te) || te.Tensor != tc.tn.Name {
				t.Errorf("error %v does not name tensor %q", err, tc.tn.Name)
			}
		})
	}
}

func TestDecodeBytesNegativeCount(t *testing.T) {
	if _, err := DecodeBytes("S", nil, -1); err == nil {
		t.Fatal("negative element count accepted")
	}
}

func TestTypedDecodeChecksDatatypeAndLength(t *testing.T) {
	i32 := &Tensor{"I", Int32, []int64{1}, le32(5)}
	if _, err := i32.Float32s(); err == nil || !strings.Contains(err.Error(), "datatype is INT32, decoded as FP32") {
		t.Errorf("Float32s on INT32: %v", err)
	}
	if _, err := i32.ByteElements(); err == nil {
		t.Error("ByteElements on INT32 accepted")
	}
	if _, err := i32.Float64Values(); err == nil || !strings.Contains(err.Error(), "not a floating-point type") {
		t.Errorf("Float64Values on INT32: %v", err)
	}
	short := &Tensor{"F", FP32, []int64{2}, le32(0)}
	if _, err := short.Float32s(); err == nil {
		t.Error("Float32s decoded a short buffer")
	}
	decoders := map[DataType]func(*Tensor) error{
		Bool:  func(t *Tensor) error { _, err := t.Bools(); return err },
		Uint8: func(t *Tensor) error { _, err := t.Uint8s(); return err },
		Int32: func(t *Tensor) error { _, err := t.Int32s(); return err },
		Int64: func(t *Tensor) error { _, err := t.Int64s(); return err },
		FP16:  func(t *Tensor) error { _, err := t.FP16s(); return err },
		FP32:  func(t *Tensor) error { _, err := t.Float32s(); return err },
		FP64:  func(t *Tensor) error { _, err := t.Float64s(); return err },
	}
	for dt, dec := range decoders {
		size, _ := ElementSize(dt)
		if err := dec(&Tensor{"T", dt, []int64{2}, make([]byte, 2*size+1)}); err == nil {
			t.Errorf("%s decoder accepted a buffer one byte long", dt)
		}
		if err := dec(&Tensor{"T", dt, []int64{2}, make([]byte, 2*size)}); err != nil {
			t.Errorf("%s decoder: %v", dt, err)
		}
	}
}

func TestFloat64Values(t *testing.T) {
	for _, build := range []func() (*Tensor, error){
		func() (*Tensor, error) { return NewFP16("Q", []int64{2}, []float32{0.25, -3}) },
		func() (*Tensor, error) { return NewFP32("Q", []int64{2}, []float32{0.25, -3}) },
		func() (*Tensor, error) { return NewFP64("Q", []int64{2}, []float64{0.25, -3}) },
	} {
		tn, err := build()
		if err != nil {
			t.Fatal(err)
		}
		got, err := tn.Float64Values()
		if err != nil || !reflect.DeepEqual(got, []float64{0.25, -3}) {
			t.Errorf("%s: got %v, %v", tn.DataType, got, err)
		}
	}
}

func TestDataTypeTables(t *testing.T) {
	all := []DataType{Bool, Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64, FP16, FP32, FP64, Bytes}
	sizes := []int{1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 0}
	for i, dt := range all {
		if s, ok := ElementSize(dt); !ok || s != sizes[i] {
			t.Errorf("ElementSize(%s) = %d, %v; want %d", dt, s, ok, sizes[i])
		}
		ct, ok := dt.ConfigType()
		if !ok || "TYPE_"+string(dt) != ct.String() && !(dt == Bytes && ct == pb.DataType_TYPE_STRING) {
			t.Errorf("%s.ConfigType() = %v, %v", dt, ct, ok)
		}
		back, ok := FromConfig(ct)
		if !ok || back != dt {
			t.Errorf("FromConfig(%v) = %s, %v; want %s", ct, back, ok, dt)
		}
	}
	if _, ok := ElementSize("FP8"); ok {
		t.Error("ElementSize accepted FP8")
	}
	if _, ok := FromConfig(pb.DataType_TYPE_INVALID); ok {
		t.Error("FromConfig accepted TYPE_INVALID")
	}
}

// TestFP16AgainstNumpy checks both conversions against numpy's float16, which
// rounds to nearest even; testdata/gen_fp16.py documents the cases.
func TestFP16AgainstNumpy(t *testing.T) {
	f, err := os.Open("testdata/fp16_numpy.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for line := 1; sc.Scan(); line++ {
		txt := sc.Text()
		if strings.HasPrefix(txt, "#") || txt == "" {
			continue
		}
		var f32, h, back uint64
		fields := strings.Fields(txt)
		if len(fields) != 3 {
			t.Fatalf("fp16_numpy.txt:%d: %d fields, want 3", line, len(fields))
		}
		for i, dst := range []*uint64{&f32, &h, &back} {
			if *dst, err = strconv.ParseUint(fields[i], 16, 32); err != nil {
				t.Fatalf("fp16_numpy.txt:%d: %v", line, err)
			}
		}
		x := math.Float32frombits(uint32(f32))
		if got := Float32ToHalf(x); got != uint16(h) {
			t.Errorf("fp16_numpy.txt:%d: Float32ToHalf(%g [%08x]) = %04x, numpy %04x", line, x, f32, got, h)
		}
		if got := math.Float32bits(HalfToFloat32(uint16(h))); got != uint32(back) {
			t.Errorf("fp16_numpy.txt:%d: HalfToFloat32(%04x) = %08x, numpy %08x", line, h, got, back)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 2000 {
		t.Fatalf("only %d reference cases read", n)
	}
}

// Every non-NaN half survives half -> float32 -> half exactly, and widening is
// monotone over the positive halves (so no exponent/mantissa mix-up).
func TestFP16ExhaustiveRoundTrip(t *testing.T) {
	prev := float32(-1)
	for h := 0; h <= 0xffff; h++ {
		f := HalfToFloat32(uint16(h))
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		if isNaN {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("half %04x is NaN, widened to %g", h, f)
			}
			if back := Float32ToHalf(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 || back&0x8000 != uint16(h)&0x8000 {
				t.Fatalf("NaN %04x narrowed back to %04x, not a NaN of the same sign", h, back)
			}
			continue
		}
		if back := Float32ToHalf(f); back != uint16(h) {
			t.Fatalf("half %04x -> %g -> %04x", h, f, back)
		}
		if h <= 0x7c00 {
			if f <= prev {
				t.Fatalf("half %04x widens to %g, not above %g", h, f, prev)
			}
			prev = f
		}
	}
}

func TestFP16SpecialValues(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{65504, 0x7bff},                           // largest half
		{65519.99, 0x7bff},                        // just below the rounding boundary
		{65520, 0x7c00},                           // tie at the top rounds to even = Inf
		{1e9, 0x7c00},                             // overflow
		{-1e9, 0xfc00},                            //
		{6.103515625e-05, 0x0400},                 // 2^-14, smallest normal
		{5.960464477539063e-08, 0x0001},           // 2^-24, smallest subnormal
		{2.9802322387695312e-08, 0x0000},          // 2^-25: tie between 0 and 2^-24, rounds to even 0
		{4.470348358154297e-08, 0x0001},           // 1.5 * 2^-25 rounds up
		{8.940696716308594e-08, 0x0002},           // 1.5 * 2^-24: tie between 1 and 2 ulps -> even 2
		{1 + 1.0/2048, 0x3c00},                    // tie, rounds down to even 1.0
		{1 + 3.0/2048, 0x3c02},                    // tie, rounds up to even
		{float32(math.SmallestNonzeroFloat32), 0}, // float32 subnormal flushes to zero
	}
	for _, tc := range cases {
		if got := Float32ToHalf(tc.in); got != tc.want {
			t.Errorf("Float32ToHalf(%g) = %04x, want %04x", tc.in, got, tc.want)
		}
	}
	if h := Float32ToHalf(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN -> %04x, not a NaN", h)
	}
	if f := HalfToFloat32(0x0001); f != float32(math.Ldexp(1, -24)) {
		t.Errorf("HalfToFloat32(0001) = %g", f)
	}
	if f := HalfToFloat32(0x8001); f != -float32(math.Ldexp(1, -24)) {
		t.Errorf("HalfToFloat32(8001) = %g", f)
	}
}

func TestEncodeBytes(t *testing.T) {
	if got := EncodeBytes(nil); len(got) != 0 {
		t.Errorf("EncodeBytes(nil) = % x", got)
	}
	raw := EncodeBytes([][]byte{[]byte("a photo of a cat"), nil})
	els, err := DecodeBytes("P", raw, 2)
	if err != nil {
		t.Fatal(err)
	}
	if string(els[0]) != "a photo of a cat" || len(els[1]) != 0 {
		t.Errorf("decoded %q", els)
	}
}
