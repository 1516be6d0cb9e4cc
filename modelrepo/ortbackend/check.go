package ortbackend

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// DefaultModelFile is the file a version folder holds unless the config's
// default_model_filename says otherwise (Triton's convention).
const DefaultModelFile = "model.onnx"

// ModelFileName is the ONNX file of each version folder for cfg.
func ModelFileName(cfg *pb.ModelConfig) string {
	if f := cfg.GetDefaultModelFilename(); f != "" {
		return f
	}
	return DefaultModelFile
}

// TensorInfo is one input or output as ONNX Runtime reports it.
type TensorInfo struct {
	Name string
	// DataType is the config enum for the element type; TYPE_INVALID when the
	// value is not a tensor or its element type has no config equivalent
	// (then Desc says what it is).
	DataType pb.DataType
	// Dims include the batch dimension; -1 marks a symbolic or unknown one.
	Dims []int64
	Desc string
}

// ONNX TensorProto element type numbers mapped to config datatypes. ONNX
// Runtime's ONNXTensorElementDataType uses the same numbers.
var onnxToConfig = map[int]pb.DataType{
	1: pb.DataType_TYPE_FP32, 2: pb.DataType_TYPE_UINT8, 3: pb.DataType_TYPE_INT8,
	4: pb.DataType_TYPE_UINT16, 5: pb.DataType_TYPE_INT16, 6: pb.DataType_TYPE_INT32,
	7: pb.DataType_TYPE_INT64, 8: pb.DataType_TYPE_STRING, 9: pb.DataType_TYPE_BOOL,
	10: pb.DataType_TYPE_FP16, 11: pb.DataType_TYPE_FP64, 12: pb.DataType_TYPE_UINT32,
	13: pb.DataType_TYPE_UINT64, 16: pb.DataType_TYPE_BF16,
}

// configToONNX inverts onnxToConfig.
func configToONNX(dt pb.DataType) (int, bool) {
	for k, v := range onnxToConfig {
		if v == dt {
			return k, true
		}
	}
	return 0, false
}

// typeName is a datatype without the enum prefix, as KServe spells it (UINT8).
func typeName(dt pb.DataType) string { return strings.TrimPrefix(dt.String(), "TYPE_") }

