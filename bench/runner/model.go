// Package runner streams a dataset through served models: it reads each model's
// contract from the server, preprocesses images and prompts on a worker pool,
// sends batched ModelInfer requests with bounded concurrency, and keeps every
// prediction in an append-only cache so an interrupted run resumes.
package runner

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/baselines"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"google.golang.org/grpc/codes"
)

// Tensor names and token length of the model contract (DESIGN.md), as modelrepo defines them.
const (
	InputImage      = modelrepo.InputImage
	InputTokens     = modelrepo.InputTokens
	InputTokensMask = modelrepo.InputTokensMask
	OutputQuality   = modelrepo.OutputQuality
	OutputAlignment = modelrepo.OutputAlignment
	TokenLength     = modelrepo.TokenLength
)

// Model is what the harness needs to know about a served model, read from its
// config (or its metadata on servers that do not serve configs).
type Model struct {
	Name           string
	Versions       []string // as the server lists them
	ImageSize      int      // S of [3,S,S]; 0 for native models ([3,-1,-1]: each image at its own size)
	Preprocess     preprocess.Method
	Prompt         bool // has a TOKENS input
	PromptPrefix   string
	Tokenizer      string   // agiqa.tokenizer: modelrepo.TokenizerCLIP (default) or modelrepo.TokenizerBERT
	TokenLength    int      // TOKENS' length: 77 for CLIP, the model's L for BERT
	TokenMask      bool     // has a TOKENS_MASK input
	Outputs        []string // QUALITY and/or ALIGNMENT
	MaxBatch       int      // 0: no batching dimension
	PerSplit       bool     // version k was trained on split k
	HigherIsBetter bool
	Catalog        string // row key in the paper tables (agiqa.catalog, default the name)
	Dataset        string // dataset a per-split model was trained on (agiqa.dataset), "" = any
	// Encoded: IMAGE is BYTES [1], the image file's bytes (an ensemble preprocessing on the
	// server, encoded.go); EnsembleOf names the model it scores with (agiqa.ensemble_of).
	Encoded    bool
	EnsembleOf string
	// VersionModels, for the encoded form of a per-split model, names the served model that
	// scores each version (split k's ensemble X_e2e_v<k>); requests for version v go to it.
	VersionModels map[string]string
}

// HasOutput reports whether the model returns the named output.
func (m *Model) HasOutput(name string) bool {
	for _, o := range m.Outputs {
		if o == name {
			return true
		}
	}
	return false
}

// VersionForSplit is the version that scores split k (0-based): k+1 for
// per-split models, "" (the server's choice) otherwise.
func (m *Model) VersionForSplit(k int) string {
	if !m.PerSplit {
		return ""
	}
	return strconv.Itoa(k + 1)
}

// Describe reads a model's contract from the server.
func Describe(ctx context.Context, c *client.Client, name string) (*Model, error) {
	meta, err := c.ModelMetadata(ctx, name, "")
	if err != nil {
		return nil, err
	}
	cfg, err := c.ModelConfig(ctx, name, "")
	if err != nil && !(client.Code(err) == codes.Unimplemented) {
		return nil, err
	}
	if cfg == nil {
		return fromMetadata(meta)
	}
	m, err := fromConfig(cfg)
	if err != nil {
		return nil, err
	}
	m.Versions = meta.GetVersions()
	return m, nil
}

func param(cfg *pb.ModelConfig, key, def string) string {
	if p, ok := cfg.GetParameters()[key]; ok && p.GetStringValue() != "" {
		return p.GetStringValue()
	}
	return def
}

