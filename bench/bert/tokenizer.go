// Package bert implements BERT's uncased WordPiece tokenizer, as transformers' BertTokenizer runs it
// for bert-base-uncased (do_lower_case=True), so that the harness can build the TOKENS and
// TOKENS_MASK inputs of models with a BERT text encoder (ImageReward):
//
//   - special tokens written literally in the text ([CLS], [SEP], [PAD], [UNK], [MASK], exact case)
//     stay whole; the rest is lower-cased character by character;
//   - the basic tokenizer: NUL, U+FFFD and control characters removed, whitespace made a space, CJK
//     ideographs spaced out, NFC, split on whitespace, NFD with non-spacing marks dropped, every
//     punctuation character its own word;
//   - WordPiece: greedy longest match first against the vocabulary, "##" marking a piece inside a
//     word; a word with no complete cover, or longer than 100 characters, is one [UNK].
//
// Encode lays the ids out as BertTokenizer(text, padding="max_length", truncation=True,
// max_length=L) does: [CLS], at most L-2 word pieces, [SEP], then [PAD] ids; the mask is 1 over
// [CLS]..[SEP]. Character classes follow Go's Unicode tables (15.0), Python 3.11's are 14.0: only
// characters assigned between the two versions can differ.
package bert

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// MaxInputCharsPerWord is WordpieceTokenizer's max_input_chars_per_word: a longer word is [UNK].
const MaxInputCharsPerWord = 100

// maxVocabBytes bounds what Read accepts; bert-base-uncased's vocab.txt is 231,508 bytes.
const maxVocabBytes = 16 << 20

// Special token strings; a vocabulary must hold each of them.
const (
	TokenCLS  = "[CLS]"
	TokenSEP  = "[SEP]"
	TokenPAD  = "[PAD]"
	TokenUNK  = "[UNK]"
	TokenMASK = "[MASK]"
)

var specials = []string{TokenCLS, TokenSEP, TokenPAD, TokenUNK, TokenMASK}

// Tokenizer encodes text into WordPiece ids. It is safe for concurrent use.
type Tokenizer struct {
	ids                map[string]int64
	tokens             []string
	cls, sep, pad, unk int64
	maxRunes           int // the longest entry in runes ("##" not counted): bounds the match search
}

// Load reads a vocabulary file (vocab.txt: one token a line, the id is the line's index).
func Load(path string) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bert: vocabulary: %w", err)
	}
	defer f.Close()
	t, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("bert: vocabulary %s: %w", path, err)
	}
	return t, nil
}

