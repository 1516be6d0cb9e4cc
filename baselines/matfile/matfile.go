// Package matfile reads MATLAB level-5 MAT files (what MATLAB's save writes by default, and
// `save -v6` / `-v7` in MATLAB and Octave): numeric, logical and char arrays, sparse double and logical
// matrices, structs and cells, plain or zlib-compressed (miCOMPRESSED). Version 7.3 files are HDF5 and
// version 4 files have another layout; both are rejected with an error saying so. Values become
// float64 whatever class stores them (int64 beyond 2^53 loses precision); complex arrays, objects and
// function handles are rejected by name.
package matfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Class is the MATLAB class of an array (mxCLASS_ID).
type Class int

// The classes of the MAT-file specification; Sparse is a sparse double or logical matrix.
const (
	Cell     Class = 1
	Struct   Class = 2
	Object   Class = 3
	Char     Class = 4
	Sparse   Class = 5
	Double   Class = 6
	Single   Class = 7
	Int8     Class = 8
	Uint8    Class = 9
	Int16    Class = 10
	Uint16   Class = 11
	Int32    Class = 12
	Uint32   Class = 13
	Int64    Class = 14
	Uint64   Class = 15
	Function Class = 16
	Opaque   Class = 17
)

var classNames = map[Class]string{
	Cell: "cell", Struct: "struct", Object: "object", Char: "char", Sparse: "sparse", Double: "double",
	Single: "single", Int8: "int8", Uint8: "uint8", Int16: "int16", Uint16: "uint16", Int32: "int32",
	Uint32: "uint32", Int64: "int64", Uint64: "uint64", Function: "function_handle", Opaque: "opaque",
}

func (c Class) String() string {
	if s, ok := classNames[c]; ok {
		return s
	}
	return fmt.Sprintf("class %d", int(c))
}

// Array is one MATLAB array. Data holds numeric, logical and char values (character codes) in
// MATLAB's column-major order, element (i, j) at Data[j*Dims[0]+i]; a sparse matrix is expanded
// to dense Data as well. Struct arrays hold one field map per element (column-major) in Elems
// with the field names in file order in Fields; cell arrays hold their elements in Cells.
type Array struct {
	Name    string
	Class   Class
	Logical bool // a logical array (stored as uint8 or sparse)
	Dims    []int
	Data    []float64
	Fields  []string
	Elems   []map[string]*Array
	Cells   []*Array
}

// Len is the number of elements (the product of Dims).
func (a *Array) Len() int {
	n := 1
	for _, d := range a.Dims {
		n *= d
	}
	return n
}

// At returns element (i, j) (zero-based) of a numeric, logical or char matrix, or NaN when the
// array holds no such element.
func (a *Array) At(i, j int) float64 {
	if len(a.Dims) < 2 || i < 0 || j < 0 || i >= a.Dims[0] || j*a.Dims[0]+i >= len(a.Data) {
		return nan()
	}
	return a.Data[j*a.Dims[0]+i]
}

// Field returns field name of a 1x1 struct.
func (a *Array) Field(name string) (*Array, error) {
	if a.Class != Struct {
		return nil, fmt.Errorf("matfile: %q is a %s, not a struct (looking for field %q)", a.Name, a.Class, name)
	}
	if len(a.Elems) != 1 {
		return nil, fmt.Errorf("matfile: struct %q has %d elements, want 1 (looking for field %q)", a.Name, len(a.Elems), name)
	}
	f, ok := a.Elems[0][name]
	if !ok {
		return nil, fmt.Errorf("matfile: struct %q has no field %q (fields: %s)", a.Name, name, strings.Join(a.Fields, ", "))
	}
	return f, nil
}

// String returns a char array's text (rows concatenated column-major, as MATLAB's c(:)').
func (a *Array) String() (string, error) {
	if a.Class != Char {
		return "", fmt.Errorf("matfile: %q is a %s, not a char array", a.Name, a.Class)
	}
	r := make([]rune, len(a.Data))
	for i, v := range a.Data {
		r[i] = rune(v)
	}
	return string(r), nil
}

// Read parses a level-5 MAT file and returns its variables by name.
func Read(r io.Reader) (map[string]*Array, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("matfile: reading: %w", err)
	}
	order, err := checkHeader(raw)
	if err != nil {
		return nil, err
	}
	vars := map[string]*Array{}
	d := &decoder{order: order}
	if err := d.elements(raw[128:], func(a *Array) error {
		if a.Name == "" {
			return nil // subsystem data and unnamed leftovers hold no variable
		}
		vars[a.Name] = a
		return nil
	}); err != nil {
		return nil, err
	}
	return vars, nil
}

func checkHeader(raw []byte) (binary.ByteOrder, error) {
	if len(raw) >= 8 && bytes.Equal(raw[:8], []byte("\x89HDF\r\n\x1a\n")) {
		return nil, errors.New("matfile: this is an HDF5 file (MAT version 7.3), which is not supported: save it with -v7 or -v6")
	}
	if len(raw) < 128 {
		return nil, fmt.Errorf("matfile: %d bytes is too short for a MAT v5 header (128 bytes)", len(raw))
	}
	text := string(raw[:116])
	if !strings.HasPrefix(text, "MATLAB") {
		return nil, errors.New("matfile: no 'MATLAB 5.0 MAT-file' header text: not a level-5 MAT file (a version 4 file?), which is not supported")
	}
	var order binary.ByteOrder
	switch string(raw[126:128]) {
	case "IM":
		order = binary.LittleEndian
	case "MI":
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("matfile: bad endian indicator %q in the header", raw[126:128])
	}
	switch v := order.Uint16(raw[124:126]); v {
	case 0x0100:
		return order, nil
	case 0x0200:
		return nil, errors.New("matfile: MAT version 7.3 (HDF5) files are not supported: save it with -v7 or -v6")
	default:
		return nil, fmt.Errorf("matfile: unsupported MAT version 0x%04x in the header", v)
	}
}
