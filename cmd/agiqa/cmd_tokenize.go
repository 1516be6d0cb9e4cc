package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/clip"
)

func init() {
	register(command{name: "tokenize", summary: "print the CLIP token ids (TOKENS input) of prompts", run: runTokenize})
}

func runTokenize(_ context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "tokenize", `
Usage: agiqa tokenize [--clip-vocab FILE] [--prefix TEXT] [--pad] TEXT...

Prints, one line per TEXT, the CLIP BPE ids that prompt-aware models receive as TOKENS:
the start token 49406, the prompt's ids, the end token 49407. The padding zeros up to
77 ids are left out unless --pad is given. Prompts longer than 75 ids are truncated
with the end token kept last, as clip.tokenize(truncate=True) does.

The vocabulary is --clip-vocab, else $AGIQA_CLIP_VOCAB, else the cache
('agiqa fetch clip-vocab' puts it there). Put -- before a TEXT that starts
with a dash.

Example:
  agiqa tokenize "a photo of a cat"
  # 49406 320 1125 539 320 2368 49407`)
	vocab := fs.String("clip-vocab", "", "CLIP BPE vocabulary `file` (default $AGIQA_CLIP_VOCAB or the cache)")
	prefix := fs.String("prefix", "", "`text` put before every prompt (a model's agiqa.prompt_prefix, e.g. \"A photo depicts \")")
	pad := fs.Bool("pad", false, "print all 77 ids, padding zeros included")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("tokenize: no TEXT given")
	}
	path, err := clip.ResolveVocab(*vocab)
	if err != nil {
		return fmt.Errorf("tokenize: %w (run 'agiqa fetch clip-vocab')", err)
	}
	tok, err := clip.Load(path)
	if err != nil {
		return fmt.Errorf("tokenize: %w", err)
	}
	var b strings.Builder
	for _, text := range fs.Args() {
		ids := tok.Encode(*prefix + text)
		if !*pad {
			n := len(ids)
			for n > 0 && ids[n-1] == 0 {
				n--
			}
			ids = ids[:n]
		}
		for i, id := range ids {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatInt(id, 10))
		}
		b.WriteByte('\n')
	}
	_, err = fmt.Fprint(io.stdout, b.String())
	return err
}
