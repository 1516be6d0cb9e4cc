package main

import (
	"errors"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantUsage runs args and wants a usage error (exit status 2) whose message
// holds want.
func wantUsage(t *testing.T, want string, args ...string) {
	t.Helper()
	_, _, err := runCLI(t, args...)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
		t.Errorf("%q: err = %v (usage error: %v), want a usage error holding %q", args, err, errors.As(err, &ue), want)
	}
}

// Every flag value perf refuses is a usage error (exit status 2), as the
// ones it checked itself already were, and is refused before a server starts.
func TestPerfFlagErrorsAreUsageErrors(t *testing.T) {
	p := []string{"perf", "--model", "sharpness_laplacian", "-q"}
	for _, c := range []struct{ want, flag, value string }{
		{`--arrival "bursty"`, "--arrival", "bursty"},
		{`--shared-memory "cuda"`, "--shared-memory", "cuda"},
		{`--input-data "foo"`, "--input-data", "foo"},
		{"--input-data dataset: no dataset given", "--input-data", "dataset"},
		{"--percentile 101", "--percentile", "101"},
		{"--percentile -1", "--percentile", "-1"},
		{"--window-requests -1", "--window-requests", "-1"},
		{"--stability 100", "--stability", "100"},
		{"--max-trials 2", "--max-trials", "2"},
		{"--max-inflight 0", "--max-inflight", "0"},
	} {
		wantUsage(t, c.want, append(p, c.flag, c.value)...)
	}
	wantUsage(t, "--metrics-url: 2 URLs for 1 servers", append(p, "--server", "127.0.0.1:1", "--metrics-url", "http://a:8002/metrics,http://b:8002/metrics")...)
	wantUsage(t, "--metrics-url: the embedded server has no metrics endpoint", append(p, "--metrics-url", "http://a:8002/metrics")...)
	wantUsage(t, `--dataset "foo=/tmp": unknown dataset foo`, append(p, "--dataset", "foo=/tmp")...)
}

// A dataset name that does not exist is a usage error naming --dataset, in
// every command that takes one.
func TestUnknownDatasetIsUsageError(t *testing.T) {
	labels := filepath.Join("testdata", "datasets", "small.csv")
	wantUsage(t, `--dataset "foo": unknown dataset`, "data", "--dataset", "foo", "--labels", labels)
	wantUsage(t, `--dataset "foo": unknown dataset`, "splits", "--dataset", "foo", "--labels", labels, "-o", "-")
	wantUsage(t, `--dataset "foo": unknown dataset`, "eval", "--dataset", "foo", "--labels", labels, "--predictions", labels)
	wantUsage(t, `--dataset "foo=/tmp": unknown dataset foo`, "tables", "--cache", filepath.Join(t.TempDir(), "c"), "--dataset", "foo=/tmp")
}

// A dataset folder that does not exist is named with its flag.
func TestMissingDatasetFolderNamesFlag(t *testing.T) {
	_, _, err := runCLI(t, "data", "--dataset", "agiqa-3k", "--dir", "/nonexistent/AGIQA-3k")
	if err == nil || !strings.Contains(err.Error(), "--dir /nonexistent/AGIQA-3k") {
		t.Errorf("data --dir: err = %v, want it to name --dir", err)
	}
	_, _, err = runCLI(t, "tables", "--cache", filepath.Join(t.TempDir(), "c"), "--dataset", "agiqa-3k=/nonexistent/AGIQA-3k")
	if err == nil || !strings.Contains(err.Error(), "--dataset agiqa-3k=/nonexistent/AGIQA-3k") {
		t.Errorf("tables --dataset: err = %v, want it to name --dataset", err)
	}
}

// tables refuses, before any work, a model list that names no model or a
// model twice, a dataset given twice, a --server address that cannot be one,
// and names --splits when its file cannot be read.
func TestTablesSelectionMistakes(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "c")
	base := []string{"tables", "--cache", cache, "--sample-size", "40", "--splits", "2"}
	wantUsage(t, `--models ",": no model named`, append(base, "--models", ",")...)
	wantUsage(t, "--models: contrast_rms named twice", append(base, "--models", "contrast_rms, contrast_rms")...)
	wantUsage(t, "--dataset: sample given twice", append(base, "--dataset", "sample", "--dataset", "sample")...)
	wantUsage(t, `--server: target "bad::addr"`, append(base, "--server", "bad::addr")...)
	_, _, err := runCLI(t, "tables", "--cache", cache, "--sample-size", "40", "--splits", "3x")
	if err == nil || !strings.Contains(err.Error(), "--splits 3x") {
		t.Errorf("--splits 3x: err = %v, want it to name --splits", err)
	}
}

// CSV output holds no blank line between the tables and the timing table,
// as between tables 1 and 2.
func TestTablesCSVTimingHasNoBlankLine(t *testing.T) {
	out, _, err := runCLI(t, "tables", "--cache", filepath.Join(t.TempDir(), "c"), "--sample-size", "40", "--splits", "2",
		"--models", "contrast_rms", "--format", "csv", "--timing")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "\n\n") {
		t.Errorf("blank line in CSV output:\n%s", out)
	}
}

