package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/sample"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/bench/table"
	"github.com/agiqa-bench/agiqa/internal/regfile"
)

func init() {
	register(command{name: "eval", summary: "score predictions made elsewhere against a dataset's MOS", run: runEval})
}

func runEval(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "eval", `
Usage: agiqa eval --dataset NAME --labels FILE --predictions FILE.csv [--splits splits.json] [flags]
       agiqa eval --dataset NAME=DIR --predictions FILE.csv [flags]

Scores predictions made by other code, so they enter the same tables: a CSV
with header image,score (or image,quality for quality only) or
image,quality,alignment. With --splits, each split's test images are scored and
the metrics averaged over splits (the paper's protocol); without, all images
are scored once.

Example:
  agiqa eval --dataset agiqa-3k --labels data.csv --predictions mymodel.csv --splits splits.json --model mymodel`)
	name := fs.String("dataset", "", "dataset `name` ("+strings.Join(dataset.Names(), ", ")+"), or NAME=DIR to find the label file in DIR")
	labels := fs.String("labels", "", "label `file` of the dataset")
	predPath := fs.String("predictions", "", "predictions CSV `file`")
	splitsPath := fs.String("splits", "", "splits `file` from 'agiqa splits' (default: score all images once)")
	model := fs.String("model", "predictions", "row `name` (a catalogue key such as ipiqa puts it beside that paper row)")
	lowerBetter := fs.Bool("lower-is-better", false, "the scores are lower-is-better (NIQE-like): flip the sign")
	fitName := fs.String("plcc-fit", "none", "logistic `fit` before PLCC: none, logistic4, logistic5")
	format := fs.String("format", "text", "output `format`: "+strings.Join(table.Formats, ", "))
	paper := fs.Bool("paper", false, "add the paper's row and the difference")
	limits := addLimitFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *name == "" || *predPath == "" {
		return usagef("--dataset and --predictions are required")
	}
	src, err := parseDatasetSpec(*name)
	if err != nil {
		return err
	}
	src.labels = *labels
	if err := src.check(); err != nil {
		return err
	}
	if !slices.Contains(table.Formats, *format) {
		return usagef("--format: unknown format %q (want one of %s)", *format, strings.Join(table.Formats, ", "))
	}
	fit, err := metrics.ParseFitKind(*fitName)
	if err != nil {
		return usagef("--plcc-fit: %v", err)
	}
	if err := limits.apply(); err != nil {
		return err
	}
	ds, err := src.resolve(ctx, sample.DefaultImages, false)
	if err != nil {
		return err
	}
	for _, w := range ds.Warnings {
		fmt.Fprintf(io.stderr, "warning: %s\n", w)
	}
	preds, err := readPredictions(*predPath, ds)
	if err != nil {
		return err
	}
	var sp *splits.File
	if *splitsPath != "" {
		if sp, err = splits.Read(*splitsPath); err != nil {
			return fmt.Errorf("--splits %s: %w", *splitsPath, err)
		}
		if err := sp.Check(ds); err != nil {
			return err
		}
	} else {
		all := make([]string, len(ds.Items))
		for i, it := range ds.Items {
			all[i] = it.Image
		}
		sp = &splits.File{Dataset: ds.Name, N: 1, Splits: []splits.Split{{Test: all}}}
	}
	// None at all is a mistake (names written another way, the wrong file),
	// not an empty table.
	if n, total, first := missingPredictions(sp, preds); n == total {
		return fmt.Errorf("%s: no prediction for any of the %d scored images (file names as in %s?)", *predPath, total, ds.LabelFile)
	} else if n > 0 {
		fmt.Fprintf(io.stderr, "warning: %s has no prediction for %d of %d scored images (first: %s); they are left out of the scores\n",
			*predPath, n, total, first)
	}
	res := scorePredictions(*model, ds, sp, preds, metrics.Options{HigherIsBetter: !*lowerBetter, Fit: fit})
	ms := runner.Measurements([]*runner.ModelResult{res})
	topt := table.Options{Paper: *paper, Splits: map[string]int{ds.Name: len(sp.Splits)}}
	if err := table.Render(io.stdout, table.Table1(ms, topt), *format); err != nil {
		return err
	}
	if _, ok := res.Summary[table.TargetAlignment]; ok {
		if *format != "json" && *format != "csv" {
			fmt.Fprintln(io.stdout)
		}
		return table.Render(io.stdout, table.Table2(ms, topt), *format)
	}
	return nil
}

