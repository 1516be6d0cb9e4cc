package modelrepo

import (
	"strings"
	"testing"
)

// Native resolution: IMAGE [3, -1, -1] goes with agiqa.preprocess "native"
// and nothing else; a fixed S goes with the resize methods only.
func TestContractNativeResolution(t *testing.T) {
	cfgText := func(dims, method string) string {
		return `name: "n" max_batch_size: 8
input { name: "IMAGE" data_type: TYPE_UINT8 dims: ` + dims + ` }
output { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] }
parameters { key: "agiqa.preprocess" value { string_value: "` + method + `" } }`
	}
	for _, c := range []struct {
		dims, method, want string // want "" = honours the contract
	}{
		{"[ 3, -1, -1 ]", "native", ""},
		{"[ 3, 512, 512 ]", "resize", ""},
		{"[ 3, 224, 224 ]", "native", `agiqa.preprocess "native" needs [3, -1, -1]`},
		{"[ 3, -1, 224 ]", "native", `agiqa.preprocess "native" needs [3, -1, -1]`},
		{"[ 1, -1, -1 ]", "native", `agiqa.preprocess "native" needs [3, -1, -1]`},
		{"[ 3, -1, -1 ]", "resize", `variable height and width need agiqa.preprocess "native"`},
		{"[ 3, -1, -1 ]", "resize_center_crop", `variable height and width need agiqa.preprocess "native"`},
		{"[ 3, -1, 224 ]", "resize", "the contract needs [3, S, S] with a fixed S"},
		{"[ 3, -1, -1 ]", "squash", `agiqa.preprocess is "squash"; want "resize", "resize_center_crop", "resize_pad" or "native"`},
	} {
		cfg, err := ParseConfig("n", []byte(cfgText(c.dims, c.method)), "n")
		if err != nil {
			t.Fatalf("%s %s: %v", c.dims, c.method, err)
		}
		got := strings.Join(ContractCheck(cfg), "\n")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s with %s: problems %q, want %q", c.dims, c.method, got, c.want)
		}
	}
}

// agiqa.tokenizer picks TOKENS' length; TOKENS_MASK follows TOKENS.
func TestContractTokenizer(t *testing.T) {
	cfgText := func(inputs, tokenizer string) string {
		s := `name: "t" max_batch_size: 8
input { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 224, 224 ] }
` + inputs + `
output { name: "ALIGNMENT" data_type: TYPE_FP32 dims: [ 1 ] }
parameters { key: "agiqa.preprocess" value { string_value: "resize_center_crop" } }`
		if tokenizer != "" {
			s += `
parameters { key: "agiqa.tokenizer" value { string_value: "` + tokenizer + `" } }`
		}
		return s
	}
	tokens := func(dims string) string {
		return `input { name: "TOKENS" data_type: TYPE_INT64 dims: ` + dims + ` }`
	}
	mask := func(typ, dims string) string {
		return "\n" + `input { name: "TOKENS_MASK" data_type: ` + typ + ` dims: ` + dims + ` }`
	}
	for _, c := range []struct {
		inputs, tokenizer, want string // want "" = honours the contract
	}{
		{tokens("[ 77 ]"), "", ""},
		{tokens("[ 77 ]"), "clip_bpe", ""},
		{tokens("[ 77 ]") + mask("TYPE_INT64", "[ 77 ]"), "clip_bpe", ""},
		{tokens("[ 35 ]") + mask("TYPE_INT64", "[ 35 ]"), "bert_wordpiece", ""},
		{tokens("[ 35 ]"), "bert_wordpiece", ""},
		{tokens("[ 2 ]"), "bert_wordpiece", ""},
		{tokens("[ 512 ]"), "bert_wordpiece", ""},
		{tokens("[ 35 ]"), "", `input TOKENS dims [35]; the contract needs [77] (agiqa.tokenizer "clip_bpe")`},
		{tokens("[ 35 ]"), "clip_bpe", `input TOKENS dims [35]; the contract needs [77]`},
		{tokens("[ 1 ]"), "bert_wordpiece", `input TOKENS dims [1]; agiqa.tokenizer "bert_wordpiece" needs [L] with 2 <= L <= 512`},
		{tokens("[ 513 ]"), "bert_wordpiece", `input TOKENS dims [513]; agiqa.tokenizer "bert_wordpiece" needs [L]`},
		{tokens("[ -1 ]"), "bert_wordpiece", `input TOKENS dims [-1]; agiqa.tokenizer "bert_wordpiece" needs [L]`},
		{tokens("[ 1, 35 ]"), "bert_wordpiece", `input TOKENS dims [1 35]; agiqa.tokenizer "bert_wordpiece" needs [L]`},
		{tokens("[ 35 ]"), "wordpiece", `parameter agiqa.tokenizer is "wordpiece"; want "clip_bpe" or "bert_wordpiece"`},
		{"", "bert_wordpiece", "parameter agiqa.tokenizer is set but the model has no TOKENS input"},
		{mask("TYPE_INT64", "[ 35 ]"), "", "input TOKENS_MASK without a TOKENS input"},
		{tokens("[ 35 ]") + mask("TYPE_INT64", "[ 34 ]"), "bert_wordpiece", "input TOKENS_MASK dims [34]; the contract needs TOKENS' dims [35]"},
		{tokens("[ 35 ]") + mask("TYPE_INT32", "[ 35 ]"), "bert_wordpiece", "input TOKENS_MASK is TYPE_INT32; the contract needs TYPE_INT64"},
		{tokens("[ 35 ]") + mask("TYPE_BOOL", "[ 35 ]"), "bert_wordpiece", "input TOKENS_MASK is TYPE_BOOL"},
	} {
		cfg, err := ParseConfig("t", []byte(cfgText(c.inputs, c.tokenizer)), "t")
		if err != nil {
			t.Fatalf("%s %s: %v", c.inputs, c.tokenizer, err)
		}
		got := strings.Join(ContractCheck(cfg), "\n")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s with agiqa.tokenizer %q: problems %q, want %q", c.inputs, c.tokenizer, got, c.want)
		}
		wantTok := c.tokenizer
		if wantTok == "" {
			wantTok = TokenizerCLIP
		}
		if got := Tokenizer(cfg); got != wantTok {
			t.Errorf("Tokenizer(%q) = %q", c.tokenizer, got)
		}
	}
	if _, ok := ContractParameters["agiqa.tokenizer"]; !ok {
		t.Error("agiqa.tokenizer is not documented in ContractParameters")
	}
}
