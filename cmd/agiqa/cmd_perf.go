package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/perf"
	"github.com/agiqa-bench/agiqa/bench/perf/telemetry"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/sample"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
)

func init() {
	register(command{name: "perf", summary: "measure throughput and latency of a served model (perf_analyzer-style sweeps)", run: runPerf})
}

type perfFlags struct {
	servers, metricsURLs, shapes        multiFlag
	repo, model, version                string
	concurrency, rate, batch, arrival   string
	maxInflight, warmup, windowRequests int
	maxTrials, connections, samples     int
	window, timeout                     time.Duration
	stability, percentile               float64
	input, datasetSpec, clipVocab, shm  string
	bertVocab                           string
	inputMode                           string // input_mode.go: tensor or encoded
	onError, format, csvPath, jsonPath  string
	plotDir                             string
	seed                                uint64
	quiet                               bool
}

func runPerf(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "perf", `
Usage: agiqa perf [--server ADDR ...] --model NAME [--version V]
                  [--concurrency LIST | --rate LIST] [--batch LIST] [flags]

Measures how fast a server answers ModelInfer for one model, as Triton's
perf_analyzer does: for each batch size and load level it sends --warmup
requests, then measures windows (--window long, or --window-requests
requests) until the last 3 agree within --stability percent on throughput and
latency, or --max-trials windows have run ("unstable"). A window with errors
fails its level; --on-error decides whether the sweep goes on. Whatever was
measured is written even when the sweep stops early.

Load: --concurrency keeps N requests in flight per server (closed loop);
--rate sends N requests/s per server on a schedule (open loop, constant or
Poisson arrivals), latency counted from each request's scheduled time.
LIST is 1,2,4,8 or START:END[:STEP] with STEP n or xFACTOR (1:64:x2).

Inputs are built before the clock starts: real preprocessed images and
prompts from --dataset (the default when one is given), random or zeros.
--shared-memory system writes them once to /dev/shm and registers the region
(same host only; Triton needs --allow-client-shm=true). Several --server
targets are driven together; figures are given per server and in total.
GPU utilisation, memory and power come from Triton's metrics endpoint
(--metrics-url; default port 8002 on each server's host).
Without --server an embedded server is started in-process (built-in models,
or --repo DIR).

Example:
  agiqa perf --model sharpness_laplacian --concurrency 1:8:x2 --batch 1,8
  agiqa perf --server gpu1:8001 --model ipiqa_agiqa3k --dataset agiqa-3k=~/data/AGIQA-3k --rate 100:500:100 --arrival poisson --csv perf.csv --plots plots/`)
	var f perfFlags
	fs.Var(&f.servers, "server", "Triton gRPC `address` (repeat or comma-separate to drive several); empty: embedded server")
	fs.StringVar(&f.repo, "repo", "", "model repository `dir` for the embedded server (default: built-in models)")
	fs.StringVar(&f.model, "model", "", "model `name` (required)")
	fs.StringVar(&f.version, "version", "", "model `version` (default: the server's choice)")
	fs.StringVar(&f.concurrency, "concurrency", "", "closed-loop `levels`: requests in flight per server (default 1)")
	fs.StringVar(&f.rate, "rate", "", "open-loop `levels`: requests per second per server")
	fs.StringVar(&f.arrival, "arrival", "constant", "open-loop `arrivals`: constant or poisson")
	fs.IntVar(&f.maxInflight, "max-inflight", perf.DefaultMaxInflight, "open loop: most requests in flight per server")
	fs.StringVar(&f.batch, "batch", "1", "client-side batch `sizes`")
	fs.IntVar(&f.warmup, "warmup", perf.DefaultWarmup, "warm-up `requests` per level, not measured")
	fs.DurationVar(&f.window, "window", perf.DefaultWindow, "measurement window `length`")
	fs.IntVar(&f.windowRequests, "window-requests", 0, "end each window after `N` requests instead of --window")
	fs.Float64Var(&f.stability, "stability", perf.DefaultStability, "stability tolerance in `percent`")
	fs.Float64Var(&f.percentile, "percentile", 0, "latency `percentile` the stability check uses (0: mean)")
	fs.IntVar(&f.maxTrials, "max-trials", perf.DefaultMaxTrials, "most `windows` per level before it is called unstable")
	fs.StringVar(&f.inputMode, "input", inputModeTensor, "IMAGE `mode`: tensor (send --model's preprocessed tensors) or encoded (send the image files' bytes to its <model>_e2e ensemble, <model>_e2e_v<version> for a per-split model's --version; needs --dataset)")
	fs.StringVar(&f.input, "input-data", "", "request `data`: dataset, random or zeros (default dataset with --dataset, else random)")
	fs.StringVar(&f.datasetSpec, "dataset", "", "`NAME=DIR` of a dataset for real inputs, or sample (the built-in one, in $AGIQA_CACHE/sample)")
	fs.IntVar(&f.samples, "samples", 32, "dataset `images` to preprocess and cycle through")
	fs.StringVar(&f.clipVocab, "clip-vocab", "", "CLIP BPE vocabulary `file` for prompt models (default $AGIQA_CLIP_VOCAB or the cache)")
	fs.StringVar(&f.bertVocab, "bert-vocab", "", bertVocabUsage)
	fs.Var(&f.shapes, "shape", "`NAME:D1,D2,...` shape of an input with variable dimensions (repeatable)")
	fs.Uint64Var(&f.seed, "seed", 1, "`seed` of random inputs and Poisson arrivals")
	fs.StringVar(&f.shm, "shared-memory", "none", "input `transport`: none or system")
	fs.IntVar(&f.connections, "connections", 1, "gRPC `connections` per server")
	fs.DurationVar(&f.timeout, "timeout", perf.DefaultTimeout, "per-request `timeout`")
	fs.StringVar(&f.onError, "on-error", "stop", "after a failed level: stop or continue")
	fs.Var(&f.metricsURLs, "metrics-url", "Prometheus `URL` per server (repeat or comma-separate; none: off)")
	fs.StringVar(&f.format, "format", "table", "stdout `format`: table (or text, as other commands call it), csv or json")
	fs.StringVar(&f.csvPath, "csv", "", "also write the CSV to `file`")
	fs.StringVar(&f.jsonPath, "json", "", "also write the JSON to `file`")
	fs.StringVar(&f.plotDir, "plots", "", "write throughput/latency PNGs into `dir`")
	fs.StringVar(&f.plotDir, "plot", "", "same as --plots `dir`")
	fs.BoolVar(&f.quiet, "q", false, "no progress on stderr")
	limits := addLimitFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if err := limits.apply(); err != nil {
		return err
	}
	return perfRun(ctx, io, &f)
}

