package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

func init() {
	// perf_cli_sum: Y = sum of the 4 values of each row of X.
	native.Register("perf_cli_sum", func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		v, err := in[0].Float32s()
		if err != nil {
			return nil, err
		}
		sums := make([]float32, len(v)/4)
		for i, x := range v {
			sums[i/4] += x
		}
		y, err := tensor.NewFP32("Y", []int64{int64(len(sums)), 1}, sums)
		return []*tensor.Tensor{y}, err
	})
}

// perfRepo writes a repository with the tiny model "sum" (max batch 8) and
// "broken", whose function does not exist (never ready).
func perfRepo(t *testing.T) string {
	dir := t.TempDir()
	io := "max_batch_size: 8\ninput { name: \"X\" data_type: TYPE_FP32 dims: [ 4 ] }\noutput { name: \"Y\" data_type: TYPE_FP32 dims: [ 1 ] }\n"
	writeTree(t, dir, map[string]string{
		"sum/config.pbtxt":      "backend: \"native\"\n" + io + "instance_group { count: 2 }\n",
		"sum/1/model.native":    "perf_cli_sum\n",
		"broken/config.pbtxt":   "backend: \"native\"\n" + io,
		"broken/1/model.native": "perf_cli_no_such_function\n",
	})
	return dir
}

// quickPerf are flags that keep a sweep short.
var quickPerf = []string{"--window", "100ms", "--max-trials", "3", "--stability", "50", "--warmup", "5", "-q"}

func perfArgs(extra ...string) []string {
	return append(append([]string{"perf"}, quickPerf...), extra...)
}

// csvCol is the index of the named column in a perf CSV header.
func csvCol(t *testing.T, header []string, name string) int {
	t.Helper()
	for i, h := range header {
		if h == name {
			return i
		}
	}
	t.Fatalf("CSV header %v has no %q column", header, name)
	return -1
}

func TestPerfHelp(t *testing.T) {
	_, stderr, err := runCLI(t, "perf", "--help")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "perf_help", []byte(stderr))
}

func TestPerfUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--concurrency", "4"}, "--model: no model given"},
		{[]string{"--model", "m", "--concurrency", "1:0"}, "--concurrency 1:0: end 0 must be >= 1"},
		{[]string{"--model", "m", "--concurrency", "8:2"}, "--concurrency 8:2: end 2 is below start 8"},
		{[]string{"--model", "m", "--rate", "0"}, "--rate 0: value 0 must be > 0"},
		{[]string{"--model", "m", "--rate", "100:1000:0"}, "--rate 100:1000:0: step 0 must be > 0"},
		{[]string{"--model", "m", "--batch", "0"}, "--batch 0: value 0 must be >= 1"},
		{[]string{"--model", "m", "--rate", "5", "--concurrency", "2"}, "--concurrency and --rate"},
		{[]string{"--model", "m", "--format", "xml"}, `--format "xml"`},
		{[]string{"--model", "m", "--window", "0s"}, "--window 0s: must be > 0"},
		{[]string{"--model", "m", "--shape", "X"}, `--shape "X": want NAME:D1,D2,...`},
		{[]string{"--model", "m", "--shape", "X:2,-1"}, `dimension "-1" is not a positive integer`},
		{[]string{"--model", "m", "--server", "a:1,,b:2"}, "empty address"},
		{[]string{"--model", "m", "extra"}, "unexpected arguments"},
		{[]string{"--model", "m", "--warmup", "-1"}, "--warmup -1: want 0 or more"},
		{[]string{"--model", "m", "--server", "gpu1:8001,gpu2"}, `--server: target "gpu2": want host:port`},
		// --format text (every other command's name) passes the format check.
		{[]string{"--model", "m", "--format", "text", "--window", "0s"}, "--window 0s: must be > 0"},
		{[]string{"--model", "m", "--on-error", "maybe"}, `--on-error "maybe": want stop or continue`},
		// Output paths are checked before any load is sent.
		{[]string{"--model", "m", "--csv", "/nonexistent/dir/p.csv"}, "--csv /nonexistent/dir/p.csv: folder /nonexistent/dir does not exist"},
		{[]string{"--model", "m", "--json", os.TempDir()}, "--json " + os.TempDir() + ": is a folder"},
		{[]string{"--model", "m", "--plots", "/dev/null"}, "--plots /dev/null: is a file"},
		{[]string{"--model", "m", "--plot", "/dev/null"}, "--plots /dev/null: is a file"}, // the older name still works
	}
	for _, c := range cases {
		_, _, err := runCLI(t, append([]string{"perf"}, c.args...)...)
		var ue *usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("perf %v: err = %v, want usage error with %q", c.args, err, c.want)
		}
	}
}

