package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/perf"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/table"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// A small run of the main job: built-in sample dataset, embedded server,
// the sharpness and contrast baselines, 3 splits.
func TestTablesEmbeddedSampleGolden(t *testing.T) {
	cache := t.TempDir()
	args := []string{"tables", "--cache", filepath.Join(cache, "predictions"), "--sample-size", "60", "--splits", "3", "--seed", "7"}
	out, stderr, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	checkGolden(t, "tables_sample_text", []byte(out))
	if !strings.Contains(stderr, "60 images, 0 already cached") {
		t.Errorf("first run should infer everything; stderr:\n%s", stderr)
	}

	// A second run infers nothing twice and prints the same numbers.
	out2, stderr, err := runCLI(t, append(args, "--format", "markdown", "--paper", "--timing")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "60 images, 60 already cached") {
		t.Errorf("second run re-inferred; stderr:\n%s", stderr)
	}
	checkGolden(t, "tables_sample_markdown_paper", []byte(out2))
}

func TestTablesReportPlotsAndJSON(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCLI(t, "tables", "--cache", filepath.Join(dir, "c"), "--sample-size", "40", "--splits", "2",
		"--models", "contrast_rms,sharpness_laplacian", "--format", "json", "--report", filepath.Join(dir, "report.json"), "--plots", filepath.Join(dir, "plots"), "--timing")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var t1 map[string]any
	if err := dec.Decode(&t1); err != nil || t1["id"] != "table1" {
		t.Fatalf("json table 1: %v %v", err, t1["id"])
	}
	var results []runner.ModelResult
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil || json.Unmarshal(b, &results) != nil || len(results) != 2 {
		t.Fatalf("report: %v %s", err, b)
	}
	for i, name := range []string{"contrast_rms", "sharpness_laplacian"} {
		r := results[i]
		if r.Model != name || len(r.Splits) != 2 || r.Summary["quality"].Splits != 2 || r.Runs[0].Inferred != 40 {
			t.Errorf("report content: %+v", r)
		}
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "plots", "*.png"))
	if len(pngs) != 2 {
		t.Errorf("plots: %v", pngs)
	}

	// --timing on a fresh cache: the speed of the very requests that
	// produced the scores, as recorded in the report, in numbers.
	var timing table.Table
	for timing.ID != "timing" {
		timing = table.Table{}
		if err := dec.Decode(&timing); err != nil {
			t.Fatalf("no timing table in the JSON output: %v", err)
		}
	}
	rows := timing.RowGroups[0].Rows
	if len(rows) != 2 || rows[0].Model != "contrast_rms" || rows[1].Model != "sharpness_laplacian" {
		t.Fatalf("timing rows %+v", rows)
	}
	// Each timing row is checked against its own model's run in the report.
	for ri, row := range rows {
		r := results[ri]
		cells := map[string]float64{}
		for i, c := range timing.Columns {
			if row.Cells[i].Value == nil {
				t.Fatalf("%s: timing column %s has no number (%q)", row.Model, c.Key, row.Cells[i].Note)
			}
			cells[c.Key] = *row.Cells[i].Value
		}
		lat := append([]float64(nil), r.Runs[0].RequestLatencyMS...)
		sort.Float64s(lat)
		batched := 0
		for _, b := range r.Runs[0].RequestBatch {
			batched += b
		}
		if len(lat) == 0 || cells["requests"] != float64(len(lat)) || batched != r.Runs[0].Inferred {
			t.Fatalf("%s: timing counts %v requests; the report has %d requests carrying %d images for %d scores",
				row.Model, cells["requests"], len(lat), batched, r.Runs[0].Inferred)
		}
		want := map[string]float64{"p50": metrics.Percentile(lat, 50), "p90": metrics.Percentile(lat, 90), "p99": metrics.Percentile(lat, 99), "max": lat[len(lat)-1],
			"images_per_s": float64(r.Runs[0].Inferred) / r.Runs[0].ElapsedSeconds}
		for k, v := range want {
			if math.Abs(cells[k]-v) > 1e-9*math.Abs(v) {
				t.Errorf("%s: timing %s = %v, the scored requests give %v", row.Model, k, cells[k], v)
			}
		}
		if !(cells["images_per_s"] > 0 && cells["p50"] > 0 && cells["p50"] <= cells["p90"] && cells["p90"] <= cells["p99"] && cells["p99"] <= cells["max"]) {
			t.Errorf("%s: timing figures out of order: %v", row.Model, cells)
		}
	}
}

