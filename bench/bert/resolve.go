package bert

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/agiqa-bench/agiqa/internal/firstfile"
)

// EnvVocab names the environment variable consulted by ResolveVocab.
const EnvVocab = "AGIQA_BERT_VOCAB"

// VocabAsset is the cache-relative path of the fetch asset bert-base-uncased-vocab.
const VocabAsset = "bert/vocab.txt"

// DefaultVocabPath is where 'agiqa fetch bert-base-uncased-vocab' stores the vocabulary: the agiqa
// cache ($AGIQA_CACHE, else $XDG_CACHE_HOME/agiqa, else ~/.cache/agiqa, as modelrepo/fetch resolves
// it) followed by bert/vocab.txt.
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
	return filepath.Join(dir, filepath.FromSlash(VocabAsset))
}

// ErrVocabNotFound is wrapped by ResolveVocab's error.
var ErrVocabNotFound = errors.New("BERT vocabulary not found")

// ResolveVocab finds the vocabulary file: the flag value, then $AGIQA_BERT_VOCAB, then
// DefaultVocabPath(). A flag or variable that is set must name an existing file (a typo is not
// silently replaced by another file); the error lists all three places and what was found there.
func ResolveVocab(flagValue string) (string, error) {
	return firstfile.Find(ErrVocabNotFound,
		firstfile.Place{What: "--bert-vocab", Path: flagValue, Explicit: true},
		firstfile.Place{What: "$" + EnvVocab, Path: os.Getenv(EnvVocab), Explicit: true},
		firstfile.Place{What: "default", Path: DefaultVocabPath()})
}