// perfConfig turns flags into a perf.Config; errors name the flag.
func perfConfig(f *perfFlags) (perf.Config, error) {
	cfg := perf.Config{
		Model: f.model, Version: f.version, Arrival: perf.Arrival(f.arrival), MaxInflight: f.maxInflight,
		Warmup: f.warmup, Window: f.window, WindowRequests: f.windowRequests, Stability: f.stability,
		Percentile: f.percentile, MaxTrials: f.maxTrials, Input: perf.InputData(f.input), Seed: f.seed,
		SharedMemory: perf.SharedMemory(f.shm), Connections: f.connections, Timeout: f.timeout,
		OnError: perf.OnError(f.onError),
	}
	if f.model == "" {
		return cfg, usagef("--model: no model given")
	}
	switch f.format {
	case "table", "text", "csv", "json":
	default:
		return cfg, usagef("--format %q: want table (or text), csv or json", f.format)
	}
	var err error
	if f.concurrency != "" && f.rate != "" {
		return cfg, usagef("--concurrency and --rate: give one load mode, not both")
	}
	if f.rate != "" {
		if cfg.Rates, err = parseRateLevels("rate", f.rate); err != nil {
			return cfg, usagef("%v", err)
		}
	} else if f.concurrency != "" {
		if cfg.Concurrency, err = parseIntLevels("concurrency", f.concurrency); err != nil {
			return cfg, usagef("%v", err)
		}
	}
	if cfg.Batches, err = parseIntLevels("batch", f.batch); err != nil {
		return cfg, usagef("%v", err)
	}
	// Flags whose zero means "default" in perf.Config must be refused here.
	for _, c := range []struct {
		name  string
		value any
		bad   bool
	}{
		{"--window", f.window, f.window <= 0}, {"--timeout", f.timeout, f.timeout <= 0}, {"--max-inflight", f.maxInflight, f.maxInflight < 1},
		{"--connections", f.connections, f.connections < 1}, {"--stability", f.stability, !(f.stability > 0)}, {"--max-trials", f.maxTrials, f.maxTrials < 1},
		{"--samples", f.samples, f.samples < 1},
	} {
		if c.bad {
			return cfg, usagef("%s %v: must be > 0", c.name, c.value)
		}
	}
	// The rest of what perf.Run would refuse (as a plain error, exit 1, after
	// starting a server), refused here as the usage errors they are.
	switch {
	case f.warmup < 0:
		return cfg, usagef("--warmup %d: want 0 or more", f.warmup)
	case cfg.OnError != perf.OnErrorStop && cfg.OnError != perf.OnErrorContinue:
		return cfg, usagef("--on-error %q: want %s or %s", f.onError, perf.OnErrorStop, perf.OnErrorContinue)
	case cfg.Arrival != perf.ArrivalConstant && cfg.Arrival != perf.ArrivalPoisson:
		return cfg, usagef("--arrival %q: want %s or %s", f.arrival, perf.ArrivalConstant, perf.ArrivalPoisson)
	case cfg.SharedMemory != perf.SharedMemoryNone && cfg.SharedMemory != perf.SharedMemorySystem:
		return cfg, usagef("--shared-memory %q: want %s or %s", f.shm, perf.SharedMemoryNone, perf.SharedMemorySystem)
	case cfg.Input != "" && cfg.Input != perf.InputDataset && cfg.Input != perf.InputRandom && cfg.Input != perf.InputZeros:
		return cfg, usagef("--input-data %q: want %s, %s or %s", f.input, perf.InputDataset, perf.InputRandom, perf.InputZeros)
	case cfg.Input == perf.InputDataset && f.datasetSpec == "":
		return cfg, usagef("--input-data dataset: no dataset given; add --dataset NAME=DIR")
	case f.windowRequests < 0:
		return cfg, usagef("--window-requests %d: want 0 or more", f.windowRequests)
	case f.stability >= 100:
		return cfg, usagef("--stability %v: want a percentage in (0, 100)", f.stability)
	case !(f.percentile >= 0 && f.percentile <= 100):
		return cfg, usagef("--percentile %v: want 0 (mean) or a percentile in (0, 100]", f.percentile)
	case f.maxTrials < perf.StableWindows:
		return cfg, usagef("--max-trials %d: want at least %d (the stability check needs %d windows)", f.maxTrials, perf.StableWindows, perf.StableWindows)
	}
	if f.datasetSpec != "" {
		src, err := parseDatasetSpec(f.datasetSpec)
		if err != nil {
			return cfg, err
		}
		if err := src.check(); err != nil {
			return cfg, err
		}
	}
	for _, o := range []struct{ flag, path string }{{"--csv", f.csvPath}, {"--json", f.jsonPath}} {
		if err := checkOutputFile(o.flag, o.path); err != nil {
			return cfg, err
		}
	}
	if err := checkOutputDir("--plots", f.plotDir); err != nil {
		return cfg, err
	}
	return cfg, perfShapesAndTargets(f, &cfg)
}