// FormatShape writes dims the way Triton's messages do: [-1,3,512,512].
func FormatShape(dims []int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (t TensorInfo) String() string {
	if t.DataType == pb.DataType_TYPE_INVALID {
		return t.Desc
	}
	return typeName(t.DataType) + " " + FormatShape(t.Dims)
}

// MismatchError is a model file whose inputs or outputs disagree with its
// config.pbtxt. Every problem names the tensor and both sides.
type MismatchError struct {
	Model    string
	Version  int64
	File     string // model.onnx
	Problems []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("model %q version %d: %s does not match config.pbtxt: %s",
		e.Model, e.Version, e.File, strings.Join(e.Problems, "; "))
}

// modelDims are the dims the ONNX graph itself must have for a config
// tensor: the reshape when one is given, the batch dimension (-1) in front
// when the model batches.
func modelDims(cfg *pb.ModelConfig, dims []int64, reshape *pb.ModelTensorReshape) []int64 {
	if reshape != nil {
		dims = reshape.GetShape()
	}
	if cfg.GetMaxBatchSize() > 0 {
		return append([]int64{-1}, dims...)
	}
	return slices.Clone(dims)
}

// CheckIO compares what ONNX Runtime reports for a model file with the
// config, with Triton's rules: every config input and output exists in the
// graph with the same element type; every graph input is in the config (the
// graph cannot run without it; extra graph outputs are fine, they are just
// not returned); with max_batch_size > 0 the graph's first dimension must be
// variable; the remaining dimensions agree, a variable graph dimension
// accepting any configured size but not the other way round.
func CheckIO(model string, version int64, file string, cfg *pb.ModelConfig, inputs, outputs []TensorInfo) error {
	e := &MismatchError{Model: model, Version: version, File: file}
	type cfgTensor struct {
		name    string
		dt      pb.DataType
		dims    []int64
		reshape *pb.ModelTensorReshape
	}
	var cin, cout []cfgTensor
	for _, in := range cfg.GetInput() {
		cin = append(cin, cfgTensor{in.GetName(), in.GetDataType(), in.GetDims(), in.GetReshape()})
	}
	for _, out := range cfg.GetOutput() {
		cout = append(cout, cfgTensor{out.GetName(), out.GetDataType(), out.GetDims(), out.GetReshape()})
	}
	compare := func(kind string, want []cfgTensor, have []TensorInfo) {
		byName := map[string]TensorInfo{}
		var names []string
		for _, h := range have {
			byName[h.Name] = h
			names = append(names, fmt.Sprintf("%q %s", h.Name, h))
		}
		for _, w := range want {
			expect := TensorInfo{Name: w.name, DataType: w.dt, Dims: modelDims(cfg, w.dims, w.reshape)}
			h, ok := byName[w.name]
			if !ok {
				e.Problems = append(e.Problems, fmt.Sprintf("%s %q: config.pbtxt expects %s, %s has no such %s (it has %s)",
					kind, w.name, expect, file, kind, orNone(names)))
				continue
			}
			if why := dimsMismatch(cfg, expect, h); why != "" {
				e.Problems = append(e.Problems, fmt.Sprintf("%s %q: config.pbtxt expects %s, %s has %s%s",
					kind, w.name, expect, file, h, why))
			}
		}
	}
	compare("input", cin, inputs)
	compare("output", cout, outputs)
	for _, h := range inputs {
		if !slices.ContainsFunc(cin, func(c cfgTensor) bool { return c.name == h.Name }) {
			e.Problems = append(e.Problems, fmt.Sprintf("input %q: %s has %s, config.pbtxt does not list it (the graph needs every input)",
				h.Name, file, h))
		}
	}
	if len(e.Problems) > 0 {
		return e
	}
	return nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// dimsMismatch returns "" when the graph tensor h can serve expect, else a
// reason (possibly empty text after a leading space when the shapes say it all).
func dimsMismatch(cfg *pb.ModelConfig, expect, h TensorInfo) string {
	if h.DataType != expect.DataType {
		return " (element types differ)"
	}
	if len(h.Dims) != len(expect.Dims) {
		return " (ranks differ)"
	}
	start := 0
	if cfg.GetMaxBatchSize() > 0 {
		if h.Dims[0] != -1 {
			return fmt.Sprintf(" (max_batch_size %d needs a variable first dimension in the graph)", cfg.GetMaxBatchSize())
		}
		start = 1
	}
	for i := start; i < len(h.Dims); i++ {
		if h.Dims[i] != -1 && h.Dims[i] != expect.Dims[i] {
			return fmt.Sprintf(" (dimension %d differs)", i)
		}
	}
	return ""
}

// supportedConfig refuses what Execute cannot carry: BYTES tensors (ONNX
// strings), reshapes with variable dimensions and variable FP16 outputs.
func supportedConfig(model string, cfg *pb.ModelConfig) error {
	check := func(kind, name string, dt pb.DataType, reshape *pb.ModelTensorReshape) error {
		if _, ok := configToONNX(dt); !ok || dt == pb.DataType_TYPE_STRING {
			return fmt.Errorf("model %q %s %q: datatype %s is not supported by the embedded ONNX Runtime backend", model, kind, name, dt)
		}
		if _, ok := tensor.FromConfig(dt); !ok {
			return fmt.Errorf("model %q %s %q: datatype %s has no KServe wire name", model, kind, name, dt)
		}
		if reshape != nil && slices.Contains(reshape.GetShape(), -1) {
			return fmt.Errorf("model %q %s %q: reshape %s with a variable dimension is not supported by the embedded ONNX Runtime backend",
				model, kind, name, FormatShape(reshape.GetShape()))
		}
		return nil
	}
	for _, in := range cfg.GetInput() {
		if err := check("input", in.GetName(), in.GetDataType(), in.GetReshape()); err != nil {
			return err
		}
	}
	for _, out := range cfg.GetOutput() {
		if err := check("output", out.GetName(), out.GetDataType(), out.GetReshape()); err != nil {
			return err
		}
		// onnxruntime_go copies ONNX Runtime-allocated FP16 data with the
		// wrong byte count, so FP16 outputs must be preallocated: fixed dims.
		if out.GetDataType() == pb.DataType_TYPE_FP16 && slices.Contains(out.GetDims(), -1) {
			return fmt.Errorf("model %q output %q: FP16 output dims %s must be fixed for the embedded ONNX Runtime backend",
				model, out.GetName(), FormatShape(out.GetDims()))
		}
	}
	return nil
}
