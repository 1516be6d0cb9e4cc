package ortbackend

import (
	"errors"
	"strings"
	"testing"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

func parseConfig(t *testing.T, text string) *pb.ModelConfig {
	t.Helper()
	cfg, err := modelrepo.ParseConfig("config.pbtxt", []byte(text), "m")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

const contractConfig = `
name: "m"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 64, 64 ] },
  { name: "TOKENS" data_type: TYPE_INT64 dims: [ 77 ] }
]
output [
  { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] },
  { name: "ALIGNMENT" data_type: TYPE_FP32 dims: [ 1 ] }
]`

var (
	u8  = pb.DataType_TYPE_UINT8
	i64 = pb.DataType_TYPE_INT64
	f32 = pb.DataType_TYPE_FP32
)

// exportedIO is what the Python export writes for a tiny IP-IQA.
func exportedIO() (in, out []TensorInfo) {
	return []TensorInfo{
			{Name: "IMAGE", DataType: u8, Dims: []int64{-1, 3, 64, 64}},
			{Name: "TOKENS", DataType: i64, Dims: []int64{-1, 77}},
		}, []TensorInfo{
			{Name: "QUALITY", DataType: f32, Dims: []int64{-1, 1}},
			{Name: "ALIGNMENT", DataType: f32, Dims: []int64{-1, 1}},
		}
}

func TestCheckIOAccepts(t *testing.T) {
	cfg := parseConfig(t, contractConfig)
	in, out := exportedIO()
	if err := CheckIO("m", 1, "model.onnx", cfg, in, out); err != nil {
		t.Fatalf("matching graph rejected: %v", err)
	}
	// A variable graph dimension serves any configured size; extra graph outputs are not returned, not an error.
	in[0].Dims = []int64{-1, 3, -1, -1}
	out = append(out, TensorInfo{Name: "FEATURES", DataType: f32, Dims: []int64{-1, 1024}})
	if err := CheckIO("m", 1, "model.onnx", cfg, in, out); err != nil {
		t.Fatalf("variable spatial dims / extra output rejected: %v", err)
	}
	// Without batching the graph dims are the config dims as they are.
	nb := parseConfig(t, strings.Replace(contractConfig, "max_batch_size: 8", "max_batch_size: 0", 1))
	in, out = exportedIO()
	for _, ts := range [][]TensorInfo{in, out} {
		for i := range ts {
			ts[i].Dims = ts[i].Dims[1:]
		}
	}
	if err := CheckIO("m", 1, "model.onnx", nb, in, out); err != nil {
		t.Fatalf("unbatched graph rejected: %v", err)
	}
	// A reshape is what the graph sees.
	rs := parseConfig(t, strings.Replace(contractConfig, `dims: [ 77 ] }`, `dims: [ 77 ] reshape: { shape: [ 7, 11 ] } }`, 1))
	in, out = exportedIO()
	in[1].Dims = []int64{-1, 7, 11}
	if err := CheckIO("m", 1, "model.onnx", rs, in, out); err != nil {
		t.Fatalf("reshaped input rejected: %v", err)
	}
}

func TestCheckIORejects(t *testing.T) {
	cfg := parseConfig(t, contractConfig)
	cases := []struct {
		name   string
		edit   func(in, out []TensorInfo) ([]TensorInfo, []TensorInfo)
		errHas []string
	}{
		{"image size", func(in, out []TensorInfo) ([]TensorInfo, []TensorInfo) {
			in[0].Dims = []int64{-1, 3, 32, 32}
			return in, out
		}, []string{`input "IMAGE"`, "config.pbtxt expects UINT8 [-1,3,64,64]", "model.onnx has UINT8 [-1,3,32,32]", "dimension 2"}},
		{"fixed batch", func(in, out []TensorInfo) ([]TensorInfo, []TensorInfo) {
			in[1].Dims = []int64{1, 77}
			return in, out
		}, []string{`input "TOKENS"`, "INT64 [-1,77]", "INT64 [1,77]", "max_batch_size 8 needs a variable first dimension"}},
		{"element type", func(in, out []TensorInfo) ([]TensorInfo, []TensorInfo) {
			in[0].DataType = f32
			return in, out
		}, []string{`input "IMAGE"`, "UINT8 [-1,3,64,64]", "FP32 [-1,3,64,64]", "element types differ"}},
		{"rank", func(in, out []TensorInfo) ([]TensorInfo, []TensorInfo) {
			out[0].Dims = []int64{-1}
			return in, out
		}, []string{`output "QUALITY"`, "FP32 [-1,1]", "FP32 [-1]", "ranks differ"}},
		{"missing output", func(in, out []TensorInfo) ([]TensorInfo, []TensorInfo) {
			return in, out[:1]
		}, []string{`output "ALIGNMENT"`, "no such output", `"QUALITY" FP32 [-1,1]`}},
		{"graph input not in config", func(in, out []TensorInfo) ([]TensorInfo, []TensorInfo) {
			return append(in, TensorInfo{Name: "MASK", DataType: u8, Dims: []int64{-1, 77}}), out
		}, []string{`input "MASK"`, "UINT8 [-1,77]", "does not list it"}},
		{"not a tensor", func(in, out []TensorInfo) ([]TensorInfo, []TensorInfo) {
			out[1] = TensorInfo{Name: "ALIGNMENT", Desc: `Sequence "ALIGNMENT"`}
			return in, out
		}, []string{`output "ALIGNMENT"`, `has Sequence "ALIGNMENT"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, out := c.edit(exportedIO())
			err := CheckIO("m", 3, "model.onnx", cfg, in, out)
			var me *MismatchError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *MismatchError", err)
			}
			if me.Model != "m" || me.Version != 3 || len(me.Problems) != 1 {
				t.Errorf("MismatchError %+v: want model m version 3 with one problem", me)
			}
			msg := err.Error()
			for _, s := range append(c.errHas, `model "m" version 3`) {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
		})
	}
}

func TestSupportedConfig(t *testing.T) {
	ok := parseConfig(t, contractConfig)
	if err := supportedConfig("m", ok); err != nil {
		t.Fatalf("contract config refused: %v", err)
	}
	for _, c := range []struct{ old, new, errHas string }{
		{`{ name: "TOKENS" data_type: TYPE_INT64`, `{ name: "TOKENS" data_type: TYPE_STRING`, `input "TOKENS": datatype TYPE_STRING`},
		{`{ name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ]`, `{ name: "QUALITY" data_type: TYPE_FP16 dims: [ -1 ]`, `output "QUALITY": FP16 output dims [-1]`},
		{`dims: [ 77 ] }`, `dims: [ -1, 7 ] reshape: { shape: [ -1, 7 ] } }`, `reshape [-1,7]`},
	} {
		cfg := parseConfig(t, strings.Replace(contractConfig, c.old, c.new, 1))
		err := supportedConfig("m", cfg)
		if err == nil || !strings.Contains(err.Error(), c.errHas) || !strings.Contains(err.Error(), `model "m"`) {
			t.Errorf("%s: err = %v, want one naming the model and %q", c.new, err, c.errHas)
		}
	}
}