// perfShapesAndTargets parses --shape, --server and --metrics-url into cfg.
func perfShapesAndTargets(f *perfFlags, cfg *perf.Config) error {
	if len(f.shapes) > 0 {
		cfg.Shapes = map[string][]int64{}
		for _, s := range f.shapes {
			name, dims, ok := strings.Cut(s, ":")
			if !ok || name == "" || dims == "" {
				return usagef("--shape %q: want NAME:D1,D2,...", s)
			}
			var shape []int64
			for _, d := range strings.Split(dims, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(d), 10, 64)
				if err != nil || n < 1 {
					return usagef("--shape %q: dimension %q is not a positive integer", s, d)
				}
				shape = append(shape, n)
			}
			cfg.Shapes[name] = shape
		}
	}
	for _, s := range f.servers {
		for _, t := range strings.Split(s, ",") {
			if t = strings.TrimSpace(t); t == "" {
				return usagef("--server %q: empty address in the list", s)
			}
			if err := client.CheckTarget(t); err != nil {
				return usagef("--server: %v", err)
			}
			cfg.Targets = append(cfg.Targets, t)
		}
	}
	for _, s := range f.metricsURLs {
		for _, u := range strings.Split(s, ",") {
			cfg.MetricsURLs = append(cfg.MetricsURLs, strings.TrimSpace(u))
		}
	}
	off := len(cfg.MetricsURLs) == 1 && cfg.MetricsURLs[0] == "none"
	switch n := len(cfg.MetricsURLs); {
	case off:
	case n > 0 && len(cfg.Targets) == 0:
		return usagef("--metrics-url: the embedded server has no metrics endpoint (give --server, or leave --metrics-url out)")
	case slices.Contains(cfg.MetricsURLs, ""):
		return usagef("--metrics-url %q: empty URL in the list", strings.Join(f.metricsURLs, ","))
	case n > 1 && n != len(cfg.Targets):
		return usagef("--metrics-url: %d URLs for %d servers; give one per server or one for all", n, len(cfg.Targets))
	}
	return nil
}

