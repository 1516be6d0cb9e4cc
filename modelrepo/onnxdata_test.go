package modelrepo

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/encoding/protowire"
)

// The ONNX files of these tests are written field by field with the field
// numbers of onnx.proto3 (TensorProto dims 1, data_type 2, name 8, raw_data
// 9, external_data 13, data_location 14; GraphProto node 1, initializer 5;
// NodeProto attribute 5; AttributeProto t 5, g 6; ModelProto ir_version 1,
// graph 7), so the scanner is checked against the schema, not against itself.

func msg(fields ...[]byte) []byte { return bytes.Join(fields, nil) }

func bytesField(num protowire.Number, b []byte) []byte {
	out := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(out, b)
}

func varintField(num protowire.Number, v uint64) []byte {
	out := protowire.AppendTag(nil, num, protowire.VarintType)
	return protowire.AppendVarint(out, v)
}

func entry(k, v string) []byte {
	return bytesField(13, msg(bytesField(1, []byte(k)), bytesField(2, []byte(v))))
}

// floatTensor is a FLOAT tensor of dims, external at (location, offset) or,
// with location "", inline raw bytes.
func floatTensor(name string, dims []uint64, location string, offset int64, withLength bool) []byte {
	var packed []byte
	n := uint64(1)
	for _, d := range dims {
		packed = protowire.AppendVarint(packed, d)
		n *= d
	}
	f := msg(bytesField(1, packed), varintField(2, 1), bytesField(8, []byte(name)))
	if location == "" {
		return msg(f, bytesField(9, make([]byte, 4*n)))
	}
	f = msg(f, entry("location", location), entry("offset", strconv.FormatInt(offset, 10)))
	if withLength {
		f = msg(f, entry("length", strconv.FormatInt(int64(4*n), 10)))
	}
	return msg(f, varintField(14, 1))
}

// onnxModel: an initializer w [4, 8] at offset 0 of model.onnx.data (length
// given), and inside an If node's then-branch a Constant tensor c [16] at
// offset 4096 (length left to dims x type), plus an inline b [3].
func onnxModel(location string) []byte {
	sub := msg(bytesField(1, msg(bytesField(5, msg(bytesField(1, []byte("value")), bytesField(5, floatTensor("c", []uint64{16}, location, 4096, false)))))))
	node := msg(bytesField(5, msg(bytesField(1, []byte("then_branch")), bytesField(6, sub))))
	graph := msg(bytesField(1, node), bytesField(5, floatTensor("w", []uint64{4, 8}, location, 0, true)),
		bytesField(5, floatTensor("b", []uint64{3}, "", 0, false)))
	return msg(varintField(1, 8), bytesField(7, graph))
}

func TestExternalDataFindsEveryExternalTensor(t *testing.T) {
	data := onnxModel("model.onnx.data")
	got, err := ExternalData(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := []ExternalTensor{{"c", "model.onnx.data", 4096, 64}, {"w", "model.onnx.data", 0, 128}}
	if !slices.Equal(got, want) {
		t.Errorf("ExternalData = %+v, want %+v", got, want)
	}
	inline := onnxModel("")
	if got, err := ExternalData(bytes.NewReader(inline), int64(len(inline))); err != nil || len(got) != 0 {
		t.Errorf("inline model: %+v, %v; want none", got, err)
	}
	if _, err := ExternalData(bytes.NewReader(data[:len(data)-7]), int64(len(data)-7)); err == nil {
		t.Error("truncated model file: no error")
	}
}

func onnxRepo(model []byte, data *fstest.MapFile) fstest.MapFS {
	fsys := fstest.MapFS{
		"big/config.pbtxt": file(`platform: "onnxruntime_onnx"
max_batch_size: 1
input [ { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 4, 4 ] } ]
output [ { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] } ]
`),
		"big/1/model.onnx": {Data: model},
	}
	if data != nil {
		fsys["big/1/model.onnx.data"] = data
	}
	return fsys
}

func TestRepoChecksExternalDataFiles(t *testing.T) {
	model := onnxModel("model.onnx.data")
	for _, c := range []struct {
		name  string
		fsys  fstest.MapFS
		error string // "" : the model loads
	}{
		{"data beside the model", onnxRepo(model, &fstest.MapFile{Data: make([]byte, 4096+64)}), ""},
		{"inline model", onnxRepo(onnxModel(""), nil), ""},
		{"not an ONNX file: left to the backend", onnxRepo([]byte("\xff\xff\xff garbage"), nil), ""},
		{"data missing", onnxRepo(model, nil),
			`repo/big/1/model.onnx: external data file model.onnx.data is missing (tensor "c" and the model's other weights are kept there; copy it beside model.onnx)`},
		{"data truncated", onnxRepo(model, &fstest.MapFile{Data: make([]byte, 4100)}),
			`repo/big/1/model.onnx: external data file model.onnx.data is 4100 bytes, but tensor "c" needs bytes 4096..4160: the file is truncated or belongs to another export`},
		{"location outside the folder", onnxRepo(onnxModel("../weights.bin"), nil),
			`repo/big/1/model.onnx: tensor "c": external data location "../weights.bin" is not a file name beside repo/big/1/model.onnx`},
	} {
		t.Run(c.name, func(t *testing.T) {
			repo, err := OpenFS(c.fsys, "repo")
			if err != nil {
				t.Fatal(err)
			}
			if c.error == "" {
				if len(repo.Errors) > 0 || repo.Model("big") == nil {
					t.Fatalf("errors %v", repo.Errors)
				}
				return
			}
			if len(repo.Errors) != 1 {
				t.Fatalf("errors %v, want one", repo.Errors)
			}
			if got := repo.Errors[0].Err.Error(); !strings.Contains(got, c.error) {
				t.Errorf("error:\n  %s\nwant it to contain:\n  %s", got, c.error)
			}
			if repo.Errors[0].Config == nil {
				t.Error("ModelError has no Config: repo check could not add the contract problems")
			}
		})
	}
}

// An unselected version's data is not checked: only what a server loads.
func TestRepoChecksOnlySelectedVersions(t *testing.T) {
	fsys := onnxRepo(onnxModel(""), nil)
	fsys["big/2/model.onnx"] = &fstest.MapFile{Data: onnxModel("model.onnx.data")} // latest: version 2 served
	repo, err := OpenFS(fsys, "repo")
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Errors) != 1 || !strings.Contains(repo.Errors[0].Error(), "big/2/model.onnx: external data file model.onnx.data is missing") {
		t.Fatalf("errors %v", repo.Errors)
	}
	delete(fsys, "big/2/model.onnx")
	fsys["big/1/model.onnx"] = &fstest.MapFile{Data: onnxModel("model.onnx.data")}
	fsys["big/2/model.onnx"] = &fstest.MapFile{Data: onnxModel("")}
	if repo, err = OpenFS(fsys, "repo"); err != nil || len(repo.Errors) != 0 {
		t.Fatalf("version 1 unselected: %v %v", err, repo.Errors)
	}
}
