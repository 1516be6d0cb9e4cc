package main

import (
	"strings"
	"testing"

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