func TestPerfRefusesBeforeLoad(t *testing.T) {
	repo := perfRepo(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--repo", repo, "--model", "broken"}, `model "broken" on 127.0.0.1:`},
		{[]string{"--repo", repo, "--model", "sum", "--batch", "1,16"}, `--batch 16: above model "sum"'s max_batch_size 8`},
		{[]string{"--model", "sharpness_laplacian", "--batch", "64"}, `--batch 64: above model "sharpness_laplacian"'s max_batch_size 32`},
		{[]string{"--repo", repo, "--model", "sum", "--input-data", "dataset"}, "--input-data dataset: no dataset given"},
		{[]string{"--repo", repo, "--model", "sum", "--dataset", "agiqa-3k"}, `--dataset "agiqa-3k": want NAME=DIR (names: agiqa-1k, agiqa-3k, csv) or sample`},
	}
	for _, c := range cases {
		stdout, _, err := runCLI(t, perfArgs(c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("perf %v: err = %v, want %q", c.args, err, c.want)
		}
		if stdout != "" {
			t.Errorf("perf %v wrote a report for a refused run:\n%s", c.args, stdout)
		}
	}
	_, _, err := runCLI(t, perfArgs("--repo", repo, "--model", "broken")...)
	if err == nil || !strings.Contains(err.Error(), "not ready") || !strings.Contains(err.Error(), "perf_cli_no_such_function") {
		t.Errorf("not-ready model: the reason is missing from %v", err)
	}
}

func TestPerfEmbeddedOutputs(t *testing.T) {
	dir := t.TempDir()
	csvPath, jsonPath, plots := filepath.Join(dir, "perf.csv"), filepath.Join(dir, "perf.json"), filepath.Join(dir, "plots")
	stdout, _, err := runCLI(t, perfArgs("--repo", perfRepo(t), "--model", "sum", "--concurrency", "1:2", "--batch", "1,4",
		"--format", "json", "--csv", csvPath, "--json", jsonPath, "--plot", plots)...)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Model  string `json:"model"`
		Mode   string `json:"mode"`
		Levels []struct {
			Batch, Concurrency int
			Status             string
			Total              struct {
				Client struct {
					Success          uint64  `json:"success"`
					InferencesPerSec float64 `json:"inferences_per_sec"`
				} `json:"client"`
				Server struct {
					BatchSizes map[string]uint64 `json:"batch_sizes"`
				} `json:"server"`
			} `json:"total"`
		} `json:"levels"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout)
	}
	if rep.Model != "sum" || rep.Mode != "concurrency" || len(rep.Levels) != 4 {
		t.Fatalf("report %+v", rep)
	}
	for _, l := range rep.Levels {
		if l.Status == "failed" || l.Total.Client.Success == 0 || l.Total.Server.BatchSizes == nil {
			t.Errorf("level %+v", l)
		}
	}
	saved, err := os.ReadFile(jsonPath)
	if err != nil || string(saved) != stdout {
		t.Errorf("--json file differs from stdout (%v)", err)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) != 5 || recs[0][0] != "Concurrency" || recs[0][1] != "Inferences/Second" {
		t.Errorf("CSV: %v, %d records, header %v", err, len(recs), recs[0])
	}
	for _, name := range []string{"sum_throughput_latency.png", "sum_b1_latency.png", "sum_b4_latency.png"} {
		if st, err := os.Stat(filepath.Join(plots, name)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s: %v", name, err)
		}
	}
}

func TestPerfTableRateSharedMemory(t *testing.T) {
	testenv.ShmDir(t)
	stdout, _, err := runCLI(t, perfArgs("--repo", perfRepo(t), "--model", "sum", "--rate", "100,200", "--arrival", "poisson",
		"--shared-memory", "system", "--batch", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"model sum on 127.0.0.1:", "rate sweep (poisson arrivals)", "via system shared memory",
		"| Request Rate |", "Send lag", "Server batches"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "failed") {
		t.Errorf("a level failed:\n%s", stdout)
	}
}

func TestPerfDatasetSample(t *testing.T) {
	stdout, stderr, err := runCLI(t, "perf", "--model", "sharpness_laplacian", "--dataset", "sample="+t.TempDir(), "--samples", "3",
		"--window", "100ms", "--max-trials", "3", "--stability", "80", "--warmup", "2", "--format", "csv")
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(stderr, "prepared 3 sample images at 512x512 (resize)") {
		t.Errorf("stderr: %s", stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("CSV %v: %q", err, stdout)
	}
	if status := recs[1][csvCol(t, recs[0], "Status")]; status == "failed" {
		t.Errorf("level failed: %v", recs[1])
	}
}

// A server that goes away mid-sweep: the failed levels are marked, the
// figures gathered are still written, and the command fails.
func TestPerfServerStoppedMidSweep(t *testing.T) {
	repo, err := modelrepo.Open(perfRepo(t))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(repo)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		time.Sleep(250 * time.Millisecond) // within the first levels of a >= 1.2 s sweep
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.GracefulStop(ctx)
	}()
	defer func() { <-stopped }()
	csvPath := filepath.Join(t.TempDir(), "perf.csv")
	stdout, _, err := runCLI(t, perfArgs("--server", lis.Addr().String(), "--model", "sum", "--concurrency", "1,2,4,8",
		"--on-error", "continue", "--metrics-url", "none", "--csv", csvPath)...)
	if err == nil || !strings.Contains(err.Error(), "load levels failed") {
		t.Fatalf("err = %v, want the failed levels reported", err)
	}
	data, rerr := os.ReadFile(csvPath)
	if rerr != nil {
		t.Fatal(rerr)
	}
	recs, cerr := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if cerr != nil || len(recs) != 5 {
		t.Fatalf("CSV %v with %d records: every level must be written", cerr, len(recs))
	}
	if last := recs[4]; last[csvCol(t, recs[0], "Status")] != "failed" || !strings.Contains(last[csvCol(t, recs[0], "Errors")], "Unavailable") {
		t.Errorf("last level %v: want failed with Unavailable errors", last)
	}
	if !strings.Contains(stdout, "failed") {
		t.Errorf("table does not show the failure:\n%s", stdout)
	}
}
