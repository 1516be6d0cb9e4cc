package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/agiqa-bench/agiqa/bench/bert"
	"github.com/agiqa-bench/agiqa/bench/bert/berttest"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// bertSeen records what runner_test_bert received, by the image's grey level (image i is 10*i).
var bertSeen struct {
	sync.Mutex
	ids, mask map[uint8][]int64
}

func init() {
	// ALIGNMENT is the number of real tokens; TOKENS and TOKENS_MASK are kept for the test to read.
	native.Register("runner_test_bert", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		img, _ := native.TensorByName(in, "IMAGE")
		tok, _ := native.TensorByName(in, "TOKENS")
		msk, _ := native.TensorByName(in, "TOKENS_MASK")
		if tok == nil || msk == nil {
			return nil, fmt.Errorf("runner_test_bert: TOKENS or TOKENS_MASK missing")
		}
		ids, _ := tok.Int64s()
		mask, _ := msk.Int64s()
		b, l := int(tok.Shape[0]), int(tok.Shape[1])
		per := len(img.Raw) / b
		a := make([]float32, b)
		bertSeen.Lock()
		for i := 0; i < b; i++ {
			grey := img.Raw[i*per]
			bertSeen.ids[grey] = slices.Clone(ids[i*l : (i+1)*l])
			bertSeen.mask[grey] = slices.Clone(mask[i*l : (i+1)*l])
			for _, v := range mask[i*l : (i+1)*l] {
				a[i] += float32(v)
			}
		}
		bertSeen.Unlock()
		at, _ := tensor.NewFP32("ALIGNMENT", []int64{int64(b), 1}, a)
		return []*tensor.Tensor{at}, nil
	})
}

const bertConfig = `
name: "bert"
backend: "native"
max_batch_size: 4
input [
  { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 16, 16 ] },
  { name: "TOKENS" data_type: TYPE_INT64 dims: [ %d ] },
  { name: "TOKENS_MASK" data_type: TYPE_INT64 dims: [ %d ] }
]
output [ { name: "ALIGNMENT" data_type: TYPE_FP32 dims: [ 1 ] } ]
parameters { key: "agiqa.tokenizer" value: { string_value: "bert_wordpiece" } }
`

