package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// Scores "predictions" that are the alignment MOS against quality MOS on the
// real AGIQA-3k labels, over 3 paper splits, quality and alignment both.
func TestEvalAGIQA3kGolden(t *testing.T) {
	labels := testenv.Shared(t, "data", "agiqa-3k", "data.csv")
	ds, err := dataset.Load("agiqa-3k", labels, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pred := filepath.Join(dir, "pred.csv")
	f, _ := os.Create(pred)
	w := csv.NewWriter(f)
	w.Write([]string{"image", "quality", "alignment"})
	for _, it := range ds.Items {
		w.Write([]string{it.Image, ftoa(it.MOSAlign), ftoa(it.MOS)})
	}
	w.Flush()
	f.Close()
	sp := filepath.Join(dir, "splits.json")
	if _, _, err := runCLI(t, "splits", "--dataset", "agiqa-3k", "--labels", labels, "--n", "3", "--seed", "1", "-o", sp); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "eval", "--dataset", "agiqa-3k", "--labels", labels, "--predictions", pred, "--splits", sp, "--model", "mine", "--format", "markdown")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "eval_agiqa3k_markdown", []byte(out))
}

func ftoa(v float64) string { return strings.TrimRight(strings.TrimRight(strconvFormat(v), "0"), ".") }

func TestEvalSmallAndBadPredictions(t *testing.T) {
	labels := filepath.Join("testdata", "datasets", "small.csv")
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "p.csv")
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	out, _, err := runCLI(t, "eval", "--dataset", "csv", "--labels", labels, "--format", "csv",
		"--predictions", write("image,score\ncat_0.png,3\ncat_1.png,2\ndog_0.png,0.5\ndog_1.png,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "eval_small_csv", []byte(out))

	cases := []struct{ body, want string }{
		{"img,score\n", "no image column"},
		{"image,foo\n", "no score, quality or alignment column"},
		{"image,score\nzebra.png,1\n", `:2: image "zebra.png" is not in`},
		{"image,score\ncat_0.png,1\ncat_0.png,2\n", `:3: image "cat_0.png" listed twice`},
		{"image,score\ncat_0.png,high\n", `:2: score "high" is not a finite number`},
		{"image,score\ncat_0.png,NaN\n", `:2: score "NaN" is not a finite number`},
		{"", ": empty file, want a header line"},
	}
	for _, c := range cases {
		p := write(c.body)
		_, _, err := runCLI(t, "eval", "--dataset", "csv", "--labels", labels, "--predictions", p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) && !strings.Contains(c.want, "column") {
			t.Errorf("%q: err = %v, want %q", c.body, err, c.want)
		}
	}
}

// A predictions file that covers only some images is scored on those, and
// stderr says how many were left out and names the first.
func TestEvalWarnsAboutMissingPredictions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.csv")
	os.WriteFile(p, []byte("image,score\ncat_0.png,3\ncat_1.png,2\ndog_1.png,1\n"), 0o644)
	_, stderr, err := runCLI(t, "eval", "--dataset", "csv", "--labels", filepath.Join("testdata", "datasets", "small.csv"), "--predictions", p)
	if err != nil {
		t.Fatal(err)
	}
	if want := p + " has no prediction for 5 of 8 scored images (first: dog_0.png)"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q lacks %q", stderr, want)
	}
	_, _, err = runCLI(t, "eval", "--dataset", "csv", "--labels", filepath.Join("testdata", "datasets", "small.csv"), "--predictions", p, "--format", "yaml")
	if err == nil || !strings.Contains(err.Error(), "want one of text, markdown") {
		t.Errorf("--format yaml: %v, want the formats listed", err)
	}
}

func strconvFormat(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// A FIFO given as --predictions is refused at once (it used to block the read).
func TestEvalPredictionsFIFORefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "p.csv")
	testenv.Mkfifo(t, fifo)
	done := make(chan error, 1)
	go func() {
		_, _, err := runCLI(t, "eval", "--dataset", "csv", "--labels", filepath.Join("testdata", "datasets", "small.csv"), "--predictions", fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("eval --predictions FIFO: err = %v, want it named a FIFO", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("eval blocked reading a FIFO")
	}
}
