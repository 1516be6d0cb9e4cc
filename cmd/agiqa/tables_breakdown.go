package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/breakdown"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/table"
)

// tablesExtra are the flags of `tables` beyond the paper's tables: breakdowns, cross-dataset
// scoring, and the hook `agiqa report` runs instead of printing.
type tablesExtra struct {
	by    string // comma-separated breakdown columns
	minN  int
	cross bool
	// report, when set, receives the finished run instead of the usual outputs (cmd_report.go).
	report func(ctx context.Context, io cmdIO, run *tablesRun) error
}

// tablesRun is everything one `tables` run measured, for the report.
type tablesRun struct {
	f         *tablesFlags
	which     []int
	datasets  []evalDataset
	results   []*runner.ModelResult
	nsplits   map[string]int
	unserved  map[string]string
	prov      *Provenance
	runErr    error   // the error that stopped the run (outputs are then written as .partial)
	allFailed []error // models none of whose images were scored
}

func addExtraFlags(fs *flag.FlagSet, f *tablesFlags) {
	fs.StringVar(&f.extra.by, "by", "", "also break the metrics down by `columns` (comma-separated): generator, style, adjective, prompt-length, or any descriptive column of the dataset (an unknown one is named with the columns there are)")
	fs.IntVar(&f.extra.minN, "by-min-n", breakdown.DefaultMinN, "breakdown groups with fewer than `N` images in a split are shown but marked too small to rank")
	fs.BoolVar(&f.extra.cross, "cross-dataset", false, "score per-split models trained on another dataset (agiqa.dataset) on every image of each other dataset given, with each version, and print the cross-dataset table (infers those images unless cached)")
}

// byColumns are the --by columns, each once.
func (e *tablesExtra) byColumns() []string {
	var out []string
	for _, c := range strings.Split(e.by, ",") {
		if c = strings.TrimSpace(c); c != "" && !contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkExtra refuses, before any inference, a --by column a dataset lacks.
func checkExtra(f *tablesFlags, datasets []evalDataset) error {
	if f.extra.report != nil && f.out == "" {
		return usagef("report: -o FILE is required (the HTML file to write)")
	}
	if f.extra.minN < 1 {
		return usagef("--by-min-n %d: want at least 1", f.extra.minN)
	}
	for _, col := range f.extra.byColumns() {
		for _, d := range datasets {
			if err := breakdown.Check(d.ds, col); err != nil {
				return usagef("%v", err)
			}
		}
	}
	return nil
}

func plainDatasets(ds []evalDataset) []*dataset.Dataset {
	out := make([]*dataset.Dataset, len(ds))
	for i, d := range ds {
		out[i] = d.ds
	}
	return out
}

// extraTables are the breakdown tables of every --by column and the cross-dataset table.
func extraTables(f *tablesFlags, datasets []evalDataset, results []*runner.ModelResult) ([]*table.Table, error) {
	var out []*table.Table
	for _, col := range f.extra.byColumns() {
		ts, err := breakdown.Tables(results, plainDatasets(datasets), col, breakdown.Options{MinN: f.extra.minN})
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	if f.extra.cross {
		if t := breakdown.CrossTable(results); t != nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// renderExtra writes the extra tables after the paper's, and in JSON the provenance document last.
func renderExtra(w io.Writer, f *tablesFlags, datasets []evalDataset, results []*runner.ModelResult, prov *Provenance) error {
	ts, err := extraTables(f, datasets, results)
	if err != nil {
		return err
	}
	sep := f.format != "json" && f.format != "csv"
	if f.extra.cross && sep && breakdown.CrossTable(results) == nil {
		fmt.Fprintln(w, "\n(cross-dataset: no per-split model trained on one of the given datasets was scored on another)")
	}
	for _, t := range ts {
		if sep {
			fmt.Fprintln(w)
		}
		if err := table.Render(w, t, f.format); err != nil {
			return err
		}
	}
	if f.format == "json" && prov != nil {
		return writeProvenanceJSON(w, prov)
	}
	return nil
}
