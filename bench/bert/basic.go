package bert

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file is BERT's basic tokenizer as transformers' BertTokenizer runs it with do_lower_case=True:
// lower-case (outside special tokens), clean, space out CJK ideographs, NFC, split on whitespace,
// lower-case again, NFD and drop non-spacing marks, split off punctuation.

// lowerRunes lower-cases s one character at a time. BertTokenizer does this before anything else
// (PreTrainedTokenizer.tokenize with do_lower_case), so Python's context-dependent final sigma never
// applies: every capital sigma becomes σ. U+0130's full lower-case form ends in U+0307, a
// non-spacing mark the accent stripping removes, so Go's simple mapping gives the same result.
func lowerRunes(s string) string {
	return strings.Map(unicode.ToLower, s)
}

// isControl is BERT's _is_control: Unicode category C* (Cc, Cf, Cs, Co and unassigned Cn) except the
// tab, newline and carriage return that count as whitespace.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	// Go's C table includes unassigned code points (Cn), as Python's category() "Cn" does.
	return unicode.Is(unicode.C, r)
}

// isWhitespace is BERT's _is_whitespace: space, tab, newline, carriage return and category Zs.
func isWhitespace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.Zs, r)
}

// isPunctuation is BERT's _is_punctuation: every non-alphanumeric printable ASCII character (so $, ^,
// ` and the like count although Unicode files them as symbols) and Unicode category P*.
func isPunctuation(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return unicode.IsPunct(r)
}

// isCJK is BERT's _is_chinese_char: the CJK Unified Ideographs blocks and their extensions and
// compatibility blocks (not Hiragana, Katakana or Hangul, which are written with spaces).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// isPySpace is Python's str.isspace, which whitespace_tokenize's str.split() uses. After cleaning only
// ' ', U+2028 and U+2029 of these can remain, but the full set keeps the split exact.
func isPySpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', 0x1C, 0x1D, 0x1E, 0x1F, ' ', 0x85, 0xA0, 0x1680,
		0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// cleanAndSpace is _clean_text followed by _tokenize_chinese_chars: NUL, U+FFFD (what invalid UTF-8
// decodes to) and control characters dropped, whitespace made a plain space, CJK ideographs spaced out.
func cleanAndSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == 0 || r == utf8.RuneError || isControl(r):
		case isWhitespace(r):
			b.WriteByte(' ')
		case isCJK(r):
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stripAccents is _run_strip_accents: NFD, then every non-spacing mark (Mn) removed. The text stays
// decomposed (Hangul syllables become jamo), as in BERT.
func stripAccents(s string) string {
	d := norm.NFD.String(s)
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, d)
}

// splitPunct is _run_split_on_punc: each punctuation character becomes a word of its own.
func splitPunct(word string, out []string) []string {
	start := 0
	for i, r := range word {
		if !isPunctuation(r) {
			continue
		}
		if start < i {
			out = append(out, word[start:i])
		}
		n := utf8.RuneLen(r)
		out = append(out, word[i:i+n])
		start = i + n
	}
	if start < len(word) {
		out = append(out, word[start:])
	}
	return out
}

// basicWords runs the basic tokenizer over text that holds no special token and appends its words.
func basicWords(text string, out []string) []string {
	text = norm.NFC.String(cleanAndSpace(lowerRunes(text)))
	for _, tok := range strings.FieldsFunc(text, isPySpace) {
		tok = stripAccents(lowerRunes(tok))
		// BERT joins the pieces with spaces and splits again: a piece that NFD turned into something
		// holding whitespace would split there.
		for _, w := range strings.FieldsFunc(tok, isPySpace) {
			out = splitPunct(w, out)
		}
	}
	return out
}
