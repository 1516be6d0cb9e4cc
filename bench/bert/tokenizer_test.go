package bert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/bert/berttest"
)

var (
	loadOnce sync.Once
	loaded   *Tokenizer
	loadErr  error
)

func tokenizer(tb testing.TB) *Tokenizer {
	tb.Helper()
	path := berttest.Vocab(tb)
	loadOnce.Do(func() { loaded, loadErr = Load(path) })
	if loadErr != nil {
		tb.Fatal(loadErr)
	}
	return loaded
}

type refCase struct {
	Group       string  `json:"group"`
	Text        string  `json:"text"`
	IDs         []int64 `json:"ids"`
	IDs35       []int64 `json:"ids35"`
	Mask35      []int64 `json:"mask35"`
	FastDiffers bool    `json:"fast_differs"`
}

func referenceCases(tb testing.TB) []refCase {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "ids.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var cases []refCase
	if err := json.Unmarshal(data, &cases); err != nil {
		tb.Fatalf("testdata/ids.json: %v", err)
	}
	return cases
}

// TestMatchesBertTokenizer checks every AGIQA-3k and AGIQA-1k prompt and the edge cases against
// testdata/ids.json (testdata/gen_ids.py: transformers 4.36.2 BertTokenizer, cross-checked with
// BertTokenizerFast): untruncated ids and the max_length=35 ids, mask and truncation.
func TestMatchesBertTokenizer(t *testing.T) {
	tok := tokenizer(t)
	groups := map[string]int{}
	var truncated int
	for _, c := range referenceCases(t) {
		groups[c.Group]++
		ids, mask, trunc := tok.Encode(c.Text, 35)
		if !slices.Equal(ids, c.IDs35) || !slices.Equal(mask, c.Mask35) {
			t.Errorf("[%s] Encode(%q, 35)\n got %v %v\nwant %v %v", c.Group, c.Text, ids, mask, c.IDs35, c.Mask35)
		}
		if want := len(c.IDs) > 35; trunc != want {
			t.Errorf("[%s] Encode(%q, 35): truncated %v, want %v (%d ids)", c.Group, c.Text, trunc, want, len(c.IDs))
		}
		if trunc {
			truncated++
		}
		if len(c.IDs) < 512 {
			full, _, trunc := tok.Encode(c.Text, 512)
			if n := len(c.IDs); trunc || !slices.Equal(full[:n], c.IDs) || slices.ContainsFunc(full[n:], func(id int64) bool { return id != 0 }) {
				t.Errorf("[%s] Encode(%q, 512)\n got %v\nwant %v", c.Group, c.Text, full[:n], c.IDs)
			}
		}
	}
	if groups["agiqa-3k"] != 300 || groups["agiqa-1k"] != 720 || groups["edge"] < 30 {
		t.Errorf("fixture groups %v, want 300 agiqa-3k, 720 agiqa-1k and the edge cases", groups)
	}
	if truncated < 3 {
		t.Errorf("only %d fixture cases exceed 35 tokens; the truncation path is not exercised", truncated)
	}
}

func TestKnownIDs(t *testing.T) {
	tok := tokenizer(t)
	// Ids printed by transformers 4.36.2 BertTokenizer with this vocabulary ("unaffable" is
	// una ##ffa ##ble with bert-base-uncased, not the docstring's un ##aff ##able).
	for text, want := range map[string][]int64{
		"a photo of a cat":       {1037, 6302, 1997, 1037, 4937},
		"unaffable":              {14477, 20961, 3468},
		"":                       nil,
		"[CLS][MASK]":            {101, 103},
		strings.Repeat("a", 101): {100},
	} {
		if got := tok.IDs(text); !slices.Equal(got, want) {
			t.Errorf("IDs(%q) = %v, want %v", text, got, want)
		}
	}
	if cls, sep, pad := tok.Special(); cls != 101 || sep != 102 || pad != 0 || tok.Size() != 30522 {
		t.Errorf("specials %d %d %d, size %d", cls, sep, pad, tok.Size())
	}
	if tok.Token(4937) != "cat" || tok.Token(-1) != "" || tok.Token(30522) != "" {
		t.Errorf("Token: %q %q %q", tok.Token(4937), tok.Token(-1), tok.Token(30522))
	}
}

func TestEncodeLayout(t *testing.T) {
	tok := tokenizer(t)
	ids, mask, trunc := tok.Encode("a cat", 6)
	if fmt.Sprint(ids, mask, trunc) != "[101 1037 4937 102 0 0] [1 1 1 1 0 0] false" {
		t.Errorf("Encode(a cat, 6) = %v %v %v", ids, mask, trunc)
	}
	ids, mask, trunc = tok.Encode("a cat", 2)
	if fmt.Sprint(ids, mask, trunc) != "[101 102] [1 1] true" {
		t.Errorf("Encode(a cat, 2) = %v %v %v", ids, mask, trunc)
	}
	ids, _, trunc = tok.Encode("a cat", 4)
	if fmt.Sprint(ids, trunc) != "[101 1037 4937 102] false" {
		t.Errorf("Encode(a cat, 4) = %v %v", ids, trunc)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "length 1") {
			t.Errorf("Encode length 1: recovered %v", r)
		}
	}()
	tok.Encode("x", 1)
}

