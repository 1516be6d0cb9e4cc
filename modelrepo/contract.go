package modelrepo

import (
	"fmt"
	"slices"
	"sort"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// The model contract of DESIGN.md: what the harness can feed and read.
const (
	InputImage      = "IMAGE"
	InputTokens     = "TOKENS"
	OutputQuality   = "QUALITY"
	OutputAlignment = "ALIGNMENT"
	// TokenLength is CLIP's context length.
	TokenLength = 77
)

// ContractParameters documents the agiqa.* config parameters the harness reads.
var ContractParameters = map[string]string{
	"agiqa.preprocess":       `"resize" (squash to S x S), "resize_center_crop" (short side to S, centre crop) or "native" (the image at its own size, IMAGE dims [3, -1, -1]); required`,
	"agiqa.higher_is_better": `"true" (default) or "false" (the harness flips the sign, e.g. NIQE)`,
	"agiqa.per_split":        `"true": version k+1 was trained on split k (0-based), the version the harness scores split k with (needs version_policy all); default "false"`,
	"agiqa.prompt_prefix":    `text put before each prompt (CLIPScore: "A photo depicts "); needs a TOKENS input`,
	"agiqa.catalog":          `key of the model's row in the baselines catalogue`,
	"agiqa.dataset":          `dataset a trained model was trained on (agiqa-1k, agiqa-3k)`,
}

// ContractCheck lists how a config breaks the model contract: an IMAGE input
// UINT8 [3,S,S] (or [3,-1,-1] with agiqa.preprocess "native"), an optional TOKENS INT64 [77], outputs QUALITY and/or
// ALIGNMENT FP32 [1], max_batch_size >= 1 and well-formed agiqa.* parameters.
// An empty list means the harness can use the model.
func ContractCheck(cfg *pb.ModelConfig) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("model %q: ", cfg.GetName())+fmt.Sprintf(format, args...))
	}
	if cfg.GetMaxBatchSize() < 1 {
		add("max_batch_size is %d; the contract needs batching (>= 1)", cfg.GetMaxBatchSize())
	}
	var hasImage, hasTokens bool
	method, _ := Parameter(cfg, "agiqa.preprocess")
	for _, in := range cfg.GetInput() {
		switch in.Name {
		case InputImage:
			hasImage = true
			d := in.Dims
			if in.DataType != pb.DataType_TYPE_UINT8 {
				add("input IMAGE is %s; the contract needs TYPE_UINT8", in.DataType)
			}
			native := len(d) == 3 && d[0] == 3 && d[1] == -1 && d[2] == -1
			switch {
			case method == "native" && !native:
				add(`input IMAGE dims %v; agiqa.preprocess "native" needs [3, -1, -1] (each image at its own size)`, d)
			case method != "native" && native:
				add(`input IMAGE dims %v: variable height and width need agiqa.preprocess "native" (resize methods need a fixed S)`, d)
			case !native && (len(d) != 3 || d[0] != 3 || d[1] < 1 || d[1] != d[2]):
				add("input IMAGE dims %v; the contract needs [3, S, S] with a fixed S, or [3, -1, -1] with agiqa.preprocess \"native\"", d)
			}
		case InputTokens:
			hasTokens = true
			if in.DataType != pb.DataType_TYPE_INT64 {
				add("input TOKENS is %s; the contract needs TYPE_INT64", in.DataType)
			}
			if !slices.Equal(in.Dims, []int64{TokenLength}) {
				add("input TOKENS dims %v; the contract needs [%d]", in.Dims, TokenLength)
			}
		default:
			add("input %q is not in the contract (IMAGE, TOKENS)", in.Name)
		}
	}
	if !hasImage {
		add("no IMAGE input")
	}
	var outputs int
	for _, out := range cfg.GetOutput() {
		switch out.Name {
		case OutputQuality, OutputAlignment:
			outputs++
			if out.DataType != pb.DataType_TYPE_FP32 {
				add("output %s is %s; the contract needs TYPE_FP32", out.Name, out.DataType)
			}
			if !slices.Equal(out.Dims, []int64{1}) {
				add("output %s dims %v; the contract needs [1]", out.Name, out.Dims)
			}
		default:
			add("output %q is not in the contract (QUALITY, ALIGNMENT)", out.Name)
		}
	}
	if outputs == 0 {
		add("no QUALITY or ALIGNMENT output")
	}
	params := cfg.GetParameters()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(k) > 6 && k[:6] == "agiqa." {
			if _, known := ContractParameters[k]; !known {
				add("unknown parameter %q (known: %s)", k, knownParameters())
			}
		}
	}
	switch v, ok := Parameter(cfg, "agiqa.preprocess"); {
	case !ok:
		add(`parameter agiqa.preprocess is missing ("resize", "resize_center_crop" or "native")`)
	case v != "resize" && v != "resize_center_crop" && v != "native":
		add(`parameter agiqa.preprocess is %q; want "resize", "resize_center_crop" or "native"`, v)
	}
	for _, k := range []string{"agiqa.higher_is_better", "agiqa.per_split"} {
		if v, ok := Parameter(cfg, k); ok && v != "true" && v != "false" {
			add(`parameter %s is %q; want "true" or "false"`, k, v)
		}
	}
	if v, _ := Parameter(cfg, "agiqa.per_split"); v == "true" && cfg.GetVersionPolicy().GetAll() == nil {
		add("parameter agiqa.per_split is true but version_policy is not all {} (one version per split)")
	}
	if _, ok := Parameter(cfg, "agiqa.prompt_prefix"); ok && !hasTokens {
		add("parameter agiqa.prompt_prefix is set but the model has no TOKENS input")
	}
	return problems
}

func knownParameters() string {
	keys := make([]string, 0, len(ContractParameters))
	for k := range ContractParameters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += k
	}
	return s
}
