package modelrepo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/bert"
	"github.com/agiqa-bench/agiqa/bench/bert/berttest"
	"github.com/agiqa-bench/agiqa/bench/clip"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// bertLength is the TOKENS width of the BERT WordPiece models here (ImageReward's 35); the test
// tokenises before the export, and checks the served config says the same.
const bertLength = 35

type alignmentReference struct {
	parityReference
	Masks [][]int64 `json:"masks"`
}

// TestParityAlignment: Table 2's alignment models, tiny and with seeded random weights (the same
// code path at small widths), exported by the Python code, served by the embedded server on ONNX
// Runtime and queried by the Go client with Go preprocessing (resize_center_crop) and Go
// tokenisation (CLIP BPE with the served prompt prefix; BERT WordPiece with its mask), score as
// eager PyTorch does on Pillow-preprocessed inputs. toyalign_* are the tests' own small models
// (modelrepo/python/tests/toy_alignment.py: a prompt prefix with quotes, a mask the score depends on).
func TestParityAlignment(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"toyalign_clip", []string{"--builder", "tests.toy_alignment:build_clip", "--seed", "3"}},
		{"toyalign_bert", []string{"--builder", "tests.toy_alignment:build_bert", "--seed", "3"}},
		{"clipscore", []string{"--model", "clipscore", "--seed", "7"}},
		{"imagereward", []string{"--model", "imagereward", "--seed", "7"}},
		{"hpsv1", []string{"--model", "hpsv1", "--seed", "7"}},
		{"hpsv2", []string{"--model", "hpsv2", "--seed", "7"}}, // resize_pad: long side to 224, black padding
		{"hpsv21", []string{"--model", "hpsv21", "--seed", "7"}},
		{"pickscore", []string{"--model", "pickscore", "--seed", "7"}},
	} {
		t.Run(c.name, func(t *testing.T) { checkAlignmentParity(t, c.name, c.args) })
	}
}