// A small vocabulary exercises the greedy longest-match rule independently of the fixture.
func TestWordPieceGreedy(t *testing.T) {
	tok := synthetic(t, "un", "##aff", "##able", "##a", "##ff", "aff", "##affable", "a", "##b")
	for text, want := range map[string]string{
		"unaffable": "un ##affable",       // longest continuation wins over ##aff ##able
		"affab":     "aff ##a ##b",        // no "##ab": falls back one character at a time
		"unx":       "[UNK]",              // no cover of "x": the whole word is [UNK]
		"aff, un!":  "aff [UNK] un [UNK]", // punctuation splits off; "," and "!" are not in the vocabulary
	} {
		var got []string
		for _, id := range tok.IDs(text) {
			got = append(got, tok.Token(id))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%q -> %v, want %s", text, got, want)
		}
	}
}

func synthetic(tb testing.TB, tokens ...string) *Tokenizer {
	tb.Helper()
	tok, err := Read(strings.NewReader(strings.Join(append(append([]string{}, specials...), tokens...), "\n") + "\n"))
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestBasicRules(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Héllo, WORLD!", "hello , world !"},
		{"a\x00b\ufffdc\u200bd\x07e", "abcde"},
		{"a\tb\nc\u00a0d\u3000e\u2028f", "a b c d e f"},
		{"中文abc字", "中 文 abc 字"},
		{"ΟΔΟΣ", "οδοσ"}, // per-character lower-casing: no final sigma
		{"İstanbul", "istanbul"},
		{"한국", "\u1112\u1161\u11ab\u1100\u116e\u11a8"}, // NFD jamo, as BERT leaves them
		{"$5^`~", "$ 5 ^ ` ~"},
		{"¿qué?", "¿ que ?"},
	} {
		if got := strings.Join(basicWords(c.in, nil), " "); got != c.want {
			t.Errorf("basicWords(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestReadRefusesNonVocabularies(t *testing.T) {
	dir := t.TempDir()
	good := strings.Join(specials, "\n") + "\ncat\n"
	files := map[string]string{
		"empty.txt":   "",
		"binary.bin":  "PK\x03\x04\x00\x00weights",
		"latin1.txt":  good + "caf\xe9\n",
		"crlf.txt":    strings.ReplaceAll(good, "\n", "\r\n"),
		"blank.txt":   "[PAD]\n\n[UNK]\n",
		"dup.txt":     good + "dog\ncat\n",
		"nocls.txt":   "[PAD]\n[UNK]\n[SEP]\n[MASK]\ncat\n",
		"clipvocab":   "#version: 0.2\ni n\nt h\n",
		"good.txt":    good,
		"nofinal.txt": strings.TrimSuffix(good, "\n"),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{
		"empty.txt":  "empty.txt: empty file",
		"binary.bin": "binary.bin: line 1 is binary",
		"latin1.txt": "latin1.txt: line 7 is binary",
		"crlf.txt":   "crlf.txt: line 1 holds a carriage return",
		"blank.txt":  "blank.txt: line 2 is empty",
		"dup.txt":    `dup.txt: line 8: token "cat" already on line 6`,
		"nocls.txt":  "nocls.txt: 5 lines but no [CLS] line",
		"clipvocab":  "clipvocab: 3 lines but no [CLS], [SEP], [PAD], [UNK], [MASK] line; not a BERT vocabulary",
		"missing":    "missing: no such file",
	} {
		_, err := Load(filepath.Join(dir, name))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s) error = %v, want one containing %q", name, err, want)
		}
	}
	for _, name := range []string{"good.txt", "nofinal.txt"} {
		tok, err := Load(filepath.Join(dir, name))
		if err != nil || tok.Size() != 6 || !slices.Equal(tok.IDs("CAT"), []int64{5}) {
			t.Errorf("Load(%s): %v", name, err)
		}
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxVocabBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("Load(big): %v", err)
	}
}

func TestResolveVocab(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "v.txt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGIQA_CACHE", filepath.Join(dir, "cache"))
	t.Setenv(EnvVocab, "")
	if got := DefaultVocabPath(); got != filepath.Join(dir, "cache", "bert", "vocab.txt") {
		t.Errorf("DefaultVocabPath = %s", got)
	}
	_, err := ResolveVocab("")
	if !errors.Is(err, ErrVocabNotFound) {
		t.Fatalf("ResolveVocab with nothing: %v", err)
	}
	for _, s := range []string{"--bert-vocab: not set", "$" + EnvVocab + ": not set", DefaultVocabPath() + " does not exist"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if got, err := ResolveVocab(file); err != nil || got != file {
		t.Errorf("flag: %s, %v", got, err)
	}
	t.Setenv(EnvVocab, file)
	if got, err := ResolveVocab(""); err != nil || got != file {
		t.Errorf("env: %s, %v", got, err)
	}
	// A mistyped flag is an error even though the variable names a file.
	if _, err := ResolveVocab(filepath.Join(dir, "typo")); err == nil || !strings.Contains(err.Error(), "typo does not exist") {
		t.Errorf("typo: %v", err)
	}
	t.Setenv(EnvVocab, "")
	def := DefaultVocabPath()
	if err := os.MkdirAll(filepath.Dir(def), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(def, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ResolveVocab(""); err != nil || got != def {
		t.Errorf("default: %s, %v", got, err)
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := tokenizer(t)
	const text = "beautiful fluffy baby giraffe, hyper detail, trending on artstation"
	want, _, _ := tok.Encode(text, 35)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if got, _, _ := tok.Encode(text, 35); !slices.Equal(got, want) {
					t.Errorf("concurrent Encode differs: %v", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