func fromConfig(cfg *pb.ModelConfig) (*Model, error) {
	m := &Model{Name: cfg.GetName(), MaxBatch: int(cfg.GetMaxBatchSize())}
	if helperRole(param(cfg, "agiqa.role", "")) {
		return nil, fmt.Errorf("model %s: %w", m.Name, ErrHelperModel)
	}
	m.EnsembleOf = param(cfg, "agiqa.ensemble_of", "")
	var err error
	if m.Preprocess, err = preprocess.ParseMethod(param(cfg, "agiqa.preprocess", "resize")); err != nil {
		return nil, fmt.Errorf("model %s: parameter agiqa.preprocess: %w", m.Name, err)
	}
	m.PerSplit = param(cfg, "agiqa.per_split", "false") == "true"
	m.HigherIsBetter = param(cfg, "agiqa.higher_is_better", "true") != "false"
	m.Catalog = param(cfg, "agiqa.catalog", catalogKey(m.Name))
	m.Dataset = param(cfg, "agiqa.dataset", "")
	m.PromptPrefix = param(cfg, "agiqa.prompt_prefix", "")
	m.Tokenizer = param(cfg, "agiqa.tokenizer", modelrepo.TokenizerCLIP)
	var ins []tensorSpec
	for _, in := range cfg.GetInput() {
		ins = append(ins, tensorSpec{in.GetName(), strings.TrimPrefix(in.GetDataType().String(), "TYPE_"), in.GetDims()})
	}
	var outs []tensorSpec
	for _, out := range cfg.GetOutput() {
		outs = append(outs, tensorSpec{out.GetName(), strings.TrimPrefix(out.GetDataType().String(), "TYPE_"), out.GetDims()})
	}
	return m, m.checkContract(ins, outs, false)
}

// fromMetadata reads the contract from metadata shapes, which include the batch
// dimension (-1) when the model batches. The agiqa.* parameters are not in
// metadata, so a model served this way is taken as zero-shot, resize (native
// when IMAGE is [3,-1,-1], the only method such an input admits), higher is better.
func fromMetadata(meta *pb.ModelMetadataResponse) (*Model, error) {
	m := &Model{Name: meta.GetName(), Versions: meta.GetVersions(), Preprocess: preprocess.MethodResize, HigherIsBetter: true, Catalog: catalogKey(meta.GetName()),
		Tokenizer: modelrepo.TokenizerCLIP}
	var ins, outs []tensorSpec
	for _, in := range meta.GetInputs() {
		ins = append(ins, tensorSpec{in.GetName(), in.GetDatatype(), in.GetShape()})
	}
	for _, out := range meta.GetOutputs() {
		outs = append(outs, tensorSpec{out.GetName(), out.GetDatatype(), out.GetShape()})
	}
	batched := len(ins) > 0 && len(ins[0].dims) == 4 && ins[0].dims[0] == -1
	if batched {
		m.MaxBatch = 1 // metadata does not say how large; send one at a time
	}
	return m, m.checkContract(ins, outs, batched)
}

// catalogKey finds the paper-table row of a served model without an
// agiqa.catalog parameter; unknown models keep their own name.
func catalogKey(served string) string {
	if es := baselines.ByServed(served); len(es) > 0 {
		return es[0].Key
	}
	return served
}

type tensorSpec struct {
	name, datatype string
	dims           []int64
}

// checkContract fills image size, prompt and outputs, refusing a model that does
// not honour the contract with a message naming the model and the tensor.
func (m *Model) checkContract(ins, outs []tensorSpec, batchDim bool) error {
	strip := func(d []int64) []int64 {
		if batchDim && len(d) > 0 {
			return d[1:]
		}
		return d
	}
	hasImage := false
	var tokens, mask []int64
	for _, in := range ins {
		d := strip(in.dims)
		hasImage = hasImage || in.name == InputImage
		switch in.name {
		case InputImage:
			if isEncodedImage(in.datatype, d) {
				m.Encoded = true // encoded.go
				continue
			}
			if err := m.imageInput(in.datatype, d, batchDim); err != nil {
				return err
			}
		case InputTokens:
			if in.datatype != "INT64" {
				return fmt.Errorf("model %s: input TOKENS is %s %v, the contract wants INT64", m.Name, in.datatype, d)
			}
			tokens = d
			m.Prompt = true
		case InputTokensMask:
			if in.datatype != "INT64" {
				return fmt.Errorf("model %s: input TOKENS_MASK is %s %v, the contract wants INT64", m.Name, in.datatype, d)
			}
			mask = d
			m.TokenMask = true
		default:
			return fmt.Errorf("model %s: input %q is not part of the contract (IMAGE, TOKENS, TOKENS_MASK)", m.Name, in.name)
		}
	}
	if !hasImage {
		return fmt.Errorf("model %s: no IMAGE input", m.Name)
	}
	if err := m.tokenInputs(tokens, mask); err != nil {
		return err
	}
	for _, out := range outs {
		d := strip(out.dims)
		if out.name != OutputQuality && out.name != OutputAlignment {
			continue // extra outputs are allowed and ignored
		}
		if out.datatype != "FP32" || len(d) != 1 || d[0] != 1 {
			return fmt.Errorf("model %s: output %s is %s %v, the contract wants FP32 [1]", m.Name, out.name, out.datatype, d)
		}
		m.Outputs = append(m.Outputs, out.name)
	}
	if len(m.Outputs) == 0 {
		return fmt.Errorf("model %s: neither QUALITY nor ALIGNMENT among its outputs", m.Name)
	}
	return nil
}

