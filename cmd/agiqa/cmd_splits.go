package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/splits"
)

func init() {
	register(command{name: "splits", summary: "draw the train/test splits of a dataset into a JSON file", run: runSplits})
}

func runSplits(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "splits", `
Usage: agiqa splits --dataset NAME (--labels FILE | --dir DIR) -o FILE [flags]
       agiqa splits --dataset NAME (--labels FILE | --dir DIR) --check FILE

Draws N random splits with IP-IQA's protocol and writes them to one JSON
file that the Python training and 'agiqa tables --splits' both read.
AGIQA-3k (and the sample dataset): the prompt groups are shuffled, the first
80% train, the rest test. AGIQA-1k and CSV datasets: each prompt group goes
to train with probability 0.8. No prompt group is ever on two sides.
Protocol paper: train/test (IP-IQA picks its best epoch on test); holdout:
10% of each split's train groups become a validation set.

--rng pcg (the default) draws with Go's PCG generator: the same seed gives
the same file here, but not the ids of the official code. --rng official
draws the ids IP-IQA's official scripts draw after seed_everything(SEED),
split after split: numpy's np.random.permutation(300) on AGIQA-3k, one
CPython random.random() < 0.8 per new (object, action) group in the row
order of AIGC_MOS_Zscore.xlsx on AGIQA-1k (other datasets, AIGC_all.csv and
seeds above 4294967295 are refused). The official code never redraws, so a
draw with an empty side is an error; holdout validation is carved from the
official train with a separate PCG stream, keeping the official test.

--check verifies an existing file against the dataset instead (an rng
official file must hold the official draws for its seed). The summary goes
to stdout (stderr with -o -).

Example:
  agiqa splits --dataset agiqa-3k --labels AGIQA-3K/data.csv --n 10 --seed 42 -o splits-3k.json
  agiqa splits --dataset agiqa-1k --labels AIGC_MOS_Zscore.xlsx --rng official -o splits-1k.json`)
	d := addDatasetFlags(fs)
	n := fs.Int("n", 10, "number of splits")
	seed := fs.Uint64("seed", 42, "random `seed`")
	protocol := fs.String("protocol", splits.Paper, "split `protocol`: paper (train/test) or holdout (train/val/test)")
	rng := fs.String("rng", splits.PCG, "random `generator`: pcg, or official (the official IP-IQA code's numpy/CPython draws)")
	out := fs.String("o", "", "output `file` (- for stdout)")
	check := fs.String("check", "", "check an existing splits `file` against the dataset instead of drawing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("splits: unexpected argument %q", fs.Arg(0))
	}
	if (*out == "") == (*check == "") {
		return usagef("give exactly one of -o FILE (draw splits) or --check FILE")
	}
	switch {
	case *n < 1:
		return usagef("--n %d: want at least 1 split", *n)
	case *protocol != splits.Paper && *protocol != splits.Holdout:
		return usagef("--protocol: unknown split protocol %q (want %s or %s)", *protocol, splits.Paper, splits.Holdout)
	case *rng != splits.PCG && *rng != splits.Official:
		return usagef("--rng: unknown generator %q (want %s or %s)", *rng, splits.PCG, splits.Official)
	case *rng == splits.Official && *seed > splits.MaxOfficialSeed:
		return usagef("--seed %d: --rng official seeds numpy's np.random.seed, which takes 0..%d", *seed, uint64(splits.MaxOfficialSeed))
	}
	if err := checkOutputFile("-o", *out); err != nil {
		return err
	}
	ds, err := d.open(ctx)
	if err != nil {
		return err
	}
	for _, w := range ds.Warnings {
		fmt.Fprintf(io.stderr, "warning: %s\n", w)
	}
	if *check != "" {
		f, err := splits.Read(*check)
		if err != nil {
			return err
		}
		if err := f.Check(ds); err != nil {
			return err
		}
		writeSplitsSummary(io.stdout, ds, f)
		fmt.Fprintf(io.stdout, "%s matches %s\n", *check, ds.LabelFile)
		return nil
	}
	f, err := splits.MakeWith(ds, splits.Options{Protocol: *protocol, N: *n, Seed: *seed, RNG: *rng})
	if err != nil {
		return err
	}
	summary := io.stdout
	if *out == "-" {
		b, err := f.Marshal()
		if err != nil {
			return err
		}
		if _, err := io.stdout.Write(b); err != nil {
			return err
		}
		summary = io.stderr
	} else {
		if err := f.Write(*out); err != nil { // a pipe or /dev/stdout is written into, not replaced
			return fmt.Errorf("-o %s: %w", *out, err)
		}
	}
	writeSplitsSummary(summary, ds, f)
	if *out != "-" {
		fmt.Fprintf(summary, "wrote %s\n", *out)
	}
	return nil
}

func writeSplitsSummary(w io.Writer, ds *dataset.Dataset, f *splits.File) {
	rng := f.RNG
	if rng == "" {
		rng = splits.PCG
	}
	fmt.Fprintf(w, "%s: %d images in %d prompt groups; protocol %s, rng %s, seed %d, %d splits\n",
		ds.Name, len(ds.Items), len(ds.Groups()), f.Protocol, rng, f.Seed, f.N)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "split\ttrain\tval\ttest\ttrain groups\tval groups\ttest groups\t")
	for _, s := range f.Summary(ds) {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", s.Index, s.Train, s.Val, s.Test, s.TrainGroups, s.ValGroups, s.TestGroups)
	}
	tw.Flush()
}