func checkAlignmentParity(t *testing.T, catalog string, args []string) {
	if testing.Short() {
		t.Skip("-short: the parity test exports a model through Python")
	}
	vocab := testenv.Shared(t, "data", "clip", clip.VocabFile)
	args = append(args, "--vocab", vocab)
	// BERT ids come from the Go tokenizer (checked against transformers' BertTokenizer in bench/bert);
	// the reference scores those rows, so what is compared here is the served graph and the mask.
	var wp *bert.Tokenizer
	var bertRows struct{ Tokens, Masks [][]int64 }
	if isBERT := slices.Contains([]string{"toyalign_bert", "imagereward"}, catalog); isBERT {
		var err error
		if wp, err = bert.Load(berttest.Vocab(t)); err != nil {
			t.Fatal(err)
		}
		for _, p := range parityPrompts {
			ids, mask, _ := wp.Encode(p, bertLength)
			bertRows.Tokens, bertRows.Masks = append(bertRows.Tokens, ids), append(bertRows.Masks, mask)
		}
		path := filepath.Join(t.TempDir(), "tokens.json")
		data, err := json.Marshal(map[string][][]int64{"tokens": bertRows.Tokens, "masks": bertRows.Masks})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--tokens", path)
	}
	images, repoDir, data, ort := exportParityReference(t, parityPrompts, args...)
	var ref alignmentReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("reference.json: %v", err)
	}
	n := len(images)
	want := ref.Outputs[modelrepo.OutputAlignment]
	if len(ref.Pixels) != n || len(ref.Tokens) != n || len(want) != n || len(ref.Outputs) != 1 {
		t.Fatalf("reference has %d pixels, %d token rows, outputs %v; want %d and ALIGNMENT alone", len(ref.Pixels), len(ref.Tokens), ref.Outputs, n)
	}

	ctx := context.Background()
	c := serveExported(t, repoDir, ort)
	cfg, err := c.ModelConfig(ctx, ref.Model, "")
	if err != nil {
		t.Fatalf("served model %q: %v", ref.Model, err)
	}
	if problems := modelrepo.ContractCheck(cfg); len(problems) > 0 {
		t.Fatalf("exported config breaks the contract: %v", problems)
	}
	if cat, _ := modelrepo.Parameter(cfg, "agiqa.catalog"); cat != catalog {
		t.Errorf("agiqa.catalog %q, want %s", cat, catalog)
	}
	dims := map[string][]int64{}
	for _, in := range cfg.GetInput() {
		dims[in.GetName()] = in.GetDims()
	}
	size := dims[modelrepo.InputImage][1]
	length := dims[modelrepo.InputTokens][0]
	_, hasMask := dims[modelrepo.InputTokensMask]
	if size != ref.ImageSize || hasMask != (wp != nil) {
		t.Fatalf("served IMAGE side %d (reference %d), TOKENS_MASK %v (BERT model %v)", size, ref.ImageSize, hasMask, wp != nil)
	}
	methodName, _ := modelrepo.Parameter(cfg, "agiqa.preprocess")
	method, err := preprocess.ParseMethod(methodName)
	wantMethod := preprocess.MethodResizeCenterCrop
	if catalog == "hpsv2" || catalog == "hpsv21" {
		wantMethod = preprocess.MethodResizePad
	}
	if err != nil || method != wantMethod {
		t.Fatalf("agiqa.preprocess %q (%v), want %v", methodName, err, wantMethod)
	}
	tokens, masks := bertRows.Tokens, bertRows.Masks
	switch tk := modelrepo.Tokenizer(cfg); {
	case wp != nil && (tk != modelrepo.TokenizerBERT || length != bertLength):
		t.Fatalf("agiqa.tokenizer %q, TOKENS [%d]; want %s [%d]", tk, length, modelrepo.TokenizerBERT, bertLength)
	case wp == nil:
		if tk != modelrepo.TokenizerCLIP || length != clip.ContextLength {
			t.Fatalf("agiqa.tokenizer %q, TOKENS [%d]; want %s [%d]", tk, length, modelrepo.TokenizerCLIP, clip.ContextLength)
		}
		tok, err := clip.Load(vocab)
		if err != nil {
			t.Fatal(err)
		}
		prefix, _ := modelrepo.Parameter(cfg, "agiqa.prompt_prefix")
		for i, p := range parityPrompts {
			tokens = append(tokens, tok.Encode(prefix+p))
			if !slices.Equal(tokens[i], ref.Tokens[i]) {
				t.Errorf("prompt %q (prefix %q): Go tokens %v, Python %v", p, prefix, tokens[i], ref.Tokens[i])
			}
		}
	}

	if spread := slices.Max(want) - slices.Min(want); spread < 3*scoreTol {
		t.Fatalf("eager ALIGNMENT varies by only %.3g across the images (%v); the check needs inputs that move the score", spread, want)
	}
	for i, path := range images {
		pixels, err := preprocess.LoadTensor(path, int(size), method)
		if err != nil {
			t.Fatal(err)
		}
		wantPix, err := base64.StdEncoding.DecodeString(ref.Pixels[i])
		if err != nil || len(wantPix) != len(pixels) {
			t.Fatalf("%s: reference pixels: %d bytes, %v; Go has %d", path, len(wantPix), err, len(pixels))
		}
		worst := 0
		for j := range wantPix {
			d := int(pixels[j]) - int(wantPix[j])
			worst = max(worst, d, -d)
		}
		if worst > pixelTol {
			t.Errorf("%s: Go %v differs from Pillow by %d grey levels; tolerance %d", path, method, worst, pixelTol)
		}
		inputs := []*tensor.Tensor{must(tensor.NewUint8(modelrepo.InputImage, []int64{1, 3, size, size}, pixels))(t),
			must(tensor.NewInt64(modelrepo.InputTokens, []int64{1, length}, tokens[i]))(t)}
		if hasMask {
			inputs = append(inputs, must(tensor.NewInt64(modelrepo.InputTokensMask, []int64{1, length}, masks[i]))(t))
		}
		res, err := c.Infer(ctx, client.InferRequest{Model: ref.Model, Inputs: inputs})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		v, err := res.Float32s(modelrepo.OutputAlignment)
		if err != nil || len(v) != 1 {
			t.Fatalf("%s: ALIGNMENT %v, %v", path, v, err)
		}
		d := math.Abs(float64(v[0]) - want[i])
		t.Logf("%s: served %.7f eager %.7f |diff| %.2g", filepath.Base(path), v[0], want[i], d)
		if d > scoreTol {
			t.Errorf("%s: served %.7f, eager PyTorch %.7f: |diff| %.3g > %g", path, v[0], want[i], d, scoreTol)
		}
	}
}

// must turns a (tensor, error) pair into a tensor, failing t on the error.
func must(x *tensor.Tensor, err error) func(t *testing.T) *tensor.Tensor {
	return func(t *testing.T) *tensor.Tensor {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
}
