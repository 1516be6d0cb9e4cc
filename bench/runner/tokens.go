package runner

import (
	"fmt"

	"github.com/agiqa-bench/agiqa/bench/bert"
	"github.com/agiqa-bench/agiqa/bench/clip"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// Tokenizers hold what prompt models need: CLIP's BPE for agiqa.tokenizer "clip_bpe" models and
// BERT's WordPiece for "bert_wordpiece" ones. Either may be nil when no model served needs it.
type Tokenizers struct {
	CLIP *clip.Tokenizer
	BERT *bert.Tokenizer
}

// Check says which tokenizer model m lacks, naming the flag that supplies it.
func (t Tokenizers) Check(m *Model) error {
	switch {
	case !m.Prompt:
		return nil
	case m.Tokenizer == modelrepo.TokenizerBERT && t.BERT == nil:
		return fmt.Errorf("model %s takes TOKENS: a BERT WordPiece tokenizer is needed (--bert-vocab)", m.Name)
	case m.Tokenizer != modelrepo.TokenizerBERT && t.CLIP == nil:
		return fmt.Errorf("model %s takes TOKENS: a CLIP tokenizer is needed (--clip-vocab)", m.Name)
	}
	return nil
}

// Encode returns the TOKENS row of text for m, its TOKENS_MASK row (nil when m has none) and whether
// the prompt was cut to fit. Check(m) must have passed.
func (t Tokenizers) Encode(m *Model, text string) (ids, mask []int64, truncated bool) {
	if m.Tokenizer == modelrepo.TokenizerBERT {
		ids, mask, truncated = t.BERT.Encode(text, m.TokenLength)
	} else {
		ids = t.CLIP.Encode(text)
		truncated = len(t.CLIP.BPE(text)) > clip.ContextLength-2
		if m.TokenMask {
			// 1 from the start token through the end token, as for BERT.
			mask = make([]int64, len(ids))
			for i := range ids {
				mask[i] = 1
				if ids[i] == clip.EndToken {
					break
				}
			}
		}
	}
	if !m.TokenMask {
		mask = nil
	}
	return ids, mask, truncated
}

// truncationWarning counts the distinct prompts among items that do not fit m's TOKENS and says so,
// or returns "" when all fit. All items count, cached ones included, so a resumed run says the same.
func (t Tokenizers) truncationWarning(m *Model, items []dataset.Item) (int, string) {
	if !m.Prompt {
		return 0, ""
	}
	seen := map[string]bool{}
	n := 0
	for _, it := range items {
		text := m.PromptPrefix + it.Prompt
		if seen[text] {
			continue
		}
		seen[text] = true
		if _, _, cut := t.Encode(m, text); cut {
			n++
		}
	}
	if n == 0 {
		return 0, ""
	}
	noun := "prompts"
	if n == 1 {
		noun = "prompt"
	}
	return n, fmt.Sprintf("%d %s truncated to %d tokens (model %s)", n, noun, m.TokenLength, m.Name)
}
