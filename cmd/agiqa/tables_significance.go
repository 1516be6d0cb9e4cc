package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/signif"
	"github.com/agiqa-bench/agiqa/bench/table"
)

// significanceFlags are tables' --significance, --alpha, --bootstrap and --bootstrap-seed (--seed
// already seeds the splits, and the bootstrap must be reseedable without redrawing them).
type significanceFlags struct {
	on  bool
	opt signif.Options
}

// addSignificanceFlags registers the flags; bad values are usage errors at parse time, before any
// inference runs.
func addSignificanceFlags(fs *flag.FlagSet) *significanceFlags {
	s := &significanceFlags{opt: signif.DefaultOptions()}
	fs.BoolVar(&s.on, "significance", false, "after the tables, print per dataset and target a matrix per metric saying which rows differ significantly (paired t-test over splits; see README), and every pair's figures")
	fs.Func("alpha", "significance `level` of --significance's matrices (default 0.05)", func(v string) error {
		a, err := strconv.ParseFloat(v, 64)
		if err != nil || !(a > 0 && a < 1) {
			return fmt.Errorf("%q: want a level between 0 and 1, such as 0.05", v)
		}
		s.opt.Alpha = a
		return nil
	})
	fs.Func("bootstrap", "paired-bootstrap `replicates` per split for --significance, 0 for none (default 1000)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%q: want a number of replicates, 0 or more", v)
		}
		s.opt.Bootstrap = n
		return nil
	})
	fs.Uint64Var(&s.opt.Seed, "bootstrap-seed", s.opt.Seed, "`seed` of --significance's bootstrap resamples")
	return s
}

// renderSignificance writes the significance tables of results after the others (nothing without
// --significance). sep: a blank line goes before each table (text, Markdown, LaTeX).
func renderSignificance(w io.Writer, s *significanceFlags, format string, results []*runner.ModelResult, sep bool) error {
	if s == nil || !s.on {
		return nil
	}
	rep, err := signif.Compute(results, s.opt)
	if err != nil {
		return fmt.Errorf("--significance: %w", err)
	}
	tabs := signif.Tables(rep)
	if len(tabs) == 0 {
		return errors.New("--significance: no dataset and target has two measured rows to compare")
	}
	for _, t := range tabs {
		if sep {
			fmt.Fprintln(w)
		}
		if err := table.Render(w, t, format); err != nil {
			return err
		}
	}
	return nil
}
