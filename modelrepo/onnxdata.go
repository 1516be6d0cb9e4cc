package modelrepo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// ExternalTensor is an ONNX tensor whose bytes live in another file (ONNX
// external data: how models over protobuf's 2 GiB limit keep their weights,
// in model.onnx.data beside model.onnx).
type ExternalTensor struct {
	Name     string
	Location string // relative to the model file's folder
	Offset   int64
	Length   int64 // -1: to the end of the file
}

// External data field numbers of onnx.proto3.
const (
	modelGraph     = 7  // ModelProto.graph
	modelFunctions = 25 // ModelProto.functions
	funcNode       = 7  // FunctionProto.node
	graphNode      = 1  // GraphProto.node
	graphInit      = 5  // GraphProto.initializer
	graphSparse    = 15 // GraphProto.sparse_initializer
	nodeAttribute  = 5  // NodeProto.attribute
	tensorDims     = 1  // TensorProto.dims
	tensorType     = 2  // TensorProto.data_type
	tensorName     = 8  // TensorProto.name
	tensorExternal = 13 // TensorProto.external_data
	tensorLocation = 14 // TensorProto.data_location (1 = EXTERNAL)
)

// Fields holding tensors or graphs: AttributeProto t, g, tensors, graphs,
// sparse_tensor, sparse_tensors; SparseTensorProto values, indices.
var (
	attrTensors = map[protowire.Number]bool{5: true, 10: true}
	attrGraphs  = map[protowire.Number]bool{6: true, 11: true}
	attrSparse  = map[protowire.Number]bool{22: true, 23: true}
)

// ONNX element sizes by TensorProto.DataType (0: not fixed, e.g. STRING).
var onnxElemSize = map[uint64]int64{1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2}

// ExternalData lists the tensors of the ONNX file r (size bytes) that keep
// their data in other files. It reads only field headers, skipping the
// weights themselves, so a large inline model costs a few reads per tensor.
func ExternalData(r io.ReaderAt, size int64) ([]ExternalTensor, error) {
	p := &pbScan{r: r, size: size}
	var out []ExternalTensor
	err := p.fields(0, size, func(num protowire.Number, _ protowire.Type, start, end int64, _ uint64) error {
		switch num {
		case modelGraph:
			return p.graph(start, end, &out, 0)
		case modelFunctions:
			return p.fields(start, end, func(n protowire.Number, _ protowire.Type, s, e int64, _ uint64) error {
				if n == funcNode {
					return p.node(s, e, &out, 0)
				}
				return nil
			})
		}
		return nil
	})
	return out, err
}

func (p *pbScan) graph(start, end int64, out *[]ExternalTensor, depth int) error {
	if depth > 32 {
		return errors.New("subgraphs nested more than 32 deep")
	}
	return p.fields(start, end, func(num protowire.Number, _ protowire.Type, s, e int64, _ uint64) error {
		switch num {
		case graphNode:
			return p.node(s, e, out, depth)
		case graphInit:
			return p.tensor(s, e, out)
		case graphSparse:
			return p.sparse(s, e, out)
		}
		return nil
	})
}

func (p *pbScan) node(start, end int64, out *[]ExternalTensor, depth int) error {
	return p.fields(start, end, func(num protowire.Number, _ protowire.Type, s, e int64, _ uint64) error {
		if num != nodeAttribute {
			return nil
		}
		return p.fields(s, e, func(n protowire.Number, _ protowire.Type, as, ae int64, _ uint64) error {
			switch {
			case attrTensors[n]:
				return p.tensor(as, ae, out)
			case attrGraphs[n]:
				return p.graph(as, ae, out, depth+1)
			case attrSparse[n]:
				return p.sparse(as, ae, out)
			}
			return nil
		})
	})
}

func (p *pbScan) sparse(start, end int64, out *[]ExternalTensor) error {
	return p.fields(start, end, func(num protowire.Number, _ protowire.Type, s, e int64, _ uint64) error {
		if num == 1 || num == 2 { // values, indices
			return p.tensor(s, e, out)
		}
		return nil
	})
}

func (p *pbScan) tensor(start, end int64, out *[]ExternalTensor) error {
	var t ExternalTensor
	var external bool
	var elem uint64
	numel := int64(1)
	info := map[string]string{}
	err := p.fields(start, end, func(num protowire.Number, typ protowire.Type, s, e int64, v uint64) error {
		switch {
		case num == tensorName && typ == protowire.BytesType:
			b, err := p.bytes(s, e)
			t.Name = string(b)
			return err
		case num == tensorLocation && typ == protowire.VarintType:
			external = v == 1
		case num == tensorType && typ == protowire.VarintType:
			elem = v
		case num == tensorDims && typ == protowire.VarintType:
			numel *= int64(v)
		case num == tensorDims && typ == protowire.BytesType: // packed
			b, err := p.bytes(s, e)
			for len(b) > 0 && err == nil {
				d, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return errors.New("bad packed dims")
				}
				numel *= int64(d)
				b = b[n:]
			}
			return err
		case num == tensorExternal && typ == protowire.BytesType:
			return p.entry(s, e, info)
		}
		return nil
	})
	if err != nil || !external {
		return err
	}
	t.Location = info["location"]
	t.Length = -1
	if t.Offset, err = optionalInt(info, "offset", 0); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if size := onnxElemSize[elem]; size > 0 {
		t.Length = numel * size
	}
	if t.Length, err = optionalInt(info, "length", t.Length); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	*out = append(*out, t)
	return nil
}