// perfFlagNames names the flag that sets each perf.Config field, so that the
// library's errors (which name fields) reach the user as flag errors.
var perfFlagNames = map[string]string{
	"Targets": "--server", "Model": "--model", "Version": "--version",
	"Concurrency": "--concurrency", "Rates": "--rate", "Arrival": "--arrival", "MaxInflight": "--max-inflight",
	"Batches": "--batch", "Warmup": "--warmup", "Window": "--window", "WindowRequests": "--window-requests",
	"Stability": "--stability", "Percentile": "--percentile", "MaxTrials": "--max-trials",
	"Input": "--input-data", "Samples": "--dataset", "Shapes": "--shape", "Seed": "--seed",
	"SharedMemory": "--shared-memory", "Connections": "--connections", "Timeout": "--timeout",
	"OnError": "--on-error", "MetricsURLs": "--metrics-url",
}

// perfFlagError rewrites a perf.FieldError inside err to name the field's
// flag, keeping whatever context wraps it, and says how to go on past a
// failed level.
func perfFlagError(err error, cfg perf.Config) error {
	var fe *perf.FieldError
	if errors.As(err, &fe) {
		if name, ok := perfFlagNames[fe.Field]; ok {
			return &flagError{msg: strings.Replace(err.Error(), fe.Error(), fe.Rename(name), 1), err: err}
		}
	}
	if errors.Is(err, perf.ErrLevelsFailed) && cfg.OnError != perf.OnErrorContinue {
		return fmt.Errorf("%w; --on-error continue measures the other levels", err)
	}
	return err
}

// flagError is err with its message rewritten for the command line; errors.Is
// and errors.As still see err.
type flagError struct {
	msg string
	err error
}

func (e *flagError) Error() string { return e.msg }
func (e *flagError) Unwrap() error { return e.err }

