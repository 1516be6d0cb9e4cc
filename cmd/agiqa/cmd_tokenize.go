package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/bert"
	"github.com/agiqa-bench/agiqa/bench/clip"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

func init() {
	register(command{name: "tokenize", summary: "print the token ids (TOKENS input) prompt models receive", run: runTokenize})
}

func runTokenize(_ context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "tokenize", `
Usage: agiqa tokenize [--tokenizer clip_bpe|bert_wordpiece] [--length L] [--clip-vocab FILE]
                      [--bert-vocab FILE] [--prefix TEXT] [--pad] TEXT...

Prints, one line per TEXT, the ids that prompt-aware models receive as TOKENS.

clip_bpe (default): CLIP's BPE ids, the start token 49406, the prompt's ids, the
end token 49407; prompts longer than 75 ids are truncated with the end token kept
last, as clip.tokenize(truncate=True) does. 77 ids with padding.

bert_wordpiece: bert-base-uncased WordPiece ids, [CLS] 101, the prompt's ids,
[SEP] 102; prompts longer than L-2 pieces are cut as BertTokenizer(text,
truncation=True, max_length=L) does (ImageReward: --length 35). L ids with
padding; TOKENS_MASK is 1 up to [SEP].

Padding zeros are left out unless --pad is given. A truncated prompt is named
on stderr. The CLIP vocabulary is --clip-vocab, else $AGIQA_CLIP_VOCAB, else
the cache ('agiqa fetch clip-vocab'); BERT's is --bert-vocab, else
$AGIQA_BERT_VOCAB, else the cache ('agiqa fetch bert-base-uncased-vocab').
Put -- before a TEXT that starts with a dash.

Example:
  agiqa tokenize "a photo of a cat"
  # 49406 320 1125 539 320 2368 49407
  agiqa tokenize --tokenizer bert_wordpiece --length 35 "a photo of a cat"
  # 101 1037 6302 1997 1037 4937 102`)
	tokenizer := fs.String("tokenizer", modelrepo.TokenizerCLIP, "`name`: clip_bpe or bert_wordpiece (a model's agiqa.tokenizer)")
	length := fs.Int("length", 35, "TOKENS `length` L for bert_wordpiece, 2..512 (clip_bpe is always 77)")
	vocab := fs.String("clip-vocab", "", "CLIP BPE vocabulary `file` (default $AGIQA_CLIP_VOCAB or the cache)")
	bertVocab := fs.String("bert-vocab", "", "BERT WordPiece vocabulary `file` (default $AGIQA_BERT_VOCAB or the cache)")
	prefix := fs.String("prefix", "", "`text` put before every prompt (a model's agiqa.prompt_prefix, e.g. \"A photo depicts \")")
	pad := fs.Bool("pad", false, "print all ids, padding zeros included")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("tokenize: no TEXT given")
	}
	encode, err := tokenizeFunc(*tokenizer, *length, *vocab, *bertVocab)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, text := range fs.Args() {
		ids, truncated := encode(*prefix + text)
		if truncated {
			fmt.Fprintf(io.stderr, "tokenize: %q truncated to %d tokens\n", *prefix+text, len(ids))
		}
		if !*pad {
			n := len(ids)
			for n > 0 && ids[n-1] == 0 {
				n--
			}
			ids = ids[:n]
		}
		for i, id := range ids {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatInt(id, 10))
		}
		b.WriteByte('\n')
	}
	_, err = fmt.Fprint(io.stdout, b.String())
	return err
}

// tokenizeFunc loads the named tokenizer and returns its TOKENS encoder.
func tokenizeFunc(name string, length int, clipVocab, bertVocab string) (func(string) ([]int64, bool), error) {
	switch name {
	case modelrepo.TokenizerCLIP:
		path, err := clip.ResolveVocab(clipVocab)
		if err != nil {
			return nil, fmt.Errorf("tokenize: %w (run 'agiqa fetch clip-vocab')", err)
		}
		tok, err := clip.Load(path)
		if err != nil {
			return nil, fmt.Errorf("tokenize: %w", err)
		}
		return func(s string) ([]int64, bool) {
			return tok.Encode(s), len(tok.BPE(s)) > clip.ContextLength-2
		}, nil
	case modelrepo.TokenizerBERT:
		if length < 2 || length > modelrepo.MaxBertLength {
			return nil, usagef("--length %d: want 2..%d ([CLS], the prompt, [SEP])", length, modelrepo.MaxBertLength)
		}
		path, err := bert.ResolveVocab(bertVocab)
		if err != nil {
			return nil, fmt.Errorf("tokenize: %w (run 'agiqa fetch bert-base-uncased-vocab')", err)
		}
		tok, err := bert.Load(path)
		if err != nil {
			return nil, fmt.Errorf("tokenize: %w", err)
		}
		return func(s string) ([]int64, bool) {
			ids, _, truncated := tok.Encode(s, length)
			return ids, truncated
		}, nil
	}
	return nil, usagef("--tokenizer %q: want %s or %s", name, modelrepo.TokenizerCLIP, modelrepo.TokenizerBERT)
}
