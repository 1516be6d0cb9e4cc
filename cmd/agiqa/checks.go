package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/sample"
	"github.com/agiqa-bench/agiqa/client"
)

// nonSample is the dataset names that need a folder (NAME=DIR).
func nonSample(names []string) []string {
	var out []string
	for _, n := range names {
		if n != dataset.Sample {
			out = append(out, n)
		}
	}
	return out
}

var sampleSizeUsage = fmt.Sprintf("images in the built-in sample dataset (1 to %d)", sample.MaxImages)

// checkSampleSize refuses sizes the sample generator would silently replace
// (0 or less means its default) or reject only later.
func checkSampleSize(n int) error {
	if n < 1 || n > sample.MaxImages {
		return usagef("--sample-size %d: want 1 to %d", n, sample.MaxImages)
	}
	return nil
}

// checkOutputFile makes sure path ("" = not asked for) can be created: its
// folder exists and it is not itself a folder. Commands call it before long
// work, so a typo in an output path does not cost the run.
func checkOutputFile(flag, path string) error {
	if path == "" || path == "-" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("%s %s: is a folder, want a file name", flag, path)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return usagef("%s %s: folder %s does not exist", flag, path, dir)
	case !st.IsDir():
		return usagef("%s %s: %s is not a folder", flag, path, dir)
	}
	return nil
}

// checkOutputDir makes sure dir ("" = not asked for) is a folder or can be
// made one: neither it nor the nearest of its parents that exists may be a
// file (MkdirAll would fail there, after the long work).
func checkOutputDir(flag, dir string) error {
	if dir == "" {
		return nil
	}
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		switch {
		case err == nil && st.IsDir():
			return nil
		case err == nil && p == filepath.Clean(dir):
			return usagef("%s %s: is a file, want a folder", flag, dir)
		case err == nil:
			return usagef("%s %s: %s is a file, not a folder", flag, dir, p)
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

// checkRepoDir makes sure --repo ("" = the built-in models) is a folder, so
// that a typo is reported against the flag, before any dataset is read.
func checkRepoDir(dir string) error {
	if dir == "" {
		return nil
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--repo %s: no such folder", dir)
	case err != nil:
		return fmt.Errorf("--repo %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("--repo %s: is a file, want a model repository folder", dir)
	}
	return nil
}

// checkDatasetName refuses a dataset name no loader knows; value is the
// --dataset flag as given (NAME or NAME=DIR).
func checkDatasetName(value, name string) error {
	if !slices.Contains(dataset.Names(), name) {
		return usagef("--dataset %q: unknown dataset %s (want one of %s)", value, name, strings.Join(dataset.Names(), ", "))
	}
	return nil
}

// checkServers refuses --server values that cannot be addresses (each may be
// a comma-separated list), before any dataset is read or connection made.
func checkServers(values []string) error {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t == "" {
				return usagef("--server %q: empty address in the list", v)
			}
			if err := client.CheckTarget(t); err != nil {
				return usagef("--server: %v", err)
			}
		}
	}
	return nil
}
