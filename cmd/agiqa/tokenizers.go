package main

import (
	"fmt"

	"github.com/agiqa-bench/agiqa/bench/bert"
	"github.com/agiqa-bench/agiqa/bench/clip"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

const bertVocabUsage = "BERT WordPiece vocabulary `file` for bert_wordpiece prompt models (default $AGIQA_BERT_VOCAB or the cache)"

// loadTokenizers loads what the prompt models among models need: CLIP's BPE vocabulary (clipVocab,
// --clip-vocab) for agiqa.tokenizer "clip_bpe" models and BERT's (bertVocab, --bert-vocab) for
// "bert_wordpiece" ones. A vocabulary no model needs is not looked for.
func loadTokenizers(models []*runner.Model, clipVocab, bertVocab string) (runner.Tokenizers, error) {
	var tok runner.Tokenizers
	for _, m := range models {
		if !m.Prompt {
			continue
		}
		if m.Tokenizer == modelrepo.TokenizerBERT {
			if tok.BERT != nil {
				continue
			}
			path, err := bert.ResolveVocab(bertVocab)
			if err != nil {
				return tok, fmt.Errorf("model %s needs prompts tokenized: %w (run 'agiqa fetch bert-base-uncased-vocab')", m.Name, err)
			}
			if tok.BERT, err = bert.Load(path); err != nil {
				return tok, err
			}
			continue
		}
		if tok.CLIP != nil {
			continue
		}
		path, err := clip.ResolveVocab(clipVocab)
		if err != nil {
			return tok, fmt.Errorf("model %s needs prompts tokenized: %w (run 'agiqa fetch clip-vocab')", m.Name, err)
		}
		if tok.CLIP, err = clip.Load(path); err != nil {
			return tok, err
		}
	}
	return tok, nil
}
