package clip

import (
	"html"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// cleanText is CLIP's basic_clean + whitespace_clean + lower(), with ftfy.fix_text replaced by
// fixText (see the package comment).
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = fixText(s)
	s = html.UnescapeString(html.UnescapeString(s))
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ") // \s+ -> ' ', stripped
	return pyLower(s)
}

// terminalEscape is ftfy's remove_terminal_escapes pattern (ANSI CSI sequences).
var terminalEscape = regexp.MustCompile("\x1b\\[((?:\\d|;)*)([a-zA-Z])")

// ligatures is ftfy's fix_latin_ligatures table.
var ligatures = strings.NewReplacer(
	"\u0132", "IJ", "\u0133", "ij", "\u0149", "\u02bcn", "\u01c4", "D\u017d", "\u01c5", "D\u017e",
	"\u01c6", "d\u017e", "\u01c7", "LJ", "\u01c8", "Lj", "\u01c9", "lj", "\u01ca", "NJ", "\u01cb", "Nj",
	"\u01cc", "nj", "\ufb00", "ff", "\ufb01", "fi", "\ufb02", "fl", "\ufb03", "ffi", "\ufb04", "ffl",
	"\ufb05", "\u017ft", "\ufb06", "st",
)

// cp1252 maps the C1 controls U+0080..U+009F to what those bytes are in Windows-1252 (ftfy's
// fix_c1_controls, "sloppy": the five bytes Windows-1252 leaves undefined map to themselves).
var cp1252 = [32]rune{
	0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
	0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
}

// fixText is the deterministic part of ftfy.fix_text's default configuration. Like fix_text it works
// line by line (segments ending in '\n'), and leaves HTML entities alone from the first line that
// holds a '<' on (unescape_html="auto").
func fixText(s string) string {
	if !strings.Contains(s, "\n") {
		return fixSegment(s, !strings.Contains(s, "<"))
	}
	var b strings.Builder
	unescape := true
	for s != "" {
		end := strings.IndexByte(s, '\n') + 1
		if end == 0 {
			end = len(s)
		}
		seg := s[:end]
		unescape = unescape && !strings.Contains(seg, "<")
		b.WriteString(fixSegment(seg, unescape))
		s = s[end:]
	}
	return b.String()
}

// fixSegment applies ftfy's fixers in fix_and_explain's order: HTML entities unescaped (when
// unescape), C1 controls read as Windows-1252, Latin ligatures spelled out, full-/half-width forms
// normalised, curly quotes straightened, line breaks unified, terminal escapes removed, control
// characters removed, NFC. Like ftfy it repeats them until nothing changes, so that, e.g., a
// double-escaped curly quote is unescaped and then straightened (bounded, in case of a cycle).
func fixSegment(s string, unescape bool) string {
	for range 16 {
		prev := s
		if unescape {
			s = html.UnescapeString(s)
		}
		s = ligatures.Replace(s)
		var b strings.Builder
		b.Grow(len(s))
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r >= 0x80 && r <= 0x9F {
				r = cp1252[r-0x80] // fix_c1_controls runs first; its output goes through the rest
			}
			switch {
			case r == 0x3000: // ideographic space
				b.WriteByte(' ')
			case r >= 0xFF01 && r < 0xFFF0:
				// fix_character_width: NFKC of the full-width or half-width form, where it changes.
				b.WriteString(norm.NFKC.String(string(r)))
			case r == 0x02BC || (r >= 0x2018 && r <= 0x201B): // uncurl_quotes
				b.WriteByte('\'')
			case r >= 0x201C && r <= 0x201F:
				b.WriteByte('"')
			case r == '\r':
				// fix_line_breaks: \r\n and lone \r become \n (whitespace is collapsed later anyway).
				if i+1 < len(s) && s[i+1] == '\n' {
					n++
				}
				b.WriteByte('\n')
			case r == 0x2028 || r == 0x2029: // (U+0085 is an ellipsis by now, as in ftfy)
				b.WriteByte('\n')
			default:
				b.WriteRune(r)
			}
			i += n
		}
		s = terminalEscape.ReplaceAllString(b.String(), "")
		s = strings.Map(func(r rune) rune { // remove_control_chars
			if isControl(r) {
				return -1
			}
			return r
		}, s)
		s = norm.NFC.String(s)
		if s == prev {
			break
		}
	}
	return s
}

// isControl lists what ftfy's remove_control_chars deletes: C0 controls other than \t \n \f \r,
// DEL, deprecated format characters, the byte-order mark, interlinear annotation and object
// replacement marks, musical beam/slur controls and language tags.
func isControl(r rune) bool {
	switch {
	case r <= 0x08, r == 0x0B, r >= 0x0E && r <= 0x1F, r == 0x7F:
		return true
	case r >= 0x206A && r <= 0x206F, r == 0xFEFF, r >= 0xFFF9 && r <= 0xFFFC:
		return true
	case r >= 0x1D173 && r <= 0x1D17A, r >= 0xE0000 && r <= 0xE007F:
		return true
	}
	return false
}

// pyLower is Python's str.lower: Go's per-rune mapping plus the two places where Python differs,
// U+0130 (full mapping "i̇") and the Greek capital sigma, which becomes final ς at the end of a word.
func pyLower(s string) string {
	if !strings.ContainsAny(s, "\u0130\u03a3") {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3A3:
			if finalSigma(rs, i) {
				b.WriteRune(0x3C2)
			} else {
				b.WriteRune(0x3C3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is Unicode's Final_Sigma condition as CPython tests it: a cased letter before (skipping
// case-ignorable characters) and no cased letter after.
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && caseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !cased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && caseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !cased(rs[j])
}

func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

func caseIgnorable(r rune) bool {
	switch r { // Word_Break MidLetter, MidNumLet and Single_Quote
	case '\'', '.', ':', 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
