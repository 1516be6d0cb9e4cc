package perf

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

func int64Rows(b []byte, n int) [][]int64 {
	var rows [][]int64
	for r := 0; r+8*n <= len(b); r += 8 * n {
		row := make([]int64, n)
		for j := range row {
			row[j] = int64(binary.LittleEndian.Uint64(b[r+8*j:]))
		}
		rows = append(rows, row)
	}
	return rows
}

func bertModel(tokenizer string, length int64) *modelInfo {
	return &modelInfo{name: "ir", maxBatch: 8, tokenizer: tokenizer, inputs: []tensorSpec{
		{name: "IMAGE", dtype: tensor.Uint8, dims: []int64{3, 4, 4}, rowBytes: 48},
		{name: "TOKENS", dtype: tensor.Int64, dims: []int64{length}, rowBytes: 8 * length},
		{name: "TOKENS_MASK", dtype: tensor.Int64, dims: []int64{length}, rowBytes: 8 * length},
	}}
}

// Random requests for a bert_wordpiece model carry [CLS] ids [SEP] 0... and a mask that is 1 exactly
// through [SEP]; CLIP models with a mask get the same through the end token.
func TestRandomBertTokensAndMask(t *testing.T) {
	for _, tc := range []struct {
		tokenizer  string
		length     int64
		start, end int64
		lo, hi     int64 // range of the ids in between
	}{
		{modelrepo.TokenizerBERT, 35, bertCLS, bertSEP, bertFirstWord, bertVocabSize - 1},
		{modelrepo.TokenizerCLIP, 77, tokenStart, tokenEnd, 1, tokenStart - 1},
	} {
		mi := bertModel(tc.tokenizer, tc.length)
		pl, err := mi.makePayloads(InputRandom, nil, 4, 7)
		if err != nil {
			t.Fatal(err)
		}
		lengths := map[int]bool{}
		for _, v := range pl {
			toks, masks := int64Rows(v[1], int(tc.length)), int64Rows(v[2], int(tc.length))
			if len(toks) != 4 || len(masks) != 4 {
				t.Fatalf("%s: %d token rows, %d mask rows", tc.tokenizer, len(toks), len(masks))
			}
			for r, row := range toks {
				end := slices.Index(row, tc.end)
				if row[0] != tc.start || end < 1 {
					t.Fatalf("%s row %v: want start %d and an end %d", tc.tokenizer, row, tc.start, tc.end)
				}
				lengths[end] = true
				for j, id := range row {
					switch {
					case j > 0 && j < end && (id < tc.lo || id > tc.hi):
						t.Errorf("%s row %d id %d = %d outside [%d, %d]", tc.tokenizer, r, j, id, tc.lo, tc.hi)
					case j > end && id != 0:
						t.Errorf("%s row %d: %d after the end token", tc.tokenizer, r, id)
					}
					if want := int64(0); j <= end && masks[r][j] != 1 || j > end && masks[r][j] != want {
						t.Errorf("%s row %d: mask %v does not cover exactly %v", tc.tokenizer, r, masks[r], row)
						break
					}
				}
			}
		}
		if len(lengths) < 3 {
			t.Errorf("%s: random prompts of only %d lengths", tc.tokenizer, len(lengths))
		}
	}
}

// Dataset samples carry their own TOKENS and TOKENS_MASK rows; a sample whose mask does not fit is
// named.
func TestDatasetBertSamples(t *testing.T) {
	mi := bertModel(modelrepo.TokenizerBERT, 5)
	img := make([]byte, 48)
	samples := []Sample{
		{Name: "a.png", Image: img, Tokens: []int64{101, 1037, 4937, 102, 0}, Mask: []int64{1, 1, 1, 1, 0}},
		{Name: "b.png", Image: img, Tokens: []int64{101, 4937, 102, 0, 0}, Mask: []int64{1, 1, 1, 0, 0}},
	}
	pl, err := mi.makePayloads(InputDataset, samples, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	toks, masks := int64Rows(pl[0][1], 5), int64Rows(pl[0][2], 5)
	for i, s := range samples {
		if !slices.Equal(toks[i], s.Tokens) || !slices.Equal(masks[i], s.Mask) {
			t.Errorf("sample %s sent as %v %v", s.Name, toks[i], masks[i])
		}
	}
	samples[1].Mask = nil
	if _, err := mi.makePayloads(InputDataset, samples, 2, 1); err == nil || !strings.Contains(err.Error(), "input TOKENS_MASK is INT64 [5] but sample b.png has 0 values") {
		t.Errorf("sample without a mask: %v", err)
	}
}