func perfRun(ctx context.Context, io cmdIO, f *perfFlags) error {
	if err := perfEncoded(f); err != nil { // input_mode.go
		return err
	}
	cfg, err := perfConfig(f)
	if err != nil {
		return err
	}
	// The dataset is read before a server starts: a wrong folder costs nothing.
	var ds *dataset.Dataset
	if f.datasetSpec != "" {
		src, _ := parseDatasetSpec(f.datasetSpec) // checked by perfConfig
		// The sample is generated only as far as --samples reaches.
		if ds, err = src.resolve(ctx, min(f.samples, sample.MaxImages), true); err != nil {
			return err
		}
	}
	if len(cfg.MetricsURLs) == 1 && cfg.MetricsURLs[0] == "none" {
		cfg.MetricsURLs = nil
	} else if len(cfg.MetricsURLs) == 0 && len(cfg.Targets) > 0 {
		for _, t := range cfg.Targets {
			cfg.MetricsURLs = append(cfg.MetricsURLs, telemetry.DefaultURL(t))
		}
	}
	if len(cfg.Targets) == 0 {
		// The embedded server has no metrics endpoint: nothing to scrape.
		addr, stop, err := startEmbedded(f.repo)
		if err != nil {
			return err
		}
		defer stop(io)
		cfg.Targets = []string{addr}
	} else if f.repo != "" {
		return usagef("--repo: only for the embedded server, not with --server")
	}
	if ds != nil {
		if cfg.Samples, err = perfSamples(ctx, io, f, ds, cfg.Targets[0]); err != nil {
			return err
		}
	}
	if !f.quiet {
		cfg.Logf = func(format string, args ...any) { fmt.Fprintf(io.stderr, format+"\n", args...) }
		cfg.Progress = func(ev perf.Event) { perfProgress(io, ev) }
	}
	rep, runErr := perf.Run(ctx, cfg)
	runErr = perfFlagError(runErr, cfg)
	if rep == nil {
		return runErr
	}
	if err := perfWrite(io, f, rep); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

// startEmbedded serves the repository on a loopback port for the run.
func startEmbedded(repo string) (string, func(cmdIO), error) {
	srv, err := newEmbeddedServer(repo, nil)
	if err != nil {
		return "", nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go srv.Serve(lis)
	return lis.Addr().String(), func(io cmdIO) {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.GracefulStop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(io.stderr, "embedded server stop: %v\n", err)
		}
	}, nil
}

// perfSamples preprocesses the first --samples images (and prompts) of ds
// the way the model's config asks, before any load.
func perfSamples(ctx context.Context, io cmdIO, f *perfFlags, ds *dataset.Dataset, target string) ([]perf.Sample, error) {
	c, err := dialServer(ctx, target)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	m, err := runner.Describe(ctx, c, f.model)
	if err != nil {
		return nil, fmt.Errorf("--dataset needs a model with the IMAGE/TOKENS contract: %w", err)
	}
	tok, err := loadTokenizers([]*runner.Model{m}, f.clipVocab, f.bertVocab)
	if err != nil {
		return nil, err
	}
	n := min(f.samples, len(ds.Items))
	out := make([]perf.Sample, 0, n)
	for _, it := range ds.Items[:n] {
		var s perf.Sample
		if m.Encoded {
			s, err = encodedSample(ctx, it) // input_mode.go
		} else {
			var img []byte
			img, err = preprocess.LoadTensor(it.Path, m.ImageSize, m.Preprocess)
			s = perf.Sample{Name: it.Image, Image: img}
		}
		if err != nil {
			return nil, fmt.Errorf("--dataset %s: %w", ds.Name, err)
		}
		if m.Prompt {
			s.Tokens, s.Mask, _ = tok.Encode(m, m.PromptPrefix+it.Prompt)
		}
		out = append(out, s)
	}
	if !f.quiet {
		fmt.Fprintf(io.stderr, "prepared %d %s images at %dx%d (%s)\n", len(out), ds.Name, m.ImageSize, m.ImageSize, m.Preprocess)
	}
	return out, nil
}

func perfProgress(io cmdIO, ev perf.Event) {
	l := ev.Level
	load := fmt.Sprintf("concurrency %d", l.Concurrency)
	if l.Rate > 0 {
		load = fmt.Sprintf("rate %g/s", l.Rate)
	}
	if ev.Window != nil {
		m := ev.Window.Total.Client
		status := ""
		if ev.Window.Failed {
			status = " FAILED"
		}
		fmt.Fprintf(io.stderr, "batch %d %s window %d: %.1f infer/s, mean %.3f ms, p99 %.3f ms, %d errors%s\n",
			l.Batch, load, ev.Window.Index, m.InferencesPerSec, m.Latency.MeanUS/1e3, m.Latency.P99US/1e3, m.ErrorCount(), status)
		return
	}
	m := l.Total.Client
	fmt.Fprintf(io.stderr, "batch %d %s: %s, %.1f infer/s, p99 %.3f ms\n", l.Batch, load, l.Status, m.InferencesPerSec, m.Latency.P99US/1e3)
}

// perfWrite writes the report to stdout and the requested files.
func perfWrite(cio cmdIO, f *perfFlags, rep *perf.Report) error {
	var err error
	switch f.format {
	case "csv":
		err = perf.WriteCSV(cio.stdout, rep)
	case "json":
		err = perf.WriteJSON(cio.stdout, rep)
	default:
		err = perf.WriteTable(cio.stdout, rep)
	}
	// Each file is written whole or not at all, and one that fails (or a
	// closed stdout) does not keep the others from being written: the
	// measurement cannot be redone for free.
	errs := []error{err}
	writeFile := func(flag, path string, w func(io.Writer) error) {
		var buf bytes.Buffer
		err := w(&buf)
		if err == nil {
			err = atomicfile.WriteFile(path, buf.Bytes())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", flag, path, err))
		}
	}
	if f.csvPath != "" {
		writeFile("--csv", f.csvPath, func(w io.Writer) error { return perf.WriteCSV(w, rep) })
	}
	if f.jsonPath != "" {
		writeFile("--json", f.jsonPath, func(w io.Writer) error { return perf.WriteJSON(w, rep) })
	}
	if f.plotDir != "" {
		paths, err := perf.WritePlots(f.plotDir, rep)
		if !f.quiet {
			for _, p := range paths {
				fmt.Fprintf(cio.stderr, "wrote %s\n", filepath.Clean(p))
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--plots %s: %w", f.plotDir, err))
		}
	}
	return errors.Join(errs...)
}