// infer and models report a malformed --server as a usage error, as perf
// and tables do, and infer checks --image before it contacts a server.
func TestInferAndModelsFlagErrors(t *testing.T) {
	wantUsage(t, `--server: target "bad::addr"`, "models", "--server", "bad::addr")
	wantUsage(t, `--server: target "bad::addr"`, "infer", "--server", "bad::addr", "--model", "m", "--image", "a.jpg")
	_, _, err := runCLI(t, "infer", "--server", "127.0.0.1:1", "--model", "m", "--image", "/nonexistent/a.jpg")
	if err == nil || !strings.Contains(err.Error(), "--image /nonexistent/a.jpg") {
		t.Errorf("infer --image missing: err = %v, want it to name --image", err)
	}
}

// Predictions files as other tools write them: a UTF-8 BOM and CRLF line
// ends are read; rows wider than the header, a column named twice, both
// quality and score, and a file with no rows are refused with file and line.
func TestEvalPredictionFileShapes(t *testing.T) {
	labels := filepath.Join("testdata", "datasets", "small.csv")
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "p.csv")
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	plain, _, err := runCLI(t, "eval", "--dataset", "csv", "--labels", labels, "--format", "csv",
		"--predictions", write("image,score\ncat_0.png,3\ncat_1.png,2\ndog_0.png,0.5\ndog_1.png,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	bom, _, err := runCLI(t, "eval", "--dataset", "csv", "--labels", labels, "--format", "csv",
		"--predictions", write("\ufeffimage,score\r\ncat_0.png,3\r\ncat_1.png,2\r\ndog_0.png,0.5\r\ndog_1.png,1\r\n"))
	if err != nil || bom != plain {
		t.Errorf("BOM and CRLF: err = %v; output differs from the plain file's:\n%s\nwant\n%s", err, bom, plain)
	}
	for _, c := range []struct{ body, want string }{
		{"image,score\ncat_0.png,1,2\n", ":2: 3 fields, the header has 2"},
		{"image,score,score\ncat_0.png,1,2\n", `:1: column "score" named twice`},
		{"image,quality,score\ncat_0.png,1,2\n", ":1: both quality and score columns"},
		{"image,score\n", ": no prediction rows"},
		{"image,score\r\n\r\n", ": no prediction rows"},
	} {
		p := write(c.body)
		_, _, err := runCLI(t, "eval", "--dataset", "csv", "--labels", labels, "--predictions", p)
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%q: err = %v, want %q", c.body, err, p+c.want)
		}
	}
}

// splits -o to a named pipe (or /dev/stdout) writes into it; it must not
// replace it with a regular file renamed over it.
func TestSplitsOutputToPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "splits.fifo")
	testenv.Mkfifo(t, fifo)
	got := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- b
	}()
	_, _, err := runCLI(t, "splits", "--dataset", "csv", "--labels", filepath.Join("testdata", "datasets", "small.csv"), "--n", "2", "-o", fifo)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the pipe was replaced: %v %v", st.Mode(), err)
	}
	if b := <-got; !strings.Contains(string(b), `"dataset": "csv"`) {
		t.Errorf("read from the pipe: %q", b)
	}
}

// eval: predictions that cover none of the scored images are an error, not
// an empty table; a splits file that cannot be read is named with --splits.
func TestEvalNothingToScore(t *testing.T) {
	labels := filepath.Join("testdata", "datasets", "small.csv")
	dir := t.TempDir()
	pred := filepath.Join(dir, "p.csv")
	os.WriteFile(pred, []byte("image,score\ncat_0.png,1\ncat_1.png,2\n"), 0o644)
	sp := filepath.Join(dir, "s.json")
	if _, _, err := runCLI(t, "splits", "--dataset", "csv", "--labels", labels, "--n", "1", "--seed", "3", "-o", sp); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(sp)
	if strings.Contains(string(b[strings.Index(string(b), `"test"`):]), "cat_") {
		t.Fatal("seed 3 puts a cat image in the test split: pick predictions for images outside it")
	}
	_, _, err := runCLI(t, "eval", "--dataset", "csv", "--labels", labels, "--predictions", pred, "--splits", sp)
	if err == nil || !strings.Contains(err.Error(), pred+": no prediction for any of the") {
		t.Errorf("err = %v, want it to say %s covers none of the scored images", err, pred)
	}
	_, _, err = runCLI(t, "eval", "--dataset", "csv", "--labels", labels, "--predictions", pred, "--splits", "/nonexistent/s.json")
	if err == nil || !strings.Contains(err.Error(), "--splits /nonexistent/s.json") {
		t.Errorf("err = %v, want --splits named", err)
	}
}

// 'agiqa help CMD' shows that command's help, as 'agiqa CMD --help' does.
func TestHelpCommand(t *testing.T) {
	_, want, err := runCLI(t, "perf", "--help")
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCLI(t, "help", "perf")
	if err != nil || stderr+stdout != want {
		t.Errorf("help perf: err %v, output:\n%s%s\nwant:\n%s", err, stdout, stderr, want)
	}
	wantUsage(t, `unknown command "nope"`, "help", "nope")
}
