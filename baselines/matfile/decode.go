package matfile

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Data element types (miINT8 ...).
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
	miUTF8       = 16
	miUTF16      = 17
	miUTF32      = 18
)

const (
	flagComplex = 0x08
	flagLogical = 0x02
)

func nan() float64 { return math.NaN() }

type decoder struct {
	order binary.ByteOrder
	depth int
}

// tag reads one element tag at b, returning its type, its payload and the bytes after it
// (payloads are padded to 8 bytes; small elements pack up to 4 bytes into the tag itself).
func (d *decoder) tag(b []byte) (typ uint32, payload, rest []byte, err error) {
	if len(b) < 8 {
		return 0, nil, nil, fmt.Errorf("matfile: truncated element tag (%d bytes left)", len(b))
	}
	first := d.order.Uint32(b[:4])
	if first>>16 != 0 { // small data element format
		n := int(first >> 16)
		if n > 4 {
			return 0, nil, nil, fmt.Errorf("matfile: small data element claims %d bytes", n)
		}
		return first & 0xffff, b[4 : 4+n], b[8:], nil
	}
	n := int(d.order.Uint32(b[4:8]))
	if n < 0 || n > len(b)-8 {
		return 0, nil, nil, fmt.Errorf("matfile: element of type %d claims %d bytes, %d left", first, n, len(b)-8)
	}
	end := 8 + n
	if first != miCOMPRESSED {
		end = 8 + (n+7)/8*8
		if end > len(b) {
			end = len(b)
		}
	}
	return first, b[8 : 8+n], b[end:], nil
}

// elements decodes a sequence of top-level (or decompressed) elements, calling fn for each array.
func (d *decoder) elements(b []byte, fn func(*Array) error) error {
	for len(b) > 0 {
		if len(b) < 8 { // trailing padding
			return nil
		}
		typ, payload, rest, err := d.tag(b)
		if err != nil {
			return err
		}
		b = rest
		switch typ {
		case miCOMPRESSED:
			zr, err := zlib.NewReader(bytes.NewReader(payload))
			if err != nil {
				return fmt.Errorf("matfile: compressed element: %w", err)
			}
			inner, err := io.ReadAll(zr)
			if err != nil {
				return fmt.Errorf("matfile: compressed element: %w", err)
			}
			if err := d.elements(inner, fn); err != nil {
				return err
			}
		case miMATRIX:
			a, err := d.matrix(payload)
			if err != nil {
				return err
			}
			if err := fn(a); err != nil {
				return err
			}
		default:
			return fmt.Errorf("matfile: unexpected top-level element of type %d (want miMATRIX or miCOMPRESSED)", typ)
		}
	}
	return nil
}

