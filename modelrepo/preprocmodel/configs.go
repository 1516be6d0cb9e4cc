package preprocmodel

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// The repositories' preprocessing models and <model>_e2e ensembles are written
// by these functions; configs_test.go checks the committed files against them
// (and rewrites them with -update), so a model's contract change reaches its
// ensemble.

// Parameters that mark the models written here.
const (
	// RoleParameter is "preprocess" on a preprocessing model: not a scoring model, the harness
	// leaves it out of tables.
	RoleParameter  = "agiqa.role"
	RolePreprocess = "preprocess"
	// EnsembleOfParameter names the model an _e2e ensemble scores with: the harness's
	// --input encoded uses X_e2e in place of X.
	EnsembleOfParameter = "agiqa.ensemble_of"
)

// E2EName is the ensemble of model name.
func E2EName(model string) string { return model + "_e2e" }

// SpecOf is the preprocessing a model's IMAGE input needs; ok is false for a
// model without an IMAGE input the contract describes.
func SpecOf(cfg *pb.ModelConfig) (Spec, bool) {
	methodName, ok := modelrepo.Parameter(cfg, "agiqa.preprocess")
	if !ok {
		methodName = "resize"
	}
	method, err := preprocess.ParseMethod(methodName)
	if err != nil {
		return Spec{}, false
	}
	for _, in := range cfg.GetInput() {
		if in.Name != modelrepo.InputImage || in.DataType != pb.DataType_TYPE_UINT8 || len(in.Dims) != 3 {
			continue
		}
		if method == preprocess.MethodNative {
			return Spec{Method: method}, true
		}
		if in.Dims[1] > 0 && in.Dims[1] == in.Dims[2] {
			return Spec{Method: method, Size: int(in.Dims[1])}, true
		}
	}
	return Spec{}, false
}

// PreprocessConfig is the config.pbtxt of s's model for a backend: "native"
// (the embedded server) or "python" (Triton, through libagiqa.so).
func PreprocessConfig(s Spec, backend string) string {
	dims := fmt.Sprintf("3, %d, %d", s.Size, s.Size)
	if s.Method == preprocess.MethodNative {
		dims = "3, -1, -1"
	}
	return fmt.Sprintf(`# Server-side preprocessing (modelrepo/preprocmodel): encoded JPEG/PNG bytes in, the contract's IMAGE out,
# decoded and resized by the harness's own Go code (bench/preprocess). No dynamic batching, so an image
# that does not decode fails only its own request; the instances decode in parallel.
# Written by modelrepo/preprocmodel/configs.go (go test ./modelrepo/preprocmodel -run TestCommittedConfigs -update).
name: %q
backend: %q
max_batch_size: %d
version_policy: { latest { num_versions: 1 } }
input [
  { name: %q data_type: TYPE_STRING dims: [ 1 ] }
]
output [
  { name: %q data_type: TYPE_UINT8 dims: [ %s ] }
]
instance_group [ { kind: KIND_CPU count: 4 } ]
parameters { key: "native.function" value: { string_value: %q } }
parameters { key: "agiqa.preprocess" value: { string_value: %q } }
parameters { key: %q value: { string_value: %q } }
`, s.Name(), backend, preprocessMaxBatch, InputEncoded, OutputImage, dims, s.Name(), s.Method.String(), RoleParameter, RolePreprocess)
}

const preprocessMaxBatch = 32

// copied are the harness parameters an ensemble carries over from its model,
// so the harness reads the same contract from either.
var copied = []string{"agiqa.catalog", "agiqa.dataset", "agiqa.preprocess", "agiqa.per_split", "agiqa.higher_is_better",
	"agiqa.prompt_prefix", "agiqa.tokenizer"}