// referencePrompts reads prompts and their max_length=35 ids and mask from bench/bert's fixture
// (transformers' BertTokenizer, bench/bert/testdata/gen_ids.py): short and truncated ones.
func referencePrompts(t *testing.T) (texts []string, ids, mask [][]int64, truncated int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "bert", "testdata", "ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Group  string  `json:"group"`
		Text   string  `json:"text"`
		IDs    []int64 `json:"ids"`
		IDs35  []int64 `json:"ids35"`
		Mask35 []int64 `json:"mask35"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		long := len(c.IDs) > 35
		if c.Group != "edge" || (long && truncated == 3) || (!long && len(texts)-truncated == 5) {
			continue
		}
		if long {
			truncated++
		}
		texts, ids, mask = append(texts, c.Text), append(ids, c.IDs35), append(mask, c.Mask35)
	}
	if truncated != 3 || len(texts) != 8 {
		t.Fatalf("fixture gave %d prompts, %d truncated; want 8 and 3", len(texts), truncated)
	}
	return texts, ids, mask, truncated
}

// A bert_wordpiece model with TOKENS [35] and TOKENS_MASK [35] receives exactly the ids and mask
// BertTokenizer(text, padding="max_length", truncation=True, max_length=35) gives; the run counts
// the truncated prompts in its warnings.
func TestRunFeedsBertTokensAndMask(t *testing.T) {
	tok, err := bert.Load(berttest.Vocab(t))
	if err != nil {
		t.Fatal(err)
	}
	texts, wantIDs, wantMask, truncated := referencePrompts(t)
	items := makeItems(t, len(texts)+1)
	for i := range texts {
		items[i].Prompt = texts[i]
	}
	items[len(texts)].Prompt = texts[len(texts)-1] // a repeated truncated prompt counts once
	bertSeen.Lock()
	bertSeen.ids, bertSeen.mask = map[uint8][]int64{}, map[uint8][]int64{}
	bertSeen.Unlock()

	fsys := fstest.MapFS{
		"bert/config.pbtxt":   {Data: []byte(fmt.Sprintf(bertConfig, 35, 35))},
		"bert/1/model.native": {Data: []byte("runner_test_bert\n")},
	}
	c, _ := serveFS(t, fsys)
	ctx := context.Background()
	m, err := Describe(ctx, c, "bert")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Prompt || !m.TokenMask || m.TokenLength != 35 || m.Tokenizer != "bert_wordpiece" {
		t.Fatalf("Describe = %+v", m)
	}
	dir := t.TempDir()
	cf, err := OpenCache(dir, "toy", m, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	if _, err := Run(ctx, c, m, "", items, cf, Options{Batch: 4}); err == nil || !strings.Contains(err.Error(), "BERT WordPiece tokenizer is needed (--bert-vocab)") {
		t.Errorf("no BERT tokenizer: %v", err)
	}
	rep, err := Run(ctx, c, m, "", items, cf, Options{Batch: 4, Concurrency: 2, Tokenizer: Tokenizers{BERT: tok}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inferred != len(items) || rep.Failed != 0 {
		t.Fatalf("report %+v", rep)
	}
	want := fmt.Sprintf("%d prompts truncated to 35 tokens (model bert)", truncated)
	if rep.Truncated != truncated || !slices.Equal(rep.Warnings, []string{want}) {
		t.Errorf("truncated %d, warnings %q; want %d, %q", rep.Truncated, rep.Warnings, truncated, want)
	}
	bertSeen.Lock()
	defer bertSeen.Unlock()
	for i, it := range items {
		k := min(i, len(texts)-1)
		grey := uint8(10 * i)
		if !slices.Equal(bertSeen.ids[grey], wantIDs[k]) || !slices.Equal(bertSeen.mask[grey], wantMask[k]) {
			t.Errorf("prompt %q: model got\n%v %v\nBertTokenizer gives\n%v %v", it.Prompt, bertSeen.ids[grey], bertSeen.mask[grey], wantIDs[k], wantMask[k])
		}
		var real float64
		for _, v := range wantMask[k] {
			real += float64(v)
		}
		if p, _ := cf.Lookup(it.Image); p.Alignment == nil || *p.Alignment != real {
			t.Errorf("%s: alignment %v, want the mask's sum %v", it.Image, p.Alignment, real)
		}
	}
}

// The tokenizer and TOKENS' length are part of the cache key: a model re-exported with another
// length gets other ids, so its predictions are not reused.
func TestCacheKeyHoldsTokenizerAndLength(t *testing.T) {
	tok, err := bert.Load(berttest.Vocab(t))
	if err != nil {
		t.Fatal(err)
	}
	bertSeen.Lock()
	bertSeen.ids, bertSeen.mask = map[uint8][]int64{}, map[uint8][]int64{}
	bertSeen.Unlock()
	items := makeItems(t, 4)
	ds := &dataset.Dataset{Name: "toy", Items: items}
	dir := t.TempDir()
	for _, tc := range []struct {
		length, cached int
	}{{35, 0}, {35, 4}, {40, 0}, {35, 4}} {
		fsys := fstest.MapFS{
			"bert/config.pbtxt":   {Data: []byte(fmt.Sprintf(bertConfig, tc.length, tc.length))},
			"bert/1/model.native": {Data: []byte("runner_test_bert\n")},
		}
		c, _ := serveFS(t, fsys)
		m, err := Describe(context.Background(), c, "bert")
		if err != nil {
			t.Fatal(err)
		}
		cf, err := OpenCache(dir, "toy", m, "")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Run(context.Background(), c, m, "", ds.Items, cf, Options{Batch: 4, Tokenizer: Tokenizers{BERT: tok}})
		cf.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Cached != tc.cached {
			t.Errorf("TOKENS [%d]: cached %d, want %d", tc.length, rep.Cached, tc.cached)
		}
	}
	clipKey := newCacheKey("toy", &Model{Name: "c", Prompt: true, Tokenizer: "clip_bpe", TokenLength: 77}, "1")
	if clipKey.Tokenizer != "" || clipKey.TokenLength != 0 || clipKey.TokenMask {
		t.Errorf("a CLIP model's key changed (old caches would be orphaned): %+v", clipKey)
	}
}

func TestDescribeRefusesBadTokenInputs(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{fmt.Sprintf(bertConfig, 35, 34), "input TOKENS_MASK is [34], the contract wants TOKENS' dims [35]"},
		{fmt.Sprintf(bertConfig, 1, 1), `agiqa.tokenizer "bert_wordpiece" wants [L] with 2 <= L <= 512`},
		{strings.Replace(fmt.Sprintf(bertConfig, 35, 35), "bert_wordpiece", "sentencepiece", 1), `agiqa.tokenizer is "sentencepiece"`},
		{strings.Replace(fmt.Sprintf(bertConfig, 35, 35), "bert_wordpiece", "clip_bpe", 1), `input TOKENS is [35], the contract wants [77]`},
	} {
		fsys := fstest.MapFS{
			"bert/config.pbtxt":   {Data: []byte(tc.cfg)},
			"bert/1/model.native": {Data: []byte("runner_test_bert\n")},
		}
		c, _ := serveFS(t, fsys)
		if _, err := Describe(context.Background(), c, "bert"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Describe: %v, want %q", err, tc.want)
		}
	}
}
