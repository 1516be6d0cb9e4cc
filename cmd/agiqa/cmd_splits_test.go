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
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "-o", "-", "--rng", "numpy"}, `--rng: unknown generator "numpy" (want pcg or official)`},
		{[]string{"splits", "--dataset", "agiqa-3k", "--labels", "x.csv", "-o", "-", "--rng", "official", "--seed", "4294967296"}, "--seed 4294967296: --rng official seeds numpy's np.random.seed, which takes 0..4294967295"},
		{[]string{"splits", "--dataset", "csv", "--labels", "testdata/datasets/small.csv", "-o", "-", "--rng", "official"}, "split only agiqa-1k and agiqa-3k; use rng pcg"},
		{[]string{"splits", "--dataset", "agiqa-1k", "--labels", "testdata/datasets/AIGC_all.csv", "-o", "-", "--rng", "official"}, "row order of AIGC_MOS_Zscore.xlsx"},
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

func TestSplitsHelp(t *testing.T) {
	_, stderr, err := runCLI(t, "splits", "--help")
	if err != nil {
		t.Fatal(err)
	}
	// The text up to the flag list: the shared dataset flags are another
	// command's to word; --rng's own line is checked here.
	text, _, ok := strings.Cut(stderr, "\nFlags:\n")
	if !ok || !strings.Contains(stderr, "  -rng generator\n    \trandom generator: pcg, or official") {
		t.Errorf("splits --help lacks its flag list or --rng:\n%s", stderr)
	}
	checkGolden(t, "splits_help", []byte(text+"\n"))
}

// --rng official writes the official draws (bench/splits checks the ids
// against numpy and CPython), says so in the file and the summary, and
// --check redraws them.
func TestSplitsOfficial(t *testing.T) {
	shared := sharedDir(t)
	data := filepath.Join(shared, "data")
	tmp := t.TempDir()
	repl := map[string]string{shared: "$SHARED", tmp: "$TMP"}
	out3k := filepath.Join(tmp, "o3k.json")
	checkGolden(t, "splits_real_3k_official", cliTranscript(t, repl, "splits", "--dataset", "agiqa-3k", "--dir", filepath.Join(data, "agiqa-3k"), "--rng", "official", "-o", out3k))
	checkGolden(t, "splits_real_1k_official_holdout", cliTranscript(t, repl, "splits", "--dataset", "agiqa-1k", "--dir", filepath.Join(data, "agiqa-1k"),
		"--rng", "official", "--protocol", "holdout", "-o", filepath.Join(tmp, "o1k.json")))
	b, err := os.ReadFile(out3k)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n  \"rng\": \"official\",\n  \"seed\": 42,\n") {
		t.Errorf("the file does not record rng official and seed 42:\n%.300s", b)
	}
	if _, _, err := runCLI(t, "splits", "--dataset", "agiqa-3k", "--dir", filepath.Join(data, "agiqa-3k"), "--check", out3k); err != nil {
		t.Errorf("--check of an official file: %v", err)
	}
	// The same ids relabelled with another seed are refused.
	bad := filepath.Join(tmp, "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(b), `"seed": 42,`, `"seed": 41,`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "splits", "--dataset", "agiqa-3k", "--dir", filepath.Join(data, "agiqa-3k"), "--check", bad)
	if err == nil || !strings.Contains(err.Error(), "split 0: train is not the official draw for seed 41") {
		t.Errorf("--check of a relabelled file: %v", err)
	}
}
