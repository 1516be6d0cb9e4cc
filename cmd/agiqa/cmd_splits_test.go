package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSplitsSmall(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "splits.json")
	repl := map[string]string{dir: "$TMP"}
	checkGolden(t, "splits_small", cliTranscript(t, repl, "splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--n", "3", "--seed", "7", "-o", out))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "splits_small_json", b)
	checkGolden(t, "splits_small_check", cliTranscript(t, repl, "splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--check", out))
	// Same seed, same bytes; the JSON on stdout equals the file.
	stdout, _, err := runCLI(t, "splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--n", "3", "--seed", "7", "-o", "-")
	if err != nil || stdout != string(b) {
		t.Errorf("-o - output differs from the file (err %v)", err)
	}
	checkGolden(t, "splits_small_holdout", cliTranscript(t, nil, "splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--n", "2", "--protocol", "holdout", "-o", "-"))
	// A file drawn for another dataset is refused.
	checkGolden(t, "splits_check_mismatch", cliTranscript(t, repl, "splits", "--dataset", "agiqa-1k", "--labels", "testdata/datasets/AIGC_all.csv", "--check", out))
}

func TestSplitsErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv"}, "exactly one of -o FILE"},
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "-o", "-", "--protocol", "best"}, `unknown split protocol "best"`},
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "-o", "-", "--n", "0"}, "at least 1"},
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--check", "testdata/datasets/nope.json"}, "nope.json"},
		// Flag mistakes name the flag; an output path that cannot be written
		// fails before the dataset is read (it used to leave FILE.tmp behind).
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "-o", "-", "--n", "-3"}, "--n -3: want at least 1"},
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "-o", "-", "--protocol", "best"}, "--protocol: "},
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "-o", "/nonexistent/s.json"}, "-o /nonexistent/s.json: folder /nonexistent does not exist"},
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "-o", "testdata"}, "-o testdata: is a folder"},
		{[]string{"splits", "--dataset", "sample", "-o", "-", "--sample-size", "-1"}, "--sample-size -1: want 1 to 480"},
		{[]string{"data", "--dataset", "sample", "--sample-size", "1000"}, "--sample-size 1000: want 1 to 480"},
		{[]string{"data", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--workers", "-2"}, "--workers -2"},
		{[]string{"data", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "--images", "/nonexistent", "--preflight"}, "--preflight: image folder /nonexistent does not exist"},
	} {
		_, _, err := runCLI(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

func TestSplitsReal(t *testing.T) {
	shared := sharedDir(t)
	data := filepath.Join(shared, "data")
	tmp := t.TempDir()
	repl := map[string]string{shared: "$SHARED", tmp: "$TMP"}
	checkGolden(t, "splits_real_3k", cliTranscript(t, repl, "splits", "--dataset", "agiqa-3k", "--dir", filepath.Join(data, "agiqa-3k"), "--n", "10", "--seed", "42", "-o", filepath.Join(tmp, "s3k.json")))
	checkGolden(t, "splits_real_1k_holdout", cliTranscript(t, repl, "splits", "--dataset", "agiqa-1k", "--dir", filepath.Join(data, "agiqa-1k"), "--n", "10", "--seed", "42", "--protocol", "holdout", "-o", filepath.Join(tmp, "s1k.json")))
}
