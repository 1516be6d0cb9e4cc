// Package clip implements OpenAI CLIP's byte-level BPE tokenizer (simple_tokenizer.py and
// clip.tokenize(..., truncate=True)) so that the harness can build the TOKENS input of prompt-aware
// models: 77 int64 ids, start token 49406, the prompt's BPE ids, end token 49407, zero padding.
//
// Text cleaning. CLIP runs ftfy.fix_text, unescapes HTML twice, collapses whitespace, strips and
// lower-cases. ftfy is a Python library; this package applies the part of fix_text's default
// configuration that is deterministic character mapping ("ftfy-lite", see cleanText), line by line
// and repeated until stable as ftfy does: HTML unescaping up to the first line that holds a '<', C1
// controls read as Windows-1252, removal of terminal escape sequences, Latin ligatures spelled out,
// full-width/half-width forms mapped with NFKC, curly quotes straightened, control characters
// removed, NFC normalisation. ftfy's mojibake repair (fix_encoding and friends, which guess how text
// was mis-decoded) is not reproduced: text that is valid, intended Unicode, as prompts are, tokenizes
// exactly as CLIP does. Invalid UTF-8 bytes become U+FFFD. Lower-casing follows Python's str.lower
// (full mapping for U+0130, Greek final sigma).
package clip

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/agiqa-bench/agiqa/internal/firstfile"
)

const (
	// ContextLength is the number of ids in a TOKENS tensor.
	ContextLength = 77
	// StartToken and EndToken are the ids of <|startoftext|> and <|endoftext|>.
	StartToken = 49406
	EndToken   = 49407
	// VocabSize is the number of ids: 256 byte symbols, the same with </w>, the merges, 2 specials.
	VocabSize = 49408
	// numMerges is how many merge lines CLIP reads: lines 2..48895 of the vocabulary file.
	numMerges = VocabSize - 512 - 2
	// maxCache bounds the per-word cache so that arbitrary text cannot grow it without limit.
	maxCache = 1 << 17
)

// EnvVocab names the environment variable consulted by ResolveVocab.
const EnvVocab = "AGIQA_CLIP_VOCAB"

// VocabFile is the vocabulary's published file name.
const VocabFile = "bpe_simple_vocab_16e6.txt.gz"

// splitPattern is simple_tokenizer.py's pattern. After cleaning, the only whitespace left is ' ', so
// RE2's ASCII \s means the same as Python's Unicode \s here.
var splitPattern = regexp.MustCompile(`(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+`)

// Tokenizer encodes text into CLIP token ids. It is safe for concurrent use.
type Tokenizer struct {
	// byteSym[b] is the vocabulary id of byte b's printable stand-in (add 256 for its </w> form).
	byteSym [256]int32
	// ranks maps a pair of adjacent symbol ids to its merge rank.
	ranks map[uint64]int32
	// merged[rank] is the id of the symbol a merge produces.
	merged []int32
	// vocab holds every symbol string by id and byteOf inverts the byte map (for Decode).
	vocab     []string
	byteOf    map[rune]byte
	cache     sync.Map // split piece -> merged ids ([]int32), shared read-only
	cacheSize atomic.Int64
}

// bytesToUnicode is CLIP's reversible byte -> printable rune map: printable Latin-1 bytes map to
// themselves, the other 68 to U+0100 onwards in byte order. The returned slice is in CLIP's vocabulary
// order (the printable bytes first), which fixes ids 0..255.
func bytesToUnicode() (order []byte, runeOf [256]rune) {
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	for b := 0; b < 256; b++ {
		if printable(b) {
			order = append(order, byte(b))
			runeOf[b] = rune(b)
		}
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !printable(b) {
			order = append(order, byte(b))
			runeOf[b] = rune(256 + n)
			n++
		}
	}
	return order, runeOf
}

// Load reads a vocabulary file (gzip-compressed, as published, or plain text).
func Load(path string) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("clip: vocabulary: %w", err)
	}
	defer f.Close()
	t, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("clip: vocabulary %s: %w", path, err)
	}
	return t, nil
}

// Read parses a vocabulary from r (gzip or plain text, detected from the content).
func Read(r io.Reader) (*Tokenizer, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) < numMerges+1 {
		return nil, fmt.Errorf("%d lines, want at least %d (a version line and %d merges)", len(lines), numMerges+1, numMerges)
	}

	t := &Tokenizer{ranks: make(map[uint64]int32, numMerges), merged: make([]int32, numMerges), byteOf: make(map[rune]byte, 256)}
	order, runeOf := bytesToUnicode()
	ids := make(map[string]int32, VocabSize)
	add := func(s string) {
		ids[s] = int32(len(t.vocab)) // a later duplicate wins, as in Python's dict(zip(vocab, ...))
		t.vocab = append(t.vocab, s)
	}
	for _, b := range order {
		add(string(runeOf[b]))
	}
	for _, b := range order {
		add(string(runeOf[b]) + "</w>")
	}
	type pair struct{ a, b string }
	merges := make([]pair, numMerges)
	for i := range merges {
		line := string(lines[i+1])
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: %q is not a merge of two symbols", i+2, line)
		}
		merges[i] = pair{fields[0], fields[1]}
		add(fields[0] + fields[1])
	}
	add("<|startoftext|>")
	add("<|endoftext|>")
	if ids["<|startoftext|>"] != StartToken || ids["<|endoftext|>"] != EndToken {
		return nil, fmt.Errorf("special tokens at %d/%d, want %d/%d", ids["<|startoftext|>"], ids["<|endoftext|>"], StartToken, EndToken)
	}
	for b := 0; b < 256; b++ {
		t.byteSym[b] = ids[string(runeOf[b])]
		t.byteOf[runeOf[b]] = byte(b)
	}
	for rank, m := range merges {
		a, okA := ids[m.a]
		b, okB := ids[m.b]
		t.merged[rank] = ids[m.a+m.b]
		// A merge naming a symbol outside the vocabulary can never apply; Python would skip it too.
		if !okA || !okB {
			continue
		}
		// A pair listed twice keeps its last rank, as Python's dict(zip(merges, range(...))) does.
		t.ranks[pairKey(a, b)] = int32(rank)
	}
	return t, nil
}