// matrix decodes the payload of one miMATRIX element.
func (d *decoder) matrix(b []byte) (*Array, error) {
	if len(b) == 0 {
		return &Array{Class: Double, Dims: []int{0, 0}}, nil // an empty placeholder
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > 64 {
		return nil, fmt.Errorf("matfile: arrays nested more than 64 deep")
	}
	typ, flags, b, err := d.tag(b)
	if err != nil || typ != miUINT32 || len(flags) < 8 {
		return nil, fmt.Errorf("matfile: bad array flags subelement (type %d, %d bytes, %v)", typ, len(flags), err)
	}
	f := d.order.Uint32(flags[:4])
	a := &Array{Class: Class(f & 0xff), Logical: f>>8&flagLogical != 0}
	complexFlag := f>>8&flagComplex != 0
	typ, dims, b, err := d.tag(b)
	if err != nil || typ != miINT32 {
		return nil, fmt.Errorf("matfile: bad dimensions subelement (type %d, %v)", typ, err)
	}
	for i := 0; i+4 <= len(dims); i += 4 {
		v := int(int32(d.order.Uint32(dims[i:])))
		if v < 0 {
			return nil, fmt.Errorf("matfile: negative dimension %d", v)
		}
		a.Dims = append(a.Dims, v)
	}
	typ, name, b, err := d.tag(b)
	if err != nil || (typ != miINT8 && typ != miUINT8) {
		return nil, fmt.Errorf("matfile: bad array name subelement (type %d, %v)", typ, err)
	}
	a.Name = string(name)
	if n := a.Len(); n > 1<<31 {
		return nil, fmt.Errorf("matfile: %q has %d elements, too many", a.Name, n)
	}
	if complexFlag {
		return nil, fmt.Errorf("matfile: %q is a complex %s array, which is not supported", a.Name, a.Class)
	}
	switch {
	case a.Class == Cell:
		err = d.cells(a, b)
	case a.Class == Struct:
		err = d.structure(a, b)
	case a.Class == Sparse:
		err = d.sparse(a, b, f)
	case a.Class == Char || (a.Class >= Double && a.Class <= Uint64):
		err = d.numeric(a, b)
	default:
		err = fmt.Errorf("matfile: %q is a %s array, which is not supported", a.Name, a.Class)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (d *decoder) numeric(a *Array, b []byte) error {
	typ, payload, _, err := d.tag(b)
	if err != nil {
		return fmt.Errorf("matfile: %q: %w", a.Name, err)
	}
	v, err := d.values(typ, payload)
	if err != nil {
		return fmt.Errorf("matfile: %q (%s): %w", a.Name, a.Class, err)
	}
	if a.Class == Char && (typ == miUTF8) {
		v = nil
		for _, r := range string(payload) {
			v = append(v, float64(r))
		}
	}
	if len(v) != a.Len() {
		return fmt.Errorf("matfile: %q (%s %v) holds %d values, want %d", a.Name, a.Class, a.Dims, len(v), a.Len())
	}
	a.Data = v
	return nil
}

// values converts a numeric data subelement to float64.
func (d *decoder) values(typ uint32, p []byte) ([]float64, error) {
	size := map[uint32]int{miINT8: 1, miUINT8: 1, miUTF8: 1, miINT16: 2, miUINT16: 2, miUTF16: 2, miINT32: 4,
		miUINT32: 4, miUTF32: 4, miSINGLE: 4, miDOUBLE: 8, miINT64: 8, miUINT64: 8}[typ]
	if size == 0 {
		return nil, fmt.Errorf("unsupported data type %d", typ)
	}
	if len(p)%size != 0 {
		return nil, fmt.Errorf("data type %d: %d bytes is not a whole number of values", typ, len(p))
	}
	n := len(p) / size
	v := make([]float64, n)
	o := d.order
	for i := 0; i < n; i++ {
		q := p[i*size:]
		switch typ {
		case miINT8:
			v[i] = float64(int8(q[0]))
		case miUINT8, miUTF8:
			v[i] = float64(q[0])
		case miINT16:
			v[i] = float64(int16(o.Uint16(q)))
		case miUINT16, miUTF16:
			v[i] = float64(o.Uint16(q))
		case miINT32:
			v[i] = float64(int32(o.Uint32(q)))
		case miUINT32, miUTF32:
			v[i] = float64(o.Uint32(q))
		case miSINGLE:
			v[i] = float64(math.Float32frombits(o.Uint32(q)))
		case miDOUBLE:
			v[i] = math.Float64frombits(o.Uint64(q))
		case miINT64:
			v[i] = float64(int64(o.Uint64(q)))
		case miUINT64:
			v[i] = float64(o.Uint64(q))
		}
	}
	return v, nil
}

func (d *decoder) sparse(a *Array, b []byte, flags uint32) error {
	if len(a.Dims) != 2 {
		return fmt.Errorf("matfile: sparse %q has %d dimensions", a.Name, len(a.Dims))
	}
	var parts [3][]float64
	for k := range parts {
		typ, payload, rest, err := d.tag(b)
		if err != nil {
			return fmt.Errorf("matfile: sparse %q: %w", a.Name, err)
		}
		if parts[k], err = d.values(typ, payload); err != nil {
			return fmt.Errorf("matfile: sparse %q: %w", a.Name, err)
		}
		b = rest
	}
	ir, jc, pr := parts[0], parts[1], parts[2]
	m, n := a.Dims[0], a.Dims[1]
	if len(jc) < n+1 {
		return fmt.Errorf("matfile: sparse %q: %d column pointers for %d columns", a.Name, len(jc), n)
	}
	a.Data = make([]float64, m*n)
	for j := 0; j < n; j++ {
		for k := int(jc[j]); k < int(jc[j+1]); k++ {
			if k < 0 || k >= len(ir) || int(ir[k]) >= m {
				return fmt.Errorf("matfile: sparse %q: bad row index at nonzero %d", a.Name, k)
			}
			v := 1.0 // a logical sparse matrix may omit its values
			if k < len(pr) {
				v = pr[k]
			}
			a.Data[j*m+int(ir[k])] = v
		}
	}
	return nil
}

func (d *decoder) cells(a *Array, b []byte) error {
	for i := 0; i < a.Len(); i++ {
		typ, payload, rest, err := d.tag(b)
		if err != nil || typ != miMATRIX {
			return fmt.Errorf("matfile: cell %q element %d: type %d, %v", a.Name, i, typ, err)
		}
		c, err := d.matrix(payload)
		if err != nil {
			return fmt.Errorf("matfile: cell %q element %d: %w", a.Name, i, err)
		}
		a.Cells = append(a.Cells, c)
		b = rest
	}
	return nil
}

func (d *decoder) structure(a *Array, b []byte) error {
	typ, lenp, b, err := d.tag(b)
	if err != nil || typ != miINT32 || len(lenp) < 4 {
		return fmt.Errorf("matfile: struct %q: bad field name length (type %d, %v)", a.Name, typ, err)
	}
	fl := int(d.order.Uint32(lenp))
	typ, names, b, err := d.tag(b)
	if err != nil || typ != miINT8 || fl <= 0 || len(names)%fl != 0 {
		return fmt.Errorf("matfile: struct %q: bad field names (type %d, %v)", a.Name, typ, err)
	}
	for i := 0; i < len(names); i += fl {
		a.Fields = append(a.Fields, string(bytes.TrimRight(names[i:i+fl], "\x00")))
	}
	for e := 0; e < a.Len(); e++ {
		m := map[string]*Array{}
		for _, name := range a.Fields {
			typ, payload, rest, err := d.tag(b)
			if err != nil || typ != miMATRIX {
				return fmt.Errorf("matfile: struct %q field %q: type %d, %v", a.Name, name, typ, err)
			}
			v, err := d.matrix(payload)
			if err != nil {
				return fmt.Errorf("matfile: struct %q field %q: %w", a.Name, name, err)
			}
			v.Name = name
			m[name] = v
			b = rest
		}
		a.Elems = append(a.Elems, m)
	}
	return nil
}
