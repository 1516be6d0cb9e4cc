package bert

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	places := []struct{ what, path string }{
		{"--bert-vocab", flagValue},
		{"$" + EnvVocab, os.Getenv(EnvVocab)},
		{"default", DefaultVocabPath()},
	}
	var notes []string
	var explicitMissing bool
	for i, p := range places {
		if p.path == "" {
			notes = append(notes, p.what+": not set")
			continue
		}
		st, err := os.Stat(p.path)
		switch {
		case err == nil && st.Mode().IsRegular():
			if !explicitMissing {
				return p.path, nil
			}
			notes = append(notes, fmt.Sprintf("%s: %s exists", p.what, p.path))
		case err == nil:
			notes = append(notes, fmt.Sprintf("%s: %s is not a regular file", p.what, p.path))
			explicitMissing = explicitMissing || i < 2
		default:
			notes = append(notes, fmt.Sprintf("%s: %s does not exist", p.what, p.path))
			explicitMissing = explicitMissing || i < 2
		}
	}
	return "", fmt.Errorf("%w (%s)", ErrVocabNotFound, strings.Join(notes, "; "))
}
