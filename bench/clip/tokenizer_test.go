package clip

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// sharedVocab locates ../shared/data/clip/<VocabFile> beside the repository root, skipping the test
// when it is absent (failing it under AGIQA_REQUIRE_SHARED=1).
func sharedVocab(tb testing.TB) string {
	tb.Helper()
	return testenv.Shared(tb, "data", "clip", VocabFile)
}

var (
	loadOnce sync.Once
	loaded   *Tokenizer
	loadErr  error
)

func tokenizer(tb testing.TB) *Tokenizer {
	tb.Helper()
	path := sharedVocab(tb)
	loadOnce.Do(func() { loaded, loadErr = Load(path) })
	if loadErr != nil {
		tb.Fatal(loadErr)
	}
	return loaded
}

func pad(ids []int64) []int64 {
	out := make([]int64, ContextLength)
	copy(out, ids)
	return out
}

func TestReferencePrompt(t *testing.T) {
	tok := tokenizer(t)
	want := pad([]int64{49406, 320, 1125, 539, 320, 2368, 49407})
	if got := tok.Encode("a photo of a cat"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Encode(a photo of a cat) = %v, want %v", got, want)
	}
}

// TestMatchesPythonReference checks every AGIQA-3k prompt, every AGIQA-1k prompt and edge cases
// against testdata/tokens.json (testdata/gen_tokens.py, an independent Python implementation).
func TestMatchesPythonReference(t *testing.T) {
	tok := tokenizer(t)
	data, err := os.ReadFile(filepath.Join("testdata", "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Group string  `json:"group"`
		Text  string  `json:"text"`
		IDs   []int64 `json:"ids"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatalf("testdata/tokens.json: %v", err)
	}
	groups := map[string]int{}
	for _, c := range cases {
		groups[c.Group]++
		got := tok.Encode(c.Text)
		if fmt.Sprint(got) != fmt.Sprint(pad(c.IDs)) {
			t.Errorf("[%s] Encode(%q)\n got %v\nwant %v", c.Group, c.Text, trim(got), c.IDs)
		}
	}
	// The fixture must really hold the dataset prompts (300 in AGIQA-3k, 720 in AGIQA-1k).
	if groups["agiqa-3k"] != 300 || groups["agiqa-1k"] != 720 || groups["edge"] < 20 {
		t.Errorf("fixture groups %v, want 300 agiqa-3k, 720 agiqa-1k and the edge cases", groups)
	}
}

func trim(ids []int64) []int64 {
	n := len(ids)
	for n > 0 && ids[n-1] == 0 {
		n--
	}
	return ids[:n]
}

func TestTruncationKeepsEndToken(t *testing.T) {
	tok := tokenizer(t)
	got := tok.Encode(strings.Repeat("cat ", 200))
	if len(got) != ContextLength || got[0] != StartToken || got[ContextLength-1] != EndToken {
		t.Fatalf("Encode(200 words): len %d, first %d, last %d", len(got), got[0], got[ContextLength-1])
	}
	for i := 1; i < ContextLength-1; i++ {
		if got[i] != 2368 { // "cat</w>"
			t.Fatalf("id %d = %d, want 2368", i, got[i])
		}
	}
	// Exactly 75 BPE ids fit without truncation; 76 lose the last one.
	if got := tok.Encode(strings.Repeat("cat ", 75)); got[75] != 2368 || got[76] != EndToken {
		t.Errorf("75 words: tail %v", got[74:])
	}
	if got := tok.Encode(strings.Repeat("cat ", 76)); got[75] != 2368 || got[76] != EndToken {
		t.Errorf("76 words: tail %v", got[74:])
	}
}

func TestCleaning(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"  Hello\t\n  World\u00a0 ", "hello world"},
		{"Tom &amp;amp; Jerry", "tom & jerry"},            // ftfy-lite + two html.unescape calls
		{"<b>&amp;amp;amp;</b>", "<b>&amp;</b>"},          // a '<' turns ftfy's unescape off
		{"don\u2019t \u201cstop\u201d", "don't \"stop\""}, // curly quotes
		{"\ufb01sh \uff21\uff11", "fish a1"},              // ligature, full width
		{"e\u0301", "\u00e9"},                             // NFC
		{"\x1b[31mred\x1b[0m\x00", "red"},                 // terminal escapes and controls
		{"\u0130", "i\u0307"},                             // Python's full lower-case mapping
		{"\u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u039f\u03a3.", "\u03bf\u03b4\u03bf\u03c2 \u03c3\u03bf\u03c6\u03bf\u03c2."},
		{"bad \xff byte", "bad \ufffd byte"},
	} {
		if got := cleanText(c.in); got != c.want {
			t.Errorf("cleanText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	tok := tokenizer(t)
	// CLIP's decode ends every piece with a space, punctuation included.
	for in, want := range map[string]string{
		"a photo of a cat":                          "a photo of a cat",
		"Hyper detail, HDR lighting, baroque style": "hyper detail , hdr lighting , baroque style",
		"caf\u00e9 \U0001f431 it's":                 "caf\u00e9 \U0001f431 it 's",
	} {
		if got := tok.Decode(tok.Encode(in)); got != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", in, got, want)
		}
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := tokenizer(t)
	want := fmt.Sprint(tok.Encode("beautiful fluffy baby giraffe, hyper detail"))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if got := fmt.Sprint(tok.Encode("beautiful fluffy baby giraffe, hyper detail")); got != want {
					t.Errorf("concurrent Encode differs: %s", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestLoadPlainAndGzip(t *testing.T) {
	path := sharedVocab(t)
	zdata, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zdata))
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "vocab.txt")
	if err := os.WriteFile(p, plain.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("a photo of a cat")[:7]; fmt.Sprint(got) != "[49406 320 1125 539 320 2368 49407]" {
		t.Errorf("plain-text vocabulary: %v", got)
	}
	if len(tok.vocab) != VocabSize {
		t.Errorf("vocabulary has %d symbols, want %d", len(tok.vocab), VocabSize)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.txt")
	if err := os.WriteFile(short, []byte("#version: 0.2\ni n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.txt")
	lines := []string{"#version: 0.2"}
	for i := 0; i < numMerges; i++ {
		lines = append(lines, "a b")
	}
	lines[100] = "only-one-field"
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.gz"): "missing.gz",
		short:                            "short.txt: 3 lines",
		bad:                              "line 101",
	} {
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s) error = %v, want one containing %q", path, err, want)
		}
	}
}

func TestResolveVocab(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "v.txt.gz")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	t.Setenv("AGIQA_CACHE", cache)
	t.Setenv(EnvVocab, "")
	if got := DefaultVocabPath(); got != filepath.Join(cache, "clip", VocabFile) {
		t.Errorf("DefaultVocabPath = %s", got)
	}
	t.Setenv("AGIQA_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	if got := DefaultVocabPath(); got != filepath.Join(dir, "xdg", "agiqa", "clip", VocabFile) {
		t.Errorf("DefaultVocabPath with XDG_CACHE_HOME = %s", got)
	}

	// Nothing anywhere: the error lists the three places.
	_, err := ResolveVocab("")
	if !errors.Is(err, ErrVocabNotFound) {
		t.Fatalf("ResolveVocab with nothing: %v", err)
	}
	for _, s := range []string{"--clip-vocab: not set", "$" + EnvVocab + ": not set", DefaultVocabPath() + " does not exist"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	// The flag wins, then the variable, then the default.
	if got, err := ResolveVocab(file); err != nil || got != file {
		t.Errorf("flag: %s, %v", got, err)
	}
	t.Setenv(EnvVocab, file)
	if got, err := ResolveVocab(""); err != nil || got != file {
		t.Errorf("env: %s, %v", got, err)
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
	// A flag naming a missing file is an error even though the default exists.
	missing := filepath.Join(dir, "typo.gz")
	_, err = ResolveVocab(missing)
	if err == nil || !strings.Contains(err.Error(), missing+" does not exist") || !strings.Contains(err.Error(), def+" exists") {
		t.Errorf("missing flag file: %v", err)
	}
}

func BenchmarkEncode(b *testing.B) {
	tok := tokenizer(b)
	prompt := "beautiful fluffy baby giraffe cheetah hybrid mixed creature character concept, hyper detail, HDR lighting, baroque style"
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tok.Encode(prompt)
		}
	})
	b.Run("uncached", func(b *testing.B) {
		// A fresh cache every time: the cost of the first sight of a prompt.
		b.ReportAllocs()
		for b.Loop() {
			tok.cache = sync.Map{}
			tok.cacheSize.Store(0)
			tok.Encode(prompt)
		}
	})
	b.Run("load", func(b *testing.B) {
		path := sharedVocab(b)
		for b.Loop() {
			if _, err := Load(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
