package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/bert/berttest"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

func TestTokenize(t *testing.T) {
	vocab := testenv.Shared(t, "data", "clip", "bpe_simple_vocab_16e6.txt.gz")
	repl := map[string]string{vocab: "VOCAB"}
	var out []byte
	out = append(out, cliTranscript(t, repl, "tokenize", "--clip-vocab", vocab,
		"a photo of a cat", "cat, using laptop, city, anime style", "It's the city's café!", strings.Repeat("dog ", 80))...)
	out = append(out, cliTranscript(t, repl, "tokenize", "--clip-vocab", vocab, "--pad", "--prefix", "A photo depicts ", "statue of a man")...)
	checkGolden(t, "tokenize", out)
}

func TestTokenizeErrors(t *testing.T) {
	t.Setenv("AGIQA_CLIP_VOCAB", "")
	t.Setenv("AGIQA_CACHE", t.TempDir())
	_, stderr, err := runCLI(t, "tokenize")
	if err == nil || !strings.Contains(err.Error(), "no TEXT given") || !strings.Contains(stderr, "Example:") {
		t.Errorf("no text: err %v, stderr %q", err, stderr)
	}
	_, _, err = runCLI(t, "tokenize", "a cat")
	for _, s := range []string{"--clip-vocab: not set", "$AGIQA_CLIP_VOCAB: not set", "does not exist", "agiqa fetch clip-vocab"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("no vocabulary: error %v lacks %q", err, s)
		}
	}
}

// bert_wordpiece prints what bench/bert's fixture (transformers' BertTokenizer) holds for the same
// texts, truncation at --length included.
func TestTokenizeBert(t *testing.T) {
	vocab := berttest.Vocab(t)
	data, err := os.ReadFile(filepath.Join("..", "..", "bench", "bert", "testdata", "ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Text  string  `json:"text"`
		IDs35 []int64 `json:"ids35"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, c := range cases {
		want[c.Text] = strings.Trim(strings.ReplaceAll(fmt.Sprint(c.IDs35), " 0", ""), "[]")
	}
	texts := []string{"a photo of a cat", "caf\u00e9 na\u00efve cre\u0300me br\u00fbl\u00e9e e\u0301 \u00c5ngstr\u00f6m \u0141\u00f3d\u017a", strings.Repeat("cat ", 40)}
	args := append([]string{"tokenize", "--tokenizer", "bert_wordpiece", "--length", "35", "--bert-vocab", vocab, "--"}, texts...)
	stdout, stderr, err := runCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	for i, text := range texts {
		if w, ok := want[text]; !ok || i >= len(lines) || lines[i] != w {
			t.Errorf("tokenize %q: got %q, BertTokenizer gives %q (in fixture: %v)", text, lines[min(i, len(lines)-1)], w, ok)
		}
	}
	if !strings.Contains(stderr, "truncated to 35 tokens") || strings.Count(stderr, "truncated") != 1 {
		t.Errorf("stderr %q: want the one truncated prompt named", stderr)
	}
	repl := map[string]string{vocab: "VOCAB"}
	out := cliTranscript(t, repl, "tokenize", "--tokenizer", "bert_wordpiece", "--length", "8", "--pad", "--bert-vocab", vocab, "--prefix", "A photo depicts ", "statue of a man", "a b c d e f")
	checkGolden(t, "tokenize_bert", out)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tokenizer", "sentencepiece", "x"}, `--tokenizer "sentencepiece": want clip_bpe or bert_wordpiece`},
		{[]string{"--tokenizer", "bert_wordpiece", "--length", "1", "x"}, "--length 1: want 2..512"},
		{[]string{"--tokenizer", "bert_wordpiece", "--length", "513", "x"}, "--length 513: want 2..512"},
		{[]string{"--tokenizer", "bert_wordpiece", "--bert-vocab", filepath.Join(t.TempDir(), "none.txt"), "x"}, "none.txt does not exist"},
		{[]string{"--tokenizer", "bert_wordpiece", "--bert-vocab", "testdata/tokenize.golden", "x"}, "vocabulary testdata/tokenize.golden: line 10: token \"--- stdout\" already on line 2"},
	} {
		_, _, err := runCLI(t, append([]string{"tokenize"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tokenize %v: %v, want %q", c.args, err, c.want)
		}
	}
}