func optionalInt(info map[string]string, key string, def int64) (int64, error) {
	s, ok := info[key]
	if !ok {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("external data %s %q is not a byte count", key, s)
	}
	return v, nil
}

// entry reads a StringStringEntryProto (key 1, value 2) into info.
func (p *pbScan) entry(start, end int64, info map[string]string) error {
	var k, v string
	err := p.fields(start, end, func(num protowire.Number, typ protowire.Type, s, e int64, _ uint64) error {
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			return nil
		}
		b, err := p.bytes(s, e)
		if num == 1 {
			k = string(b)
		} else {
			v = string(b)
		}
		return err
	})
	info[k] = v
	return err
}

// pbScan walks protobuf wire data through a small window over an
// io.ReaderAt, so skipped fields (raw weights) are never read.
type pbScan struct {
	r    io.ReaderAt
	size int64
	win  []byte
	at   int64 // file offset of win[0]
}

const scanWindow = 64 << 10

// bytes returns file bytes [s, e); short ranges come from the window.
func (p *pbScan) bytes(s, e int64) ([]byte, error) {
	if e-s > 1<<20 {
		return nil, fmt.Errorf("field at byte %d is %d bytes, too long for a name", s, e-s)
	}
	if s >= p.at && e <= p.at+int64(len(p.win)) {
		return p.win[s-p.at : e-p.at], nil
	}
	n := max(e-s, scanWindow)
	n = min(n, p.size-s)
	if n < e-s {
		return nil, io.ErrUnexpectedEOF
	}
	buf := make([]byte, n)
	if k, err := p.r.ReadAt(buf, s); int64(k) < e-s {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	} else {
		buf = buf[:k]
	}
	p.win, p.at = buf, s
	return buf[:e-s], nil
}

// fields calls fn for every field of the message in [start, end): its
// number, wire type, value range, and for varints the value.
func (p *pbScan) fields(start, end int64, fn func(protowire.Number, protowire.Type, int64, int64, uint64) error) error {
	for off := start; off < end; {
		head, err := p.bytes(off, min(off+20, end))
		if err != nil {
			return err
		}
		num, typ, n := protowire.ConsumeTag(head)
		if n < 0 {
			return fmt.Errorf("bad field tag at byte %d", off)
		}
		off += int64(n)
		head = head[n:]
		var s, e int64
		var v uint64
		switch typ {
		case protowire.VarintType:
			var k int
			if v, k = protowire.ConsumeVarint(head); k < 0 {
				return fmt.Errorf("bad varint at byte %d", off)
			}
			s, e = off, off+int64(k)
		case protowire.Fixed32Type:
			s, e = off, off+4
		case protowire.Fixed64Type:
			s, e = off, off+8
		case protowire.BytesType:
			l, k := protowire.ConsumeVarint(head)
			if k < 0 || l > uint64(end-off) {
				return fmt.Errorf("field %d at byte %d runs past its message", num, off)
			}
			s = off + int64(k)
			e = s + int64(l)
		default:
			return fmt.Errorf("unsupported wire type %d at byte %d", typ, off)
		}
		if e > end {
			return fmt.Errorf("field %d at byte %d runs past its message", num, off)
		}
		if err := fn(num, typ, s, e, v); err != nil {
			return err
		}
		off = e
	}
	return nil
}

// externalDataProblems checks that every external tensor of the ONNX file
// rel (slash path in fsys) has its data: the file exists beside it, inside
// the version folder, and is long enough. An unreadable or malformed model
// file is not reported here: the backend that loads it says what is wrong.
func externalDataProblems(fsys fs.FS, rel, display string) []string {
	f, err := fsys.Open(rel)
	if err != nil {
		return nil
	}
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	st, serr := f.Stat()
	if !ok || serr != nil {
		return nil
	}
	tensors, err := ExternalData(ra, st.Size())
	if err != nil {
		return nil
	}
	dir := path.Dir(rel)
	sizes := map[string]int64{}
	var problems []string
	for _, t := range tensors {
		loc := t.Location
		if loc == "" || path.IsAbs(loc) || strings.HasPrefix(loc, "/") || !fs.ValidPath(path.Join(dir, loc)) ||
			strings.Contains("/"+loc+"/", "/../") {
			problems = append(problems, fmt.Sprintf("tensor %q: external data location %q is not a file name beside %s", t.Name, loc, display))
			continue
		}
		size, seen := sizes[loc]
		if !seen {
			size = -1
			if dst, err := fs.Stat(fsys, path.Join(dir, loc)); err == nil && !dst.IsDir() {
				size = dst.Size()
			}
			sizes[loc] = size
		}
		need := t.Offset + max(t.Length, 0)
		switch {
		case size < 0 && !seen:
			problems = append(problems, fmt.Sprintf("external data file %s is missing (tensor %q and the model's other weights are kept there; copy it beside %s)",
				loc, t.Name, path.Base(rel)))
		case size >= 0 && need > size:
			problems = append(problems, fmt.Sprintf("external data file %s is %d bytes, but tensor %q needs bytes %d..%d: the file is truncated or belongs to another export",
				loc, size, t.Name, t.Offset, need))
			sizes[loc] = -2 // one message per file
		}
	}
	return problems
}
