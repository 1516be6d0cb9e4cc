// Package firstfile finds a file a user may name in several places (a flag, an environment variable,
// a default path), the rule the tokenizers' vocabularies share.
package firstfile

import (
	"fmt"
	"os"
	"strings"
)

// Place is one place a file may be named: What says where ("--clip-vocab", "$AGIQA_CLIP_VOCAB"),
// Path is what it holds ("" when not set). Explicit places are ones the user set on purpose: when
// such a place names a missing file, a later place is not used in its stead (a typo must not be
// silently replaced by another file).
type Place struct {
	What, Path string
	Explicit   bool
}

// Find returns the first place's path that is a regular file. Otherwise the error wraps notFound and
// lists every place and what was found there.
func Find(notFound error, places ...Place) (string, error) {
	var notes []string
	var explicitMissing bool
	for _, p := range places {
		if p.Path == "" {
			notes = append(notes, p.What+": not set")
			continue
		}
		st, err := os.Stat(p.Path)
		switch {
		case err == nil && st.Mode().IsRegular():
			if !explicitMissing {
				return p.Path, nil
			}
			notes = append(notes, fmt.Sprintf("%s: %s exists", p.What, p.Path))
		case err == nil:
			notes = append(notes, fmt.Sprintf("%s: %s is not a regular file", p.What, p.Path))
			explicitMissing = explicitMissing || p.Explicit
		default:
			notes = append(notes, fmt.Sprintf("%s: %s does not exist", p.What, p.Path))
			explicitMissing = explicitMissing || p.Explicit
		}
	}
	return "", fmt.Errorf("%w (%s)", notFound, strings.Join(notes, "; "))
}