// Read parses a vocabulary. It refuses what cannot be a BERT vocabulary rather than letting
// BertTokenizer's lenient reading shift ids: an empty or oversized file, binary content (NUL bytes,
// invalid UTF-8), carriage returns (Python's universal newlines would read them as line breaks),
// empty lines, a token listed twice, or a missing special token. Errors name the line.
func Read(r io.Reader) (*Tokenizer, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxVocabBytes+1))
	if err != nil {
		return nil, err
	}
	switch {
	case len(data) == 0:
		return nil, fmt.Errorf("empty file; want one token a line")
	case len(data) > maxVocabBytes:
		return nil, fmt.Errorf("larger than %d MiB; not a vocabulary (one token a line)", maxVocabBytes>>20)
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	lines := strings.Split(string(data), "\n")
	t := &Tokenizer{ids: make(map[string]int64, len(lines)), tokens: lines}
	for i, tok := range lines {
		switch {
		case strings.IndexByte(tok, 0) >= 0 || !utf8.ValidString(tok):
			return nil, fmt.Errorf("line %d is binary (NUL bytes or invalid UTF-8); not a vocabulary", i+1)
		case strings.IndexByte(tok, '\r') >= 0:
			return nil, fmt.Errorf("line %d holds a carriage return; want Unix line ends", i+1)
		case tok == "":
			return nil, fmt.Errorf("line %d is empty; want one token a line", i+1)
		}
		if prev, dup := t.ids[tok]; dup {
			return nil, fmt.Errorf("line %d: token %q already on line %d", i+1, tok, prev+1)
		}
		t.ids[tok] = int64(i)
		if n := utf8.RuneCountInString(strings.TrimPrefix(tok, "##")); n > t.maxRunes {
			t.maxRunes = n
		}
	}
	var missing []string
	for _, s := range specials {
		if _, ok := t.ids[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%d lines but no %s line; not a BERT vocabulary", len(lines), strings.Join(missing, ", "))
	}
	t.cls, t.sep, t.pad, t.unk = t.ids[TokenCLS], t.ids[TokenSEP], t.ids[TokenPAD], t.ids[TokenUNK]
	return t, nil
}

// Size is the number of vocabulary entries.
func (t *Tokenizer) Size() int { return len(t.tokens) }

// Special returns the ids of [CLS], [SEP] and [PAD].
func (t *Tokenizer) Special() (cls, sep, pad int64) { return t.cls, t.sep, t.pad }

// Token returns the vocabulary entry of id, or "" when id is out of range.
func (t *Tokenizer) Token(id int64) string {
	if id < 0 || id >= int64(len(t.tokens)) {
		return ""
	}
	return t.tokens[id]
}

// Encode returns the TOKENS and TOKENS_MASK rows for text at length L (2 <= L): [CLS], the first
// L-2 word piece ids, [SEP], [PAD] ids; mask 1 over [CLS]..[SEP] and 0 over the padding. truncated
// reports that word pieces were cut. L below 2 cannot hold [CLS] and [SEP]; the contract refuses such
// models, and Encode panics on it as on any other impossible length.
func (t *Tokenizer) Encode(text string, length int) (ids, mask []int64, truncated bool) {
	if length < 2 {
		panic(fmt.Sprintf("bert: Encode length %d; want at least 2 ([CLS] and [SEP])", length))
	}
	pieces := t.IDs(text)
	if len(pieces) > length-2 {
		pieces, truncated = pieces[:length-2], true
	}
	ids, mask = make([]int64, length), make([]int64, length)
	ids[0] = t.cls
	n := 1 + copy(ids[1:], pieces)
	ids[n] = t.sep
	for i := range ids {
		if i > n {
			ids[i] = t.pad
		} else {
			mask[i] = 1
		}
	}
	return ids, mask, truncated
}

// IDs returns the word piece ids of text, without [CLS], [SEP] or padding.
func (t *Tokenizer) IDs(text string) []int64 {
	var ids []int64
	var words []string
	var scratch []byte
	for text != "" {
		// Literal special tokens stay whole, as PreTrainedTokenizer's added-token trie keeps them.
		at, special := nextSpecial(text)
		words = basicWords(text[:at], words[:0])
		for _, w := range words {
			ids, scratch = t.wordPiece(w, ids, scratch)
		}
		if special == "" {
			break
		}
		ids = append(ids, t.ids[special])
		text = text[at+len(special):]
	}
	return ids
}

// nextSpecial finds the first literal special token in s: its byte offset and text, or len(s) and "".
func nextSpecial(s string) (int, string) {
	for i := 0; i < len(s); i++ {
		if s[i] != '[' {
			continue
		}
		for _, sp := range specials {
			if strings.HasPrefix(s[i:], sp) {
				return i, sp
			}
		}
	}
	return len(s), ""
}

// wordPiece appends the ids of one basic-tokenized word: the longest vocabulary entry that starts the
// word, then the longest "##" entry that continues it, and so on; [UNK] for the whole word when some
// position has no entry or the word has more than MaxInputCharsPerWord characters.
func (t *Tokenizer) wordPiece(word string, ids []int64, scratch []byte) ([]int64, []byte) {
	n := utf8.RuneCountInString(word)
	if n > MaxInputCharsPerWord {
		return append(ids, t.unk), scratch
	}
	// offs[k] is the byte offset of rune k, offs[n] = len(word).
	var offsBuf [MaxInputCharsPerWord + 1]int
	offs := offsBuf[:0]
	for i := range word {
		offs = append(offs, i)
	}
	offs = append(offs, len(word))
	mark := len(ids)
	for start := 0; start < n; {
		end := min(n, start+t.maxRunes)
		found := int64(-1)
		for ; end > start; end-- {
			scratch = scratch[:0]
			if start > 0 {
				scratch = append(scratch, "##"...)
			}
			scratch = append(scratch, word[offs[start]:offs[end]]...)
			if id, ok := t.ids[string(scratch)]; ok {
				found = id
				break
			}
		}
		if found < 0 {
			return append(ids[:mark], t.unk), scratch
		}
		ids = append(ids, found)
		start = end
	}
	return ids, scratch
}
