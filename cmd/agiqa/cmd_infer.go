package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/runner"
)

func init() {
	register(command{name: "infer", summary: "score one image (and prompt) with a served model", run: runInfer})
}

func runInfer(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "infer", `
Usage: agiqa infer --server ADDR --model NAME --image FILE [--prompt TEXT] [--version V] [--format text|json]

Decodes the image, resizes it to the model's input size the way the model's
agiqa.preprocess parameter says, tokenizes the prompt for prompt-aware models,
and prints the model's outputs by name.

Example:
  agiqa infer --server 127.0.0.1:8001 --model sharpness_laplacian --image photo.jpg`)
	addr := fs.String("server", "", "Triton gRPC `address`")
	model := fs.String("model", "", "model `name`")
	version := fs.String("version", "", "model `version` (default: the server's choice)")
	image := fs.String("image", "", "image `file` (JPEG or PNG)")
	prompt := fs.String("prompt", "", "the image's `prompt` (prompt-aware models)")
	vocab := fs.String("clip-vocab", "", "CLIP BPE vocabulary `file` (default $AGIQA_CLIP_VOCAB or the cache)")
	bertVocab := fs.String("bert-vocab", "", bertVocabUsage)
	format := fs.String("format", "text", "output `format`: text or json")
	limits := addLimitFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	switch {
	case *addr == "" || *model == "" || *image == "":
		return usagef("--server, --model and --image are required")
	case *format != "text" && *format != "json":
		return usagef("--format: %q is not text or json", *format)
	}
	if err := checkServers([]string{*addr}); err != nil {
		return err
	}
	if err := limits.apply(); err != nil {
		return err
	}
	// A wrong image path, a FIFO or a folder named like an image, or one over the pixel limit is
	// reported before any server is contacted, and without blocking.
	if _, err := preprocess.ReadFile(ctx, *image); err != nil {
		return fmt.Errorf("--image %s: %w", *image, err)
	}
	c, err := dialServer(ctx, *addr)
	if err != nil {
		return err
	}
	defer c.Close()
	m, err := runner.Describe(ctx, c, *model)
	if err != nil {
		return err
	}
	if m.Prompt && *prompt == "" {
		return usagef("model %s is prompt-aware: give --prompt", m.Name)
	}
	tok, err := loadTokenizers([]*runner.Model{m}, *vocab, *bertVocab)
	if err != nil {
		return err
	}
	noteJPEGDecoder(io.stderr)
	p, err := runner.InferOne(ctx, c, m, *version, *image, *prompt, tok)
	if err != nil {
		return err
	}
	if err := checkFinite(m.Name, *image, p); err != nil {
		return err
	}
	if *format == "json" {
		out := map[string]any{"model": m.Name, "image": *image}
		if p.Quality != nil {
			out[runner.OutputQuality] = *p.Quality
		}
		if p.Alignment != nil {
			out[runner.OutputAlignment] = *p.Alignment
		}
		enc := json.NewEncoder(io.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if p.Quality != nil {
		fmt.Fprintf(io.stdout, "%s\t%.6g\n", runner.OutputQuality, *p.Quality)
	}
	if p.Alignment != nil {
		fmt.Fprintf(io.stdout, "%s\t%.6g\n", runner.OutputAlignment, *p.Alignment)
	}
	return nil
}

// checkFinite refuses a NaN or infinite output: it is no score, and a script reading the exit
// status must not take it for one.
func checkFinite(model, image string, p runner.Prediction) error {
	for _, o := range []struct {
		name string
		v    *float64
	}{{runner.OutputQuality, p.Quality}, {runner.OutputAlignment, p.Alignment}} {
		if o.v != nil && (math.IsNaN(*o.v) || math.IsInf(*o.v, 0)) {
			return fmt.Errorf("model %s output %s is %v for image %s", model, o.name, *o.v, image)
		}
	}
	return nil
}
