package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/plot"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// devFull is a file every write to fails (ENOSPC): an output that cannot be
// written although the checks before the run passed.
func devFull(t *testing.T) string {
	t.Helper()
	return testenv.DevFull(t)
}

// An output that cannot be written after the inference finished loses none
// of the rest: the other outputs are written, the tables are printed (to
// stdout when -o is the one that failed), and the error names the flag.
func TestTablesOutputFailureKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	base := []string{"tables", "--cache", filepath.Join(dir, "c"), "--sample-size", "40", "--splits", "2", "--models", "contrast_rms", "--tables", "1"}

	// A folder where the scatter plot should go: the plot fails.
	plots := filepath.Join(dir, "plots")
	if err := os.MkdirAll(filepath.Join(plots, plot.FileName("contrast_rms", "sample-quality")), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "t.txt")
	report := filepath.Join(dir, "r.json")
	_, _, err := runCLI(t, append(base, "--plots", plots, "-o", out, "--report", report)...)
	if err == nil || !strings.Contains(err.Error(), "--plots "+plots) {
		t.Errorf("plot failure: err = %v, want it to name --plots %s", err, plots)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "RMS contrast") {
		t.Errorf("-o %s not written after the plot failed: %q", out, b)
	}
	if _, err := os.Stat(report); err != nil {
		t.Errorf("--report not written after the plot failed: %v", err)
	}

	full := devFull(t)
	stdout, _, err := runCLI(t, append(base, "--report", full)...)
	if err == nil || !strings.Contains(err.Error(), "--report "+full) {
		t.Errorf("--report %s: err = %v, want it named", full, err)
	}
	if !strings.Contains(stdout, "Table 1") {
		t.Errorf("--report failed and the tables were not printed:\n%s", stdout)
	}

	stdout, _, err = runCLI(t, append(base, "-o", full)...)
	if err == nil || !strings.Contains(err.Error(), "-o "+full) || !strings.Contains(err.Error(), "stdout") {
		t.Errorf("-o %s: err = %v, want it named and the tables said to be on stdout", full, err)
	}
	if !strings.Contains(stdout, "Table 1") {
		t.Errorf("-o failed and the tables were not printed to stdout instead:\n%s", stdout)
	}
}

// perf: a --csv that cannot be written does not keep --json and --plots
// from being written.
func TestPerfOutputFailureKeepsTheRest(t *testing.T) {
	full := devFull(t)
	dir := t.TempDir()
	js := filepath.Join(dir, "p.json")
	plots := filepath.Join(dir, "plots")
	stdout, _, err := runCLI(t, "perf", "--model", "sharpness_laplacian", "--window-requests", "3", "--warmup", "1", "-q",
		"--csv", full, "--json", js, "--plots", plots)
	if err == nil || !strings.Contains(err.Error(), "--csv "+full) {
		t.Errorf("err = %v, want it to name --csv %s", err, full)
	}
	if !strings.Contains(stdout, "sharpness_laplacian") {
		t.Errorf("stdout lacks the report:\n%s", stdout)
	}
	if _, err := os.Stat(js); err != nil {
		t.Errorf("--json not written after --csv failed: %v", err)
	}
	if pngs, _ := filepath.Glob(filepath.Join(plots, "*.png")); len(pngs) == 0 {
		t.Errorf("--plots not written after --csv failed")
	}
}