// Encode returns the TOKENS tensor for text: exactly ContextLength ids, StartToken, the BPE ids,
// EndToken, zeros; a text with more than 75 BPE ids is cut so that EndToken is the last id, as
// clip.tokenize(text, truncate=True) does.
func (t *Tokenizer) Encode(text string) []int64 {
	out := make([]int64, ContextLength)
	out[0] = StartToken
	n := 1
	for _, id := range t.BPE(text) {
		if n == ContextLength-1 {
			break
		}
		out[n] = int64(id)
		n++
	}
	out[n] = EndToken
	return out
}

// BPE returns the ids of the cleaned, split and merged text, without start/end tokens or padding
// (simple_tokenizer.SimpleTokenizer.encode).
func (t *Tokenizer) BPE(text string) []int32 {
	text = cleanText(text)
	var ids []int32
	for _, piece := range splitPattern.FindAllString(text, -1) {
		switch piece {
		case "<|startoftext|>":
			ids = append(ids, StartToken)
			continue
		case "<|endoftext|>":
			ids = append(ids, EndToken)
			continue
		}
		ids = append(ids, t.word(piece)...)
	}
	return ids
}

// word merges one piece, memoised.
func (t *Tokenizer) word(piece string) []int32 {
	if v, ok := t.cache.Load(piece); ok {
		return v.([]int32)
	}
	sym := make([]int32, len(piece))
	for i := 0; i < len(piece); i++ {
		sym[i] = t.byteSym[piece[i]]
	}
	sym[len(sym)-1] += 256 // the word's last symbol carries </w>
	sym = t.merge(sym)
	if t.cacheSize.Load() < maxCache {
		if _, loaded := t.cache.LoadOrStore(piece, sym); !loaded {
			t.cacheSize.Add(1)
		}
	}
	return sym
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// merge applies the lowest-ranked merge present among adjacent pairs, to every non-overlapping
// occurrence from left to right, until no adjacent pair has a rank (simple_tokenizer.bpe).
func (t *Tokenizer) merge(sym []int32) []int32 {
	for len(sym) > 1 {
		best, at := int32(-1), 0
		for i := 0; i+1 < len(sym); i++ {
			if r, ok := t.ranks[pairKey(sym[i], sym[i+1])]; ok && (best < 0 || r < best) {
				best, at = r, i
			}
		}
		if best < 0 {
			break
		}
		first, second := sym[at], sym[at+1]
		out := make([]int32, 0, len(sym)-1)
		for i := 0; i < len(sym); {
			if i+1 < len(sym) && sym[i] == first && sym[i+1] == second {
				out = append(out, t.merged[best])
				i += 2
			} else {
				out = append(out, sym[i])
				i++
			}
		}
		sym = out
	}
	return sym
}

// Decode turns ids back into text (CLIP's decode: symbols joined, </w> read as a space, bytes
// restored); special tokens and padding zeros after the end token are dropped. It is meant for
// diagnostics.
func (t *Tokenizer) Decode(ids []int64) string {
	var sb strings.Builder
	for _, id := range ids {
		if id == StartToken {
			continue
		}
		if id == EndToken {
			break
		}
		if id < 0 || id >= int64(len(t.vocab)) {
			continue
		}
		s := strings.ReplaceAll(t.vocab[id], "</w>", " ")
		for _, r := range s {
			if r == ' ' {
				sb.WriteByte(' ')
			} else if b, ok := t.byteOf[r]; ok {
				sb.WriteByte(b)
			}
		}
	}
	return strings.TrimSpace(sb.String())
}

// DefaultVocabPath is where 'agiqa fetch clip-vocab' stores the vocabulary: the agiqa cache
// ($AGIQA_CACHE, else $XDG_CACHE_HOME/agiqa, else ~/.cache/agiqa, as modelrepo/fetch resolves it)
// followed by clip/bpe_simple_vocab_16e6.txt.gz.
func DefaultVocabPath() string {
	dir := os.Getenv("AGIQA_CACHE")
	if dir == "" {
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			dir = filepath.Join(x, "agiqa")
		} else if h, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(h, ".cache", "agiqa")
		} else {
			dir = filepath.Join(os.TempDir(), "agiqa-cache")
		}
	}
	return filepath.Join(dir, "clip", VocabFile)
}

// ErrVocabNotFound is wrapped by ResolveVocab's error.
var ErrVocabNotFound = errors.New("CLIP vocabulary not found")

// ResolveVocab finds the vocabulary file: the flag value, then $AGIQA_CLIP_VOCAB, then
// DefaultVocabPath(). A flag or variable that is set must name an existing file (a typo is not
// silently replaced by another file); the error lists all three places and what was found there.
func ResolveVocab(flagValue string) (string, error) {
	return firstfile.Find(ErrVocabNotFound,
		firstfile.Place{What: "--clip-vocab", Path: flagValue, Explicit: true},
		firstfile.Place{What: "$" + EnvVocab, Path: os.Getenv(EnvVocab), Explicit: true},
		firstfile.Place{What: "default", Path: DefaultVocabPath()})
}