// tables --timing and perf give the same figures for the same latencies
// (nearest rank; an interpolated p50 of 1, 2, 3, 4 would be 2.5).
func TestTimingPercentilesArePerfs(t *testing.T) {
	for _, lat := range [][]float64{{1, 2, 3, 4}, {4, 1, 3, 2, 10}, {7}, {0.5, 0.25, 8, 8, 8, 1, 2, 3, 30, 0.75, 12}} {
		m := perf.NewMetrics(time.Second, len(lat))
		for _, ms := range lat {
			m.Add(&perf.Result{Latency: time.Duration(ms * float64(time.Millisecond)), Batch: 1})
		}
		m.Close()
		res := &runner.ModelResult{Model: "m", Dataset: "d", Runs: []*runner.Report{{RequestLatencyMS: lat, Inferred: len(lat), ElapsedSeconds: 1}}}
		tt := timingTable([]*runner.ModelResult{res})
		cells := map[string]float64{}
		for i, c := range tt.Columns {
			cells[c.Key] = *tt.RowGroups[0].Rows[0].Cells[i].Value
		}
		for k, want := range map[string]float64{"p50": m.Latency.P50US, "p90": m.Latency.P90US, "p99": m.Latency.P99US, "max": m.Latency.MaxUS} {
			if got := cells[k]; math.Abs(got-want/1e3) > 1e-9 {
				t.Errorf("%v: tables --timing %s = %v ms, perf %v ms", lat, k, got, want/1e3)
			}
		}
	}
}

func TestTablesBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--dataset", "agiqa-9k=/tmp"}, "agiqa-9k"},
		{[]string{"--dataset", "agiqa-3k"}, "want NAME=DIR"},
		{[]string{"--format", "pdf"}, "--format"},
		{[]string{"--tables", "4"}, "--tables"},
		{[]string{"--splits", "0"}, "--splits"},
		{[]string{"--plcc-fit", "cubic"}, "--plcc-fit"},
		{[]string{"--splits", "agiqa-3k=/x.json", "--sample-size", "40"}, "names no splits file for dataset sample"},
		{[]string{"--models", "nope", "--sample-size", "40", "--splits", "2"}, "nope"},
		// An unknown model is called unknown (with the server's list), not "not ready".
		{[]string{"--models", "nope", "--sample-size", "40", "--splits", "2"}, `unknown model "nope" (models: brisque, brisque_e2e, ceiq, ceiq_e2e, contrast_rms, contrast_rms_e2e, niqe, niqe_e2e, preprocess_native, preprocess_resize_512, sharpness_laplacian, sharpness_laplacian_e2e)`},
		{[]string{"--batch", "0"}, "--batch 0: want at least 1"},
		{[]string{"--concurrency", "-1"}, "--concurrency -1: want at least 1"},
		{[]string{"--retries", "-1"}, "--retries -1"},
		{[]string{"--protocol", "kfold"}, `--protocol: unknown split protocol "kfold"`},
		{[]string{"--sample-size", "0"}, "--sample-size 0: want 1 to 480"},
		{[]string{"--sample-size", "481"}, "--sample-size 481"},
		// Output paths fail before the run, naming the flag.
		{[]string{"-o", "/nonexistent/dir/t.txt"}, "-o /nonexistent/dir/t.txt: folder /nonexistent/dir does not exist"},
		{[]string{"--report", os.TempDir()}, "--report " + os.TempDir() + ": is a folder"},
		{[]string{"--plots", "/dev/null"}, "--plots /dev/null: is a file"},
		{[]string{"--dataset", "csv=/nonexistent", "--labels", "csv=testdata/datasets/small.csv"}, "--dataset csv=/nonexistent: no image folder found in /nonexistent"},
		{[]string{"--splits", "/nonexistent/splits.json", "--sample-size", "40"}, "/nonexistent/splits.json"},
	}
	for _, c := range cases {
		args := append([]string{"tables", "--cache", filepath.Join(t.TempDir(), "p")}, c.args...)
		_, _, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to name %q", c.args, err, c.want)
		}
	}
}