// tokenInputs checks TOKENS against agiqa.tokenizer and TOKENS_MASK against TOKENS, and sets TokenLength.
func (m *Model) tokenInputs(tokens, mask []int64) error {
	switch {
	case !m.Prompt && m.TokenMask:
		return fmt.Errorf("model %s: input TOKENS_MASK without a TOKENS input", m.Name)
	case !m.Prompt:
		return nil
	case m.Tokenizer == modelrepo.TokenizerCLIP:
		if len(tokens) != 1 || tokens[0] != TokenLength {
			return fmt.Errorf("model %s: input TOKENS is %v, the contract wants [%d] for agiqa.tokenizer %q", m.Name, tokens, TokenLength, m.Tokenizer)
		}
	case m.Tokenizer == modelrepo.TokenizerBERT:
		if len(tokens) != 1 || tokens[0] < 2 || tokens[0] > modelrepo.MaxBertLength {
			return fmt.Errorf("model %s: input TOKENS is %v; agiqa.tokenizer %q wants [L] with 2 <= L <= %d", m.Name, tokens, m.Tokenizer, modelrepo.MaxBertLength)
		}
	default:
		return fmt.Errorf("model %s: parameter agiqa.tokenizer is %q; want %q or %q", m.Name, m.Tokenizer, modelrepo.TokenizerCLIP, modelrepo.TokenizerBERT)
	}
	if m.TokenMask && !slices.Equal(mask, tokens) {
		return fmt.Errorf("model %s: input TOKENS_MASK is %v, the contract wants TOKENS' dims %v", m.Name, mask, tokens)
	}
	m.TokenLength = int(tokens[0])
	return nil
}

// imageInput checks the IMAGE input: UINT8 [3,S,S] for the resize methods,
// [3,-1,-1] for native models. fromMetadata (fromMeta) has no agiqa.preprocess
// to read, so there [3,-1,-1] itself means native.
func (m *Model) imageInput(datatype string, d []int64, fromMeta bool) error {
	native := len(d) == 3 && d[0] == 3 && d[1] == -1 && d[2] == -1
	if native && fromMeta {
		m.Preprocess = preprocess.MethodNative
	}
	switch {
	case datatype != "UINT8" || len(d) != 3 || d[0] != 3:
		return fmt.Errorf("model %s: input IMAGE is %s %v, the contract wants UINT8 [3,S,S] or [3,-1,-1]", m.Name, datatype, d)
	case m.Preprocess == preprocess.MethodNative && !native:
		return fmt.Errorf("model %s: input IMAGE is %v; agiqa.preprocess \"native\" needs [3,-1,-1]", m.Name, d)
	case m.Preprocess != preprocess.MethodNative && (d[1] != d[2] || d[1] <= 0):
		return fmt.Errorf("model %s: input IMAGE is %v; agiqa.preprocess %q needs [3,S,S] with a fixed S", m.Name, d, m.Preprocess)
	}
	if !native {
		m.ImageSize = int(d[1])
	}
	return nil
}
