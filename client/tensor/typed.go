package tensor

import (
	"encoding/binary"
	"math"
)

// The constructors copy Go slices into wire bytes and check len(data) against
// the shape, so a Tensor built here always passes Validate.

func build(name string, dt DataType, shape []int64, n int, raw func([]byte)) (*Tensor, error) {
	want, err := NumElements(shape)
	if err != nil {
		return nil, errorf(name, "%v", err)
	}
	if want != int64(n) {
		return nil, errorf(name, "shape %v holds %d elements, data has %d", shape, want, n)
	}
	size, _ := ElementSize(dt)
	buf := make([]byte, n*size)
	raw(buf)
	return &Tensor{Name: name, DataType: dt, Shape: append([]int64(nil), shape...), Raw: buf}, nil
}

func NewBool(name string, shape []int64, data []bool) (*Tensor, error) {
	return build(name, Bool, shape, len(data), func(b []byte) {
		for i, v := range data {
			if v {
				b[i] = 1
			}
		}
	})
}

func NewUint8(name string, shape []int64, data []uint8) (*Tensor, error) {
	return build(name, Uint8, shape, len(data), func(b []byte) { copy(b, data) })
}

func NewInt32(name string, shape []int64, data []int32) (*Tensor, error) {
	return build(name, Int32, shape, len(data), func(b []byte) {
		for i, v := range data {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
	})
}

func NewInt64(name string, shape []int64, data []int64) (*Tensor, error) {
	return build(name, Int64, shape, len(data), func(b []byte) {
		for i, v := range data {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
		}
	})
}

// NewFP16 converts float32 values to IEEE half precision (round to nearest even).
func NewFP16(name string, shape []int64, data []float32) (*Tensor, error) {
	return build(name, FP16, shape, len(data), func(b []byte) {
		for i, v := range data {
			binary.LittleEndian.PutUint16(b[2*i:], Float32ToHalf(v))
		}
	})
}

func NewFP32(name string, shape []int64, data []float32) (*Tensor, error) {
	return build(name, FP32, shape, len(data), func(b []byte) {
		for i, v := range data {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
	})
}

func NewFP64(name string, shape []int64, data []float64) (*Tensor, error) {
	return build(name, FP64, shape, len(data), func(b []byte) {
		for i, v := range data {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		}
	})
}

func NewBytes(name string, shape []int64, data [][]byte) (*Tensor, error) {
	want, err := NumElements(shape)
	if err != nil {
		return nil, errorf(name, "%v", err)
	}
	if want != int64(len(data)) {
		return nil, errorf(name, "shape %v holds %d elements, data has %d", shape, want, len(data))
	}
	return &Tensor{Name: name, DataType: Bytes, Shape: append([]int64(nil), shape...), Raw: EncodeBytes(data)}, nil
}

// checked validates t and that it has datatype dt before a typed decode.
func (t *Tensor) checked(dt DataType) error {
	if t.DataType != dt {
		return errorf(t.Name, "datatype is %s, decoded as %s", t.DataType, dt)
	}
	return t.Validate()
}

func (t *Tensor) Bools() ([]bool, error) {
	if err := t.checked(Bool); err != nil {
		return nil, err
	}
	out := make([]bool, len(t.Raw))
	for i, v := range t.Raw {
		out[i] = v != 0
	}
	return out, nil
}

func (t *Tensor) Uint8s() ([]uint8, error) {
	if err := t.checked(Uint8); err != nil {
		return nil, err
	}
	return append([]uint8(nil), t.Raw...), nil
}

func (t *Tensor) Int32s() ([]int32, error) {
	if err := t.checked(Int32); err != nil {
		return nil, err
	}
	out := make([]int32, len(t.Raw)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(t.Raw[4*i:]))
	}
	return out, nil
}

func (t *Tensor) Int64s() ([]int64, error) {
	if err := t.checked(Int64); err != nil {
		return nil, err
	}
	out := make([]int64, len(t.Raw)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Raw[8*i:]))
	}
	return out, nil
}

// FP16s decodes half-precision values widened to float32.
func (t *Tensor) FP16s() ([]float32, error) {
	if err := t.checked(FP16); err != nil {
		return nil, err
	}
	out := make([]float32, len(t.Raw)/2)
	for i := range out {
		out[i] = HalfToFloat32(binary.LittleEndian.Uint16(t.Raw[2*i:]))
	}
	return out, nil
}

// BF16s decodes bfloat16 values (the top half of a float32) widened to float32.
func (t *Tensor) BF16s() ([]float32, error) {
	if err := t.checked(BF16); err != nil {
		return nil, err
	}
	out := make([]float32, len(t.Raw)/2)
	for i := range out {
		out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.Raw[2*i:])) << 16)
	}
	return out, nil
}

func (t *Tensor) Float32s() ([]float32, error) {
	if err := t.checked(FP32); err != nil {
		return nil, err
	}
	out := make([]float32, len(t.Raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Raw[4*i:]))
	}
	return out, nil
}

func (t *Tensor) Float64s() ([]float64, error) {
	if err := t.checked(FP64); err != nil {
		return nil, err
	}
	out := make([]float64, len(t.Raw)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Raw[8*i:]))
	}
	return out, nil
}

// ByteElements decodes a BYTES tensor; the elements alias Raw.
func (t *Tensor) ByteElements() ([][]byte, error) {
	if t.DataType != Bytes {
		return nil, errorf(t.Name, "datatype is %s, decoded as BYTES", t.DataType)
	}
	n, err := NumElements(t.Shape)
	if err != nil {
		return nil, errorf(t.Name, "%v", err)
	}
	return DecodeBytes(t.Name, t.Raw, n)
}

// Float64Values widens any numeric tensor to float64: what scoring code wants
// from a QUALITY output whatever precision the model returns.
func (t *Tensor) Float64Values() ([]float64, error) {
	switch t.DataType {
	case FP32:
		v, err := t.Float32s()
		return widen(v, err)
	case FP16:
		v, err := t.FP16s()
		return widen(v, err)
	case BF16:
		v, err := t.BF16s()
		return widen(v, err)
	case FP64:
		return t.Float64s()
	default:
		return nil, errorf(t.Name, "datatype %s is not a floating-point type", t.DataType)
	}
}

func widen(v []float32, err error) ([]float64, error) {
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out, nil
}

// Float32ToHalf converts to IEEE 754 binary16 with round-to-nearest-even.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN; keep NaN a quiet NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127 > 15:
		return sign | 0x7c00 // overflow to Inf
	case exp-127 >= -14: // normal half
		e := uint32(exp - 127 + 15)
		h := e<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++ // may carry into the exponent, which is the right rounding
		}
		return sign | uint16(h)
	case exp-127 >= -25: // subnormal half
		m := mant | 0x800000
		shift := uint32(-14-(exp-127)) + 13
		h := m >> shift
		rest := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || (rest == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	default:
		return sign
	}
}

// HalfToFloat32 converts IEEE 754 binary16 bits to float32 exactly.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: value = mant * 2^-24
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}