// A corrupt image stops the run before any inference unless --skip-bad-images.
func TestTablesPreflightRefusesBadImages(t *testing.T) {
	dir := t.TempDir()
	var rows []string
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("im%02d.png", i)
		src := testImage(t, i%2 == 0)
		b, _ := os.ReadFile(src)
		if i == 5 {
			b = b[:40] // truncated
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
		rows = append(rows, fmt.Sprintf("%s,prompt %d,%d", name, i%4, i%3))
	}
	os.WriteFile(filepath.Join(dir, "labels.csv"), []byte("image,prompt,mos\n"+strings.Join(rows, "\n")+"\n"), 0o644)
	args := []string{"tables", "--cache", filepath.Join(t.TempDir(), "p"), "--dataset", "csv=" + dir, "--splits", "2"}
	_, stderr, err := runCLI(t, args...)
	if err == nil || !strings.Contains(err.Error(), "--skip-bad-images") || !strings.Contains(stderr, "im05.png") {
		t.Fatalf("err = %v\nstderr:\n%s", err, stderr)
	}
	out, stderr, err := runCLI(t, append(args, "--skip-bad-images")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "Sharpness (Laplacian)") || !strings.Contains(stderr, "11 images") {
		t.Errorf("skip run: stdout:\n%s\nstderr:\n%s", out, stderr)
	}
}