// readPredictions reads image,score | image,quality[,alignment], refusing
// unknown images, duplicates and non-numbers with file, line and value.
func readPredictions(path string, ds *dataset.Dataset) (map[string]runner.Prediction, error) {
	f, _, err := regfile.Open(path) // a regular file only: a FIFO would block the read
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file, want a header line (image,score or image,quality[,alignment])", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	// Spreadsheet exports start with a UTF-8 byte order mark.
	header[0] = strings.TrimPrefix(header[0], "\ufeff")
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[h]; dup && h != "" {
			return nil, fmt.Errorf("%s:1: column %q named twice (header %q)", path, h, header)
		}
		col[h] = i
	}
	imgCol, ok := col["image"]
	if !ok {
		return nil, fmt.Errorf("%s:1: no image column (header %q; want image,score or image,quality[,alignment])", path, header)
	}
	qCol, hasQ := col["quality"]
	if sCol, hasS := col["score"]; hasS && hasQ {
		return nil, fmt.Errorf("%s:1: both quality and score columns (header %q); give one, they mean the same", path, header)
	} else if hasS {
		qCol, hasQ = sCol, true
	}
	aCol, hasA := col["alignment"]
	if !hasQ && !hasA {
		return nil, fmt.Errorf("%s:1: no score, quality or alignment column (header %q)", path, header)
	}
	known := map[string]bool{}
	for _, it := range ds.Items {
		known[it.Image] = true
	}
	out := map[string]runner.Prediction{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		// A wider row is a shifted or unquoted one: its values would be
		// read from the wrong columns.
		if len(rec) > len(header) {
			return nil, fmt.Errorf("%s:%d: %d fields, the header has %d", path, line, len(rec), len(header))
		}
		num := func(c int, what string) (*float64, error) {
			if c >= len(rec) {
				return nil, fmt.Errorf("%s:%d: missing %s value", path, line, what)
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[c]), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s:%d: %s %q is not a finite number", path, line, what, rec[c])
			}
			return &v, nil
		}
		img := strings.TrimSpace(rec[imgCol])
		if !known[img] {
			return nil, fmt.Errorf("%s:%d: image %q is not in %s", path, line, img, ds.LabelFile)
		}
		if _, dup := out[img]; dup {
			return nil, fmt.Errorf("%s:%d: image %q listed twice", path, line, img)
		}
		p := runner.Prediction{Image: img}
		if hasQ {
			if p.Quality, err = num(qCol, header[qCol]); err != nil {
				return nil, err
			}
		}
		if hasA {
			if p.Alignment, err = num(aCol, "alignment"); err != nil {
				return nil, err
			}
		}
		out[img] = p
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no prediction rows after the header", path)
	}
	return out, nil
}

// missingPredictions counts the distinct test images of sp that have no row
// in preds: a partial predictions file is scored on what it has, which the
// user should hear about.
func missingPredictions(sp *splits.File, preds map[string]runner.Prediction) (n, total int, first string) {
	seen := map[string]bool{}
	for _, s := range sp.Splits {
		for _, img := range s.Test {
			if seen[img] {
				continue
			}
			seen[img] = true
			if _, ok := preds[img]; !ok {
				if n == 0 {
					first = img
				}
				n++
			}
		}
	}
	return n, len(seen), first
}

func scorePredictions(model string, ds *dataset.Dataset, sp *splits.File, preds map[string]runner.Prediction, opt metrics.Options) *runner.ModelResult {
	res := &runner.ModelResult{Model: model, Catalog: model, Dataset: ds.Name, Summary: map[string]metrics.SplitSummary{}}
	byName := map[string]dataset.Item{}
	for _, it := range ds.Items {
		byName[it.Image] = it
	}
	for _, t := range []struct{ name, output string }{{table.TargetQuality, runner.OutputQuality}, {table.TargetAlignment, runner.OutputAlignment}} {
		var per []metrics.Scores
		any := false
		for k, s := range sp.Splits {
			var pred, mos []float64
			missing := 0
			for _, img := range s.Test {
				p, ok := preds[img]
				v := p.Value(t.output)
				if !ok || math.IsNaN(v) {
					missing++
					continue
				}
				y := byName[img].MOS
				if t.name == table.TargetAlignment {
					y = byName[img].MOSAlign
				}
				if math.IsNaN(y) {
					continue
				}
				pred, mos = append(pred, v), append(mos, y)
			}
			if len(pred) > 0 {
				any = true
			}
			sc := metrics.Score(pred, mos, opt)
			per = append(per, sc)
			res.Splits = append(res.Splits, runner.SplitScores{Split: k, Target: t.name, Scores: sc, Missing: missing})
		}
		if any {
			res.Summary[t.name] = metrics.SummarizeSplits(per)
		}
	}
	return res
}
