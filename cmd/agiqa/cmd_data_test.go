package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// sharedDir returns ../shared beside the repository root once its label files (data/) are there, else
// skips the test (fails it under AGIQA_REQUIRE_SHARED=1).
func sharedDir(t *testing.T) string {
	t.Helper()
	return filepath.Dir(testenv.Shared(t, "data"))
}

// cliTranscript runs the CLI and renders stdout, stderr and the error as one
// text, with machine-specific folders replaced by placeholders.
func cliTranscript(t *testing.T, repl map[string]string, args ...string) []byte {
	t.Helper()
	stdout, stderr, err := runCLI(t, args...)
	var b strings.Builder
	b.WriteString("$ agiqa " + strings.Join(args, " ") + "\n--- stdout\n" + stdout + "--- stderr\n" + stderr)
	if err != nil {
		b.WriteString("--- error\n" + err.Error() + "\n")
	}
	s := b.String()
	for from, to := range repl {
		s = strings.ReplaceAll(s, from, to)
	}
	return []byte(s)
}

func TestDataSmall(t *testing.T) {
	checkGolden(t, "data_small_text", cliTranscript(t, nil, "data", "--dataset", "csv", "--labels", "testdata/datasets/small.csv"))
	checkGolden(t, "data_small_jsonl", cliTranscript(t, nil, "data", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--images", "imgs", "--format", "jsonl", "--limit", "3"))
	checkGolden(t, "data_aigc_csv", cliTranscript(t, nil, "data", "--dataset", "agiqa-1k", "--labels", "testdata/datasets/AIGC_all.csv"))
}

func TestDataErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"data", "--labels", "x.csv"}, "--dataset is required"},
		{[]string{"data", "--dataset", "agiqa-9k", "--labels", "x.csv"}, `--dataset "agiqa-9k": unknown dataset agiqa-9k (want one of agiqa-1k, agiqa-3k, csv, sample)`},
		{[]string{"data", "--dataset", "csv"}, `--dataset "csv": want NAME=DIR (names: agiqa-1k, agiqa-3k, csv) or sample`},
		{[]string{"data", "--dataset", "csv", "--labels", "testdata/datasets/badmos.csv"}, `testdata/datasets/badmos.csv:3: column "mos": value "NaN" is not a finite number`},
		{[]string{"data", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--format", "xml"}, `--format "xml"`},
		{[]string{"data", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--preflight"}, "--preflight needs the image folder"},
		{[]string{"data", "--dataset", "csv=testdata/datasets", "--dir", "testdata/datasets"}, "give the folder once"},
	} {
		_, _, err := runCLI(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// Preflight over generated images: two good, one corrupt, the rest missing.
func TestDataPreflight(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"cat_0.png": buf.Bytes(), "cat_1.png": buf.Bytes(), "dog_0.png": []byte("not a png")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repl := map[string]string{dir: "$IMAGES"}
	checkGolden(t, "data_preflight_fail", cliTranscript(t, repl, "data", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--images", dir, "--preflight", "--limit", "1"))

	good := filepath.Join(dir, "good.csv")
	if err := os.WriteFile(good, []byte("image,prompt,mos\ncat_0.png,a cat,1\ncat_1.png,a cat,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "data_preflight_ok", cliTranscript(t, repl, "data", "--dataset", "csv", "--labels", good, "--images", dir, "--preflight", "--limit", "1"))
}

func TestDataSample(t *testing.T) {
	dir := t.TempDir()
	checkGolden(t, "data_sample", cliTranscript(t, map[string]string{dir: "$DIR"},
		"data", "--dataset", "sample", "--images", dir, "--sample-size", "12", "--preflight", "--limit", "12"))
}

func TestDataReal(t *testing.T) {
	shared := sharedDir(t)
	repl := map[string]string{shared: "$SHARED"}
	data := filepath.Join(shared, "data")
	checkGolden(t, "data_real_1k_xlsx", cliTranscript(t, repl, "data", "--dataset", "agiqa-1k", "--dir", filepath.Join(data, "agiqa-1k"), "--limit", "4"))
	checkGolden(t, "data_real_1k_csv", cliTranscript(t, repl, "data", "--dataset", "agiqa-1k", "--labels", filepath.Join(data, "agiqa-1k", "AIGC_all.csv"), "--limit", "4"))
	checkGolden(t, "data_real_3k", cliTranscript(t, repl, "data", "--dataset", "agiqa-3k", "--labels", filepath.Join(data, "agiqa-3k", "data.csv"), "--limit", "4", "--format", "jsonl"))
}

// data, perf and tables read --dataset by one rule (datasetSource): the same
// value names the same files, or fails with the same error, in each.
func TestDatasetResolvedAlikeByEveryCommand(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("AGIQA_CACHE", cache)
	xdg := t.TempDir() // where data and perf once put the sample, whatever AGIQA_CACHE said
	t.Setenv("XDG_CACHE_HOME", xdg)
	home := t.TempDir()
	t.Setenv("HOME", home)
	ds := filepath.Join(home, "ds")
	if err := os.Mkdir(ds, 0o755); err != nil {
		t.Fatal(err)
	}
	labels, err := os.ReadFile(writeCSVDataset(t, ds, 12))
	if err != nil || os.WriteFile(filepath.Join(ds, "labels.csv"), labels, 0o644) != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	commands := []struct {
		name string
		args []string
	}{
		{"data", []string{"data", "--limit", "1", "--sample-size", "40"}},
		{"perf", []string{"perf", "--model", "sharpness_laplacian", "--samples", "40", "--window", "100ms", "--max-trials", "3",
			"--stability", "80", "--warmup", "2", "--format", "csv"}},
		{"tables", []string{"tables", "--cache", filepath.Join(t.TempDir(), "p"), "--sample-size", "40", "--splits", "2",
			"--models", "sharpness_laplacian", "--tables", "1"}},
	}
	for _, spec := range []string{"foo=/tmp", "agiqa-3k", "agiqa-3k=/nonexistent/AGIQA-3k", "csv=" + empty} {
		var msgs []string
		for _, c := range commands {
			_, _, err := runCLI(t, append(c.args, "--dataset", spec)...)
			if err == nil {
				t.Fatalf("%s --dataset %s: no error", c.name, spec)
			}
			msgs = append(msgs, err.Error())
		}
		if msgs[1] != msgs[0] || msgs[2] != msgs[0] {
			t.Errorf("--dataset %s: data, perf and tables disagree:\n  %s", spec, strings.Join(msgs, "\n  "))
		}
	}
	// The sample lives in $AGIQA_CACHE/sample for every command.
	for _, c := range commands {
		os.RemoveAll(filepath.Join(cache, "sample"))
		if _, stderr, err := runCLI(t, append(c.args, "--dataset", "sample")...); err != nil {
			t.Fatalf("%s --dataset sample: %v\n%s", c.name, err, stderr)
		}
		if _, err := os.Stat(filepath.Join(cache, "sample", "labels.csv")); err != nil {
			t.Errorf("%s --dataset sample: not generated under $AGIQA_CACHE: %v", c.name, err)
		}
		if _, err := os.Stat(filepath.Join(xdg, "agiqa", "sample")); err == nil {
			t.Errorf("%s --dataset sample: generated under $XDG_CACHE_HOME, not $AGIQA_CACHE", c.name)
		}
	}
	// NAME=DIR, with ~ expanded, is the same 12 images everywhere.
	for i, want := range []string{"csv: 12 images", "prepared 12 csv images", ": 12 images, 0 already cached"} {
		c := commands[i]
		_, stderr, err := runCLI(t, append(c.args, "--dataset", "csv=~/ds")...)
		if err != nil || !strings.Contains(stderr, want) {
			t.Errorf("%s --dataset csv=~/ds: err %v, stderr lacks %q:\n%s", c.name, err, want, stderr)
		}
	}
}