// writeCSVDataset puts n small PNGs in imagesDir and their labels in a CSV
// outside it, returning the label file's path.
func writeCSVDataset(t *testing.T, imagesDir string, n int) string {
	t.Helper()
	var rows []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("im%02d.png", i)
		b, err := os.ReadFile(testImage(t, i%2 == 0))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(imagesDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, fmt.Sprintf("%s,prompt %d,%d", name, i%4, i%3))
	}
	labels := filepath.Join(t.TempDir(), fmt.Sprintf("labels%d.csv", n))
	if err := os.WriteFile(labels, []byte("image,prompt,mos\n"+strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return labels
}

// --labels NAME=FILE: the label file lives outside the image folder (as with
// ../shared/data); a splits file drawn for other images is refused, naming it.
func TestTablesLabelsFlagAndForeignSplits(t *testing.T) {
	images := t.TempDir()
	labels := writeCSVDataset(t, images, 12)
	cache := filepath.Join(t.TempDir(), "p")
	out, stderr, err := runCLI(t, "tables", "--cache", cache, "--dataset", "csv="+images, "--labels", "csv="+labels, "--splits", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "Sharpness (Laplacian)") || !strings.Contains(stderr, "12 images") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, stderr)
	}

	sp := filepath.Join(t.TempDir(), "splits.json")
	if _, stderr, err := runCLI(t, "splits", "--dataset", "csv", "--labels", labels, "--n", "2", "-o", sp); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	fewer := writeCSVDataset(t, images, 11) // im11.png is in the splits only
	_, _, err = runCLI(t, "tables", "--cache", cache, "--dataset", "csv="+images, "--labels", "csv="+fewer, "--splits", sp)
	if err == nil || !strings.Contains(err.Error(), sp) || !strings.Contains(err.Error(), `"im11.png"`) {
		t.Errorf("splits for other images: err = %v, want it to name %s and im11.png", err, sp)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--labels", "csv"}, "want NAME=FILE"},
		{[]string{"--labels", "agiqa-3k=" + labels, "--dataset", "csv=" + images}, "no --dataset agiqa-3k=DIR"},
		{[]string{"--labels", "csv=" + labels, "--labels", "csv=" + fewer, "--dataset", "csv=" + images}, "two label files for csv"},
	} {
		_, _, err := runCLI(t, append([]string{"tables", "--cache", cache}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}

// Two datasets run with different splits files: each cell's "n=K splits"
// note compares with its own dataset's count (3 for the sample, 2 for csv),
// not with the last dataset's.
func TestTablesSplitNotePerDataset(t *testing.T) {
	// The csv dataset is a sample generated elsewhere: images whose
	// sharpness varies, so every split's correlations are defined.
	images := t.TempDir()
	dir := t.TempDir()
	sp3, sp2 := filepath.Join(dir, "sample.json"), filepath.Join(dir, "csv.json")
	for _, args := range [][]string{
		{"data", "--dataset", "sample=" + images, "--sample-size", "120", "--limit", "1"},
		{"splits", "--dataset", "sample", "--sample-size", "40", "--n", "3", "-o", sp3},
		{"splits", "--dataset", "csv=" + images, "--n", "2", "-o", sp2},
	} {
		if _, stderr, err := runCLI(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
	}
	out, stderr, err := runCLI(t, "tables", "--cache", filepath.Join(dir, "p"), "--sample-size", "40", "--models", "sharpness_laplacian",
		"--dataset", "sample", "--dataset", "csv="+images, "--splits", "sample="+sp3+",csv="+sp2,
		"--tables", "1", "--format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var t1 table.Table // the first JSON document (the provenance block follows)
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&t1); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, g := range t1.RowGroups {
		for _, r := range g.Rows {
			if r.Kind != table.KindMeasured {
				continue
			}
			for i, c := range r.Cells {
				key := t1.Columns[i].Key
				if c.Stat == nil {
					continue
				}
				checked++
				want := map[string]int{"sample": 3, "csv": 2}[strings.Split(key, "/")[0]]
				if c.Stat.N != want || strings.Contains(c.Note, "n=") {
					t.Errorf("%s %s: N %d note %q; want N %d and no split-count note", r.Model, key, c.Stat.N, c.Note, want)
				}
			}
		}
	}
	if checked != 6 {
		t.Errorf("checked %d measured cells, want 6 (3 metrics x 2 datasets):\n%s", checked, out)
	}
}

// With the published parameter files installed offline (agiqa fetch NAME --from FILE), the default
// run measures NIQE, BRISQUE and CEIQ with the authors' models: their rows hold numbers, beside the
// paper's, instead of the reason they could not run.
func TestTablesMeasuresPublishedModels(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("AGIQA_CACHE", cache)
	for name, file := range map[string][]string{
		"niqe-params": {"niqe", "modelparameters.mat"}, "brisque-model": {"brisque", "allmodel"},
		"brisque-range": {"brisque", "allrange"}, "ceiq-model": {"ceiq", "model.mat"},
	} {
		if _, _, err := runCLI(t, "fetch", name, "--from", testenv.Shared(t, append([]string{"data"}, file...)...)); err != nil {
			t.Fatal(err)
		}
	}
	report := filepath.Join(cache, "report.json")
	out, stderr, err := runCLI(t, "tables", "--cache", filepath.Join(cache, "predictions"), "--sample-size", "40", "--splits", "2",
		"--models", "niqe,brisque,ceiq", "--paper", "--report", report)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if strings.Contains(out, "not measured:") {
		t.Errorf("a row says it was not measured:\n%s", out)
	}
	var results []runner.ModelResult
	b, _ := os.ReadFile(report)
	if err := json.Unmarshal(b, &results); err != nil || len(results) != 3 {
		t.Fatalf("report: %v %s", err, b)
	}
	for _, r := range results {
		s := r.Summary["quality"]
		if r.Failed != 0 || s.Splits != 2 || math.IsNaN(s.SRCC.Mean) {
			t.Errorf("%s: %d failed, summary %+v", r.Model, r.Failed, s)
		}
	}
	for _, row := range []string{"| NIQE (diff)", "| CEIQ (diff)", "| BRISQUE "} {
		if !strings.Contains(out, row) {
			t.Errorf("no %q row:\n%s", row, out)
		}
	}
}
