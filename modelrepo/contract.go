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
	InputTokensMask = "TOKENS_MASK"
	OutputQuality   = "QUALITY"
	OutputAlignment = "ALIGNMENT"
	// TokenLength is CLIP's context length.
	TokenLength = 77
	// MaxBertLength is the longest TOKENS a bert_wordpiece model may take (BERT's positions).
	MaxBertLength = 512
)

// Tokenizers a model can name in agiqa.tokenizer.
const (
	TokenizerCLIP = "clip_bpe"       // OpenAI CLIP BPE, TOKENS [77]
	TokenizerBERT = "bert_wordpiece" // bert-base-uncased WordPiece, TOKENS [L], [CLS] .. [SEP] then 0
)

// Tokenizer is the model's agiqa.tokenizer, TokenizerCLIP when it is not set.
func Tokenizer(cfg *pb.ModelConfig) string {
	if v, ok := Parameter(cfg, "agiqa.tokenizer"); ok {
		return v
	}
	return TokenizerCLIP
}

// ContractParameters documents the agiqa.* config parameters the harness reads.
var ContractParameters = map[string]string{
	"agiqa.preprocess":       `"resize" (squash to S x S), "resize_center_crop" (short side to S, centre crop), "resize_pad" (long side to S, black padding to S x S: HPS v2) or "native" (the image at its own size, IMAGE dims [3, -1, -1]); required`,
	"agiqa.higher_is_better": `"true" (default) or "false" (the harness flips the sign, e.g. NIQE)`,
	"agiqa.per_split":        `"true": version k+1 was trained on split k (0-based), the version the harness scores split k with (needs version_policy all); default "false"`,
	"agiqa.prompt_prefix":    `text put before each prompt (CLIPScore: "A photo depicts "); needs a TOKENS input`,
	"agiqa.tokenizer":        `how prompts become TOKENS: "clip_bpe" (default; TOKENS [77]) or "bert_wordpiece" (bert-base-uncased, TOKENS [L] with 2 <= L <= 512, prompts longer than L truncated); needs a TOKENS input`,
	"agiqa.catalog":          `key of the model's row in the baselines catalogue`,
	"agiqa.dataset":          `dataset a trained model was trained on (agiqa-1k, agiqa-3k)`,
	"agiqa.role":             `"preprocess" on a server-side preprocessing model (ENCODED BYTES [1] in, IMAGE out): not scored by the harness`,
	"agiqa.ensemble_of":      `on an ensemble taking encoded images (IMAGE TYPE_STRING [1]): the model it scores with, which --input encoded replaces by it`,
	"agiqa.ensemble_version": `on the ensemble of one version of a per-split model (<model>_e2e_v<k>): that version, k`,
}

// ContractCheck lists how a config breaks the model contract: an IMAGE input
// UINT8 [3,S,S] (or [3,-1,-1] with agiqa.preprocess "native"), an optional TOKENS INT64 [77] (or [L]
// with agiqa.tokenizer "bert_wordpiece"), an optional TOKENS_MASK INT64 with TOKENS' dims, outputs
// QUALITY and/or ALIGNMENT FP32 [1], max_batch_size >= 1 and well-formed agiqa.* parameters.
// An empty list means the harness can use the model.
func ContractCheck(cfg *pb.ModelConfig) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("model %q: ", cfg.GetName())+fmt.Sprintf(format, args...))
	}
	if role, _ := Parameter(cfg, "agiqa.role"); role == RolePreprocess {
		return preprocessContract(cfg) // ensemble.go
	}
	if cfg.GetMaxBatchSize() < 1 {
		add("max_batch_size is %d; the contract needs batching (>= 1)", cfg.GetMaxBatchSize())
	}
	var hasImage, hasTokens, hasMask bool
	var tokenDims, maskDims []int64
	method, _ := Parameter(cfg, "agiqa.preprocess")
	for _, in := range cfg.GetInput() {
		switch in.Name {
		case InputImage:
			hasImage = true
			d := in.Dims
			if in.DataType == pb.DataType_TYPE_STRING && IsEnsemble(cfg) && slices.Equal(d, []int64{1}) {
				continue // encoded image bytes: the ensemble's first step preprocesses them
			}
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
			tokenDims = in.Dims
		case InputTokensMask:
			hasMask, maskDims = true, in.Dims
			if in.DataType != pb.DataType_TYPE_INT64 {
				add("input TOKENS_MASK is %s; the contract needs TYPE_INT64", in.DataType)
			}
		default:
			add("input %q is not in the contract (IMAGE, TOKENS, TOKENS_MASK)", in.Name)
		}
	}
	problems = append(problems, checkTokens(cfg, hasTokens, hasMask, tokenDims, maskDims)...)
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
		add(`parameter agiqa.preprocess is missing ("resize", "resize_center_crop", "resize_pad" or "native")`)
	case v != "resize" && v != "resize_center_crop" && v != "resize_pad" && v != "native":
		add(`parameter agiqa.preprocess is %q; want "resize", "resize_center_crop", "resize_pad" or "native"`, v)
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

// checkTokens checks TOKENS' dims against agiqa.tokenizer and TOKENS_MASK's against TOKENS'.
func checkTokens(cfg *pb.ModelConfig, hasTokens, hasMask bool, dims, maskDims []int64) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("model %q: ", cfg.GetName())+fmt.Sprintf(format, args...))
	}
	tokenizer, set := Parameter(cfg, "agiqa.tokenizer")
	switch {
	case set && !hasTokens:
		add("parameter agiqa.tokenizer is set but the model has no TOKENS input")
	case !hasTokens:
	case !set || tokenizer == TokenizerCLIP:
		if !slices.Equal(dims, []int64{TokenLength}) {
			add("input TOKENS dims %v; the contract needs [%d] (agiqa.tokenizer %q)", dims, TokenLength, TokenizerCLIP)
		}
	case tokenizer == TokenizerBERT:
		if len(dims) != 1 || dims[0] < 2 || dims[0] > MaxBertLength {
			add("input TOKENS dims %v; agiqa.tokenizer %q needs [L] with 2 <= L <= %d ([CLS], the prompt, [SEP])", dims, TokenizerBERT, MaxBertLength)
		}
	default:
		add("parameter agiqa.tokenizer is %q; want %q or %q", tokenizer, TokenizerCLIP, TokenizerBERT)
	}
	switch {
	case !hasMask:
	case !hasTokens:
		add("input TOKENS_MASK without a TOKENS input")
	case !slices.Equal(maskDims, dims):
		add("input TOKENS_MASK dims %v; the contract needs TOKENS' dims %v", maskDims, dims)
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
