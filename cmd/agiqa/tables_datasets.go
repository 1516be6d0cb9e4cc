package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/splits"
)

type evalDataset struct {
	ds     *dataset.Dataset
	splits *splits.File
}

// loadDatasets reads (or generates) each dataset, runs the preflight, and draws
// or reads its splits.
func loadDatasets(ctx context.Context, io cmdIO, f *tablesFlags) ([]evalDataset, error) {
	specs := []string(f.datasets)
	if len(specs) == 0 {
		specs = []string{dataset.Sample}
	}
	labelFiles, err := labelOverrides(f.labels, specs)
	if err != nil {
		return nil, err
	}
	var out []evalDataset
	for _, spec := range specs {
		src, err := parseDatasetSpec(spec)
		if err != nil {
			return nil, err
		}
		src.labels = labelFiles[src.name]
		ds, err := src.resolve(ctx, f.sampleSize, true)
		if err != nil {
			return nil, err
		}
		for _, w := range ds.Warnings {
			fmt.Fprintf(io.stderr, "warning: %s\n", w)
		}
		rep := dataset.Preflight(ctx, ds, runtime.GOMAXPROCS(0))
		if rep.Err != nil {
			return nil, rep.Err
		}
		if rep.Bad > 0 {
			fmt.Fprintf(io.stderr, "preflight %s: %d of %d images bad:\n", ds.Name, rep.Bad, rep.Checked)
			for _, fl := range rep.Failures {
				fmt.Fprintf(io.stderr, "  %s\n", fl)
			}
			if !f.skipBad {
				return nil, fmt.Errorf("dataset %s: %d images missing or undecodable; fix them or pass --skip-bad-images", ds.Name, rep.Bad)
			}
			ds = dropBad(ds, rep)
		}
		sp, err := datasetSplits(ds, f)
		if err != nil {
			return nil, err
		}
		out = append(out, evalDataset{ds: ds, splits: sp})
	}
	return out, nil
}

// labelOverrides parses --labels NAME=FILE; each NAME must be a dataset given
// with --dataset (a label file for a dataset not evaluated is a mistake).
func labelOverrides(flags, specs []string) (map[string]string, error) {
	given := map[string]bool{}
	for _, spec := range specs {
		name, _, _ := strings.Cut(spec, "=")
		given[name] = true
	}
	out := map[string]string{}
	for _, l := range flags {
		name, file, ok := strings.Cut(l, "=")
		if !ok || name == "" || file == "" {
			return nil, usagef("--labels %q: want NAME=FILE", l)
		}
		if !given[name] || name == dataset.Sample {
			return nil, usagef("--labels %q: no --dataset %s=DIR to apply it to", l, name)
		}
		if _, dup := out[name]; dup {
			return nil, usagef("--labels: two label files for %s", name)
		}
		out[name] = expandHome(file)
	}
	return out, nil
}

func dropBad(ds *dataset.Dataset, rep dataset.PreflightReport) *dataset.Dataset {
	bad := map[string]bool{}
	for _, img := range rep.BadImages {
		bad[img] = true
	}
	keep := *ds
	keep.Items = nil
	for _, it := range ds.Items {
		if !bad[it.Image] {
			keep.Items = append(keep.Items, it)
		}
	}
	return &keep
}

// datasetSplits draws N splits, or reads a splits file: --splits FILE for a
// single dataset, --splits NAME=FILE[,NAME=FILE] when several are evaluated.
func datasetSplits(ds *dataset.Dataset, f *tablesFlags) (*splits.File, error) {
	if n, err := strconv.Atoi(f.splitsArg); err == nil {
		if n < 1 {
			return nil, usagef("--splits: %d splits; want at least 1", n)
		}
		return splits.Make(ds, f.protocol, n, f.seed)
	}
	path := f.splitsArg
	if strings.Contains(path, "=") {
		path = ""
		for _, kv := range strings.Split(f.splitsArg, ",") {
			name, file, _ := strings.Cut(kv, "=")
			if name == ds.Name {
				path = file
			}
		}
		if path == "" {
			return nil, usagef("--splits %q names no splits file for dataset %s", f.splitsArg, ds.Name)
		}
	}
	sp, err := splits.Read(path)
	if err != nil {
		return nil, fmt.Errorf("--splits %s: %w", f.splitsArg, err)
	}
	if err := sp.Check(ds); err != nil {
		return nil, err
	}
	return sp, nil
}

func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[2:])
		}
	}
	return p
}
