package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// agiqa train svr on the sample: a per-split repository entry that repo check accepts and the
// embedded server serves; a rerun keeps every split.
func TestTrainSVRWritesServableRepo(t *testing.T) {
	dir := t.TempDir()
	sp := filepath.Join(dir, "splits.json")
	if _, stderr, err := runCLI(t, "splits", "--dataset", "sample", "--sample-size", "40", "--n", "2", "-o", sp); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	repo := filepath.Join(dir, "repo")
	args := []string{"train", "svr", "--feature", "gmlf", "--dataset", "sample", "--sample-size", "40", "--splits", sp,
		"--repo", repo, "--cache", filepath.Join(dir, "cache"), "-q"}
	out, stderr, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "2 splits trained, 0 kept; 40 of 40 images have features (0 from the cache)") {
		t.Errorf("stdout %q", out)
	}
	out, _, err = runCLI(t, "repo", "check", repo)
	if err != nil || !strings.Contains(out, "ok   gmlf_sample (native, versions 1, 2") {
		t.Errorf("repo check: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "tables", "--repo", repo, "--sample-size", "40", "--splits", sp, "--cache", filepath.Join(dir, "p"), "--tables", "1")
	if err != nil || !strings.Contains(out, "| GMLF ") {
		t.Errorf("tables on the trained repo: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, args...)
	if err != nil || !strings.Contains(out, "0 splits trained, 2 kept; 40 of 40 images have features (40 from the cache)") {
		t.Errorf("rerun: %v %q", err, out)
	}
}

func TestTrainSVRBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train"}, "want 'agiqa train svr"},
		{[]string{"train", "svr", "--feature", "nope", "--dataset", "sample", "--splits", "x", "--repo", "r"}, `--feature "nope": unknown extractor (want one of brisque, ceiq, gmlf, higrade)`},
		{[]string{"train", "svr", "--feature", "gmlf", "--dataset", "sample", "--repo", "r"}, "--splits FILE is required"},
		{[]string{"train", "svr", "--feature", "gmlf", "--dataset", "sample", "--splits", "x", "--repo", "r", "--folds", "1"}, "--folds 1: want at least 2"},
	} {
		_, _, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}