// E2EConfig is the config.pbtxt of model's ensemble: preprocessing, then the
// model at version (-1: the latest it serves), with its prompt inputs passed
// through (tokenisation stays on the client) and its outputs returned.
func E2EConfig(model *pb.ModelConfig, version int64) (string, error) {
	s, ok := SpecOf(model)
	if !ok {
		return "", fmt.Errorf("model %q: no IMAGE input with a preprocessing method", model.GetName())
	}
	maxBatch := min(model.GetMaxBatchSize(), preprocessMaxBatch)
	if s.Method == preprocess.MethodNative {
		maxBatch = 1 // each image decodes to its own size: one per request
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s with server-side preprocessing (%s): the client sends encoded image bytes; prompts are still\n", model.GetName(), s.Name())
	b.WriteString("# tokenised by the client (TOKENS in, as for the model). Written by modelrepo/preprocmodel/configs.go.\n")
	fmt.Fprintf(&b, "name: %q\nplatform: \"ensemble\"\nmax_batch_size: %d\nversion_policy: { latest { num_versions: 1 } }\ninput [\n", E2EName(model.GetName()), maxBatch)
	ins := []string{fmt.Sprintf("  { name: %q data_type: TYPE_STRING dims: [ 1 ] }", modelrepo.InputImage)}
	var passed []string
	for _, in := range model.GetInput() {
		if in.Name == modelrepo.InputImage {
			continue
		}
		passed = append(passed, in.Name)
		ins = append(ins, fmt.Sprintf("  { name: %q data_type: %s dims: %s%s }", in.Name, in.DataType, dimsText(in.Dims), optional(in.Optional)))
	}
	b.WriteString(strings.Join(ins, ",\n") + "\n]\noutput [\n")
	var outs, outNames []string
	for _, o := range model.GetOutput() {
		outNames = append(outNames, o.Name)
		outs = append(outs, fmt.Sprintf("  { name: %q data_type: %s dims: %s }", o.Name, o.DataType, dimsText(o.Dims)))
	}
	b.WriteString(strings.Join(outs, ",\n") + "\n]\nensemble_scheduling {\n  step [\n")
	fmt.Fprintf(&b, "    { model_name: %q model_version: -1\n      input_map { key: %q value: %q }\n      output_map { key: %q value: \"PIXELS\" } },\n",
		s.Name(), InputEncoded, modelrepo.InputImage, OutputImage)
	fmt.Fprintf(&b, "    { model_name: %q model_version: %d\n      input_map { key: %q value: \"PIXELS\" }\n", model.GetName(), version, modelrepo.InputImage)
	for _, n := range passed {
		fmt.Fprintf(&b, "      input_map { key: %q value: %q }\n", n, n)
	}
	for i, n := range outNames {
		end := "\n"
		if i == len(outNames)-1 {
			end = " }\n"
		}
		fmt.Fprintf(&b, "      output_map { key: %q value: %q }%s", n, n, end)
	}
	b.WriteString("  ]\n}\n")
	params := slices.Clone(copied)
	for _, k := range params {
		if v, ok := modelrepo.Parameter(model, k); ok {
			fmt.Fprintf(&b, "parameters { key: %q value: { string_value: %q } }\n", k, v)
		}
	}
	fmt.Fprintf(&b, "parameters { key: %q value: { string_value: %q } }\n", EnsembleOfParameter, model.GetName())
	return b.String(), nil
}

func dimsText(d []int64) string {
	parts := make([]string, len(d))
	for i, v := range d {
		parts[i] = fmt.Sprint(v)
	}
	return "[ " + strings.Join(parts, ", ") + " ]"
}

func optional(o bool) string {
	if o {
		return " optional: true"
	}
	return ""
}

// Per-split models. A Triton ensemble step names one version of its model
// (or -1, the latest), and a model has one config for all its versions, so an
// ensemble cannot map "ensemble version k" to "model version k". A per-split
// model X therefore gets one ensemble per split, X_e2e_v<k>, whose second step
// runs X version k; it carries agiqa.ensemble_version k, and the harness's
// --input encoded sends split k's images to X_e2e_v<k> (runner.Model.VersionModels).

// EnsembleVersionParameter is the version of its model a per-split ensemble runs.
const EnsembleVersionParameter = "agiqa.ensemble_version"

// E2ESplitName is the ensemble of model's version k.
func E2ESplitName(model string, k int64) string { return fmt.Sprintf("%s_v%d", E2EName(model), k) }

// E2ESplitConfig is the config.pbtxt of X_e2e_v<k>: E2EConfig at version k,
// renamed, a single-version model for the harness (agiqa.per_split false)
// that says which version it runs.
func E2ESplitConfig(model *pb.ModelConfig, k int64) (string, error) {
	if k < 1 {
		return "", fmt.Errorf("model %q: split ensemble version %d; versions are 1 or more", model.GetName(), k)
	}
	text, err := E2EConfig(model, k)
	if err != nil {
		return "", err
	}
	text = strings.Replace(text, fmt.Sprintf("name: %q\n", E2EName(model.GetName())), fmt.Sprintf("name: %q\n", E2ESplitName(model.GetName(), k)), 1)
	text = strings.Replace(text, `parameters { key: "agiqa.per_split" value: { string_value: "true" } }`,
		`parameters { key: "agiqa.per_split" value: { string_value: "false" } }`, 1)
	return text + fmt.Sprintf("parameters { key: %q value: { string_value: \"%d\" } }\n", EnsembleVersionParameter, k), nil
}
