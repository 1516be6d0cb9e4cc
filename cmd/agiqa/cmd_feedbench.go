package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/sample"
	"github.com/agiqa-bench/agiqa/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

func init() {
	register(command{name: "feed-bench", summary: "measure how fast this machine feeds a server: client CPU, bytes and images/s per input mode", run: runFeedBench})
}

type feedBenchFlags struct {
	images, sourcePx, size, models int
	method, input                  string
	batch, concurrency, workers    int
	inProcess                      bool
	target                         float64
}

// Input modes. encoded (server-side decoding through ensembles) plugs in here: a mode that sends
// the file bytes instead of a tensor.
const inputTensor = "tensor"

func runFeedBench(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "feed-bench", `
Usage: agiqa feed-bench [--images N] [--source-px PX] [--size S] [--models N] [flags]

Measures, in one run against the embedded server (started as a child 'agiqa serve' so that
this process's CPU time is the client's alone), how fast the client side feeds a model:
  - images/s, client CPU per image (getrusage) and bytes on the wire per image, for tensor
    inputs in the request, through system shared memory, and from the tensor cache (a
    second model sharing the preprocessing);
  - how many images/s one client core preprocesses (one worker, nothing sent);
  - 'agiqa tables' end-to-end time for --models models sharing (size, method), without and
    with the tensor cache, and the ratio;
  - how many client cores a server scoring --target images/s would need.
The images are the sample dataset's plan rendered as JPEGs at --source-px (0: the sample's
own 192-256 px); the models are native sharpness and contrast baselines at --size.

Example:
  agiqa feed-bench --images 200 --source-px 1024 --size 512 --models 4`)
	var f feedBenchFlags
	fs.IntVar(&f.images, "images", 120, "sample `images` to render")
	fs.IntVar(&f.sourcePx, "source-px", 1024, "render each image at `px` x px (0: the sample's own sizes)")
	fs.IntVar(&f.size, "size", 512, "IMAGE input side `S` of the models")
	fs.StringVar(&f.method, "method", "resize", "preprocessing `method` of the models: resize, resize_center_crop, resize_pad")
	fs.IntVar(&f.models, "models", 4, "`N` models sharing the preprocessing in the tables run")
	fs.StringVar(&f.input, "input", feedBoth, "input `mode`: tensor (decoded and resized here), encoded (the file bytes to an ensemble preprocessing on the server: feed_encoded.go) or both")
	fs.IntVar(&f.batch, "batch", 8, "images per request")
	fs.IntVar(&f.concurrency, "concurrency", 4, "requests in flight")
	fs.IntVar(&f.workers, "workers", runtime.GOMAXPROCS(0), "preprocessing `workers`")
	fs.BoolVar(&f.inProcess, "in-process", false, "run the server in this process (faster to start; the CPU figures then include the server's)")
	fs.Float64Var(&f.target, "target", 2000, "server rate in `images/s` to size the client for")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	switch {
	case f.images < 2*sample.ImagesPerPrompt || f.images > sample.MaxImages:
		// Two prompts at least: the tables run draws a split, which needs two prompt groups.
		return usagef("--images %d: want %d to %d", f.images, 2*sample.ImagesPerPrompt, sample.MaxImages)
	case f.sourcePx < 0 || f.sourcePx > 8192:
		return usagef("--source-px %d: want 0 to 8192", f.sourcePx)
	case f.size < 1 || f.size > 4096:
		return usagef("--size %d: want 1 to 4096", f.size)
	case f.models < 1 || f.models > 32:
		return usagef("--models %d: want 1 to 32", f.models)
	case f.batch < 1 || f.concurrency < 1 || f.workers < 1:
		return usagef("--batch, --concurrency and --workers must be at least 1")
	case f.target <= 0:
		return usagef("--target %v: want a positive rate", f.target)
	case f.input != inputTensor && f.input != inputModeEncoded && f.input != feedBoth:
		return usagef("--input %q: want tensor, encoded or both", f.input)
	}
	m, err := preprocess.ParseMethod(f.method)
	if err != nil || m == preprocess.MethodNative {
		return usagef("--method %q: want resize, resize_center_crop or resize_pad", f.method)
	}
	return feedBench(ctx, io, &f)
}

func feedBench(ctx context.Context, io cmdIO, f *feedBenchFlags) error {
	work, err := os.MkdirTemp("", "agiqa-feed-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ds, err := renderFeedDataset(ctx, filepath.Join(work, "images"), f)
	if err != nil {
		return err
	}
	repoDir := filepath.Join(work, "repo")
	names, err := writeFeedRepo(repoDir, f)
	if err != nil {
		return err
	}
	addr, stop, err := startFeedServer(ctx, io, repoDir, f.inProcess)
	if err != nil {
		return err
	}
	defer stop()
	wire := &wireCounter{}
	c, err := client.New(ctx, addr, client.WithDialOptions(grpc.WithStatsHandler(wire)))
	if err != nil {
		return err
	}
	defer c.Close()

	prep, err := measurePrepOneCore(ctx, ds, f)
	if err != nil {
		return err
	}
	shmErr := runner.ProbeSharedMemory(ctx, c)
	tc, _ := runner.NewTensorCache(runner.TensorCacheOptions{MaxBytes: runner.DefaultTensorCacheBytes})
	type mode struct {
		label string
		model string
		opt   runner.Options
	}
	base := runner.Options{Batch: f.batch, Concurrency: f.concurrency, Workers: f.workers}
	modes := []mode{{"tensor, in the request", names[0], base}}
	withSHM := base
	withSHM.SharedMemory = true
	if shmErr == nil {
		modes = append(modes, mode{"tensor, shared memory", names[0], withSHM})
	}
	cold, warm := withSHM, withSHM
	if shmErr != nil {
		cold, warm = base, base
	}
	cold.TensorCache, warm.TensorCache = tc, tc
	model2 := names[min(1, len(names)-1)]
	modes = append(modes, mode{"tensor, cache filling", names[0], cold}, mode{"tensor, from the cache", model2, warm})
	if f.input == inputModeEncoded {
		modes = nil
	}
	if f.input != inputTensor { // feed_encoded.go: the same images as file bytes to <model>_e2e
		modes = append(modes, mode{"encoded, in the request", feedE2E(names), base})
		if shmErr == nil {
			modes = append(modes, mode{"encoded, shared memory", feedE2E(names), withSHM})
		}
	}
	var rows []feedRow
	for _, md := range modes {
		r, err := measureFeed(ctx, c, wire, md.model, ds, md.opt, work)
		if err != nil {
			return fmt.Errorf("%s: %w", md.label, err)
		}
		r.label = md.label
		rows = append(rows, r)
	}
	shmFlag := shmNone
	if shmErr == nil {
		shmFlag = shmSystem
	}
	without, with, err := measureTables(ctx, addr, work, names, shmFlag)
	if err != nil {
		return err
	}
	printFeedBench(io, f, ds, prep, rows, shmErr, without, with)
	return nil
}

// renderFeedDataset renders the sample's plan at --source-px into dir with a generic labels.csv.
func renderFeedDataset(ctx context.Context, dir string, f *feedBenchFlags) (*dataset.Dataset, error) {
	specs, err := sample.Specs(f.images)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	errs := make([]error, len(specs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(specs) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				sp := specs[i]
				if f.sourcePx > 0 {
					sp.W, sp.H = f.sourcePx, f.sourcePx
				}
				b, err := sample.Render(sp)
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, sp.Image), b, 0o644)
				}
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return nil, fmt.Errorf("rendering the feed-bench images: %w", err)
	}
	var sb strings.Builder
	sb.WriteString("image,prompt,mos,group\n")
	for _, sp := range specs {
		fmt.Fprintf(&sb, "%s,%q,%.4f,%s\n", sp.Image, sp.Prompt, sp.MOS, sp.Group)
	}
	labels := filepath.Join(dir, "labels.csv")
	if err := os.WriteFile(labels, []byte(sb.String()), 0o644); err != nil {
		return nil, err
	}
	return dataset.Load("csv", labels, dir)
}

// writeFeedRepo writes --models native models taking [3,S,S] with --method, alternating the
// sharpness and contrast functions, and returns their names.
func writeFeedRepo(dir string, f *feedBenchFlags) ([]string, error) {
	const config = `name: %q
backend: "native"
max_batch_size: 32
input [ { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, %d, %d ] } ]
output [ { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] } ]
dynamic_batching { max_queue_delay_microseconds: 1000 }
instance_group [ { kind: KIND_CPU count: 2 } ]
parameters { key: "native.function" value: { string_value: %q } }
parameters { key: "agiqa.preprocess" value: { string_value: %q } }
`
	var names []string
	for i := 0; i < f.models; i++ {
		name := fmt.Sprintf("feed_%d", i+1)
		fn := []string{"laplacian_variance", "rms_contrast"}[i%2]
		if err := os.MkdirAll(filepath.Join(dir, name, "1"), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name, "config.pbtxt"), fmt.Appendf(nil, config, name, f.size, f.size, fn, f.method), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name, "1", "model.native"), []byte(fn+"\n"), 0o644); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, writeFeedEnsemble(dir, f, names[0]) // feed_encoded.go
}

// startFeedServer serves repo: as a child 'agiqa serve' (its CPU is not ours), or in process.
func startFeedServer(ctx context.Context, io cmdIO, repo string, inProcess bool) (string, func(), error) {
	if inProcess {
		c, stop, err := connect(ctx, io, nil, repo)
		if err != nil {
			return "", nil, err
		}
		return c.Targets()[0], stop, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("finding the agiqa binary to start the server: %w (or pass --in-process)", err)
	}
	cmd := exec.Command(exe, "serve", "--addr", "127.0.0.1:0", "--repo", repo)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	var serverLog strings.Builder // shown only when the server does not start
	cmd.Stderr = &lockedWriter{w: &serverLog}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting %s serve: %w", exe, err)
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "agiqa serve: listening on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			stop()
			return "", nil, fmt.Errorf("%s serve exited before listening: %s", exe, cmd.Stderr.(*lockedWriter).String())
		}
		return a, stop, nil
	case <-time.After(time.Minute):
		stop()
		return "", nil, fmt.Errorf("%s serve did not listen within a minute", exe)
	case <-ctx.Done():
		stop()
		return "", nil, ctx.Err()
	}
}

// lockedWriter is a strings.Builder written by the child's stderr copier and read by us.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.w.String())
}

// wireCounter counts the bytes gRPC puts on the wire, both ways (stats.Handler).
type wireCounter struct{ sent, received atomic.Int64 }

func (w *wireCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (w *wireCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (w *wireCounter) HandleConn(context.Context, stats.ConnStats)                       {}
func (w *wireCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch p := s.(type) {
	case *stats.OutPayload:
		w.sent.Add(int64(p.WireLength))
	case *stats.InPayload:
		w.received.Add(int64(p.WireLength))
	}
}

// cpuTime is this process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type prepResult struct {
	perSec, cpuMS float64
}

// measurePrepOneCore preprocesses every image on one goroutine as Run does (read, hash, decode,
// resize), sending nothing: what one client core sustains.
func measurePrepOneCore(ctx context.Context, ds *dataset.Dataset, f *feedBenchFlags) (prepResult, error) {
	m, _ := preprocess.ParseMethod(f.method)
	cpu0, t0 := cpuTime(), time.Now()
	for _, it := range ds.Items {
		data, err := preprocess.ReadFile(ctx, it.Path)
		if err != nil {
			return prepResult{}, err
		}
		sha256.Sum256(data)
		if _, err := preprocess.DecodeCHW(data, it.Path, f.size, m); err != nil {
			return prepResult{}, err
		}
	}
	wall, cpu := time.Since(t0), cpuTime()-cpu0
	n := float64(len(ds.Items))
	return prepResult{perSec: n / wall.Seconds(), cpuMS: cpu.Seconds() * 1e3 / n}, nil
}

type feedRow struct {
	label                    string
	perSec, cpuMS, wireBytes float64
	stages                   *runner.StageRates
}

// measureFeed runs one model over the dataset into a fresh prediction cache.
func measureFeed(ctx context.Context, c *client.Client, wire *wireCounter, model string, ds *dataset.Dataset, opt runner.Options, work string) (feedRow, error) {
	m, err := runner.Describe(ctx, c, model)
	if err != nil {
		return feedRow{}, err
	}
	dir, err := os.MkdirTemp(work, "predictions-")
	if err != nil {
		return feedRow{}, err
	}
	cf, err := runner.OpenCache(dir, ds.Name, m, "")
	if err != nil {
		return feedRow{}, err
	}
	defer cf.Close()
	sent0, cpu0, t0 := wire.sent.Load(), cpuTime(), time.Now()
	rep, err := runner.Run(ctx, c, m, "", ds.Items, cf, opt)
	wall, cpu, sent := time.Since(t0), cpuTime()-cpu0, wire.sent.Load()-sent0
	if err != nil {
		return feedRow{}, err
	}
	if rep.Failed > 0 {
		return feedRow{}, fmt.Errorf("model %s: %d images failed; first: %v", model, rep.Failed, rep.Errors[0])
	}
	n := float64(rep.Inferred)
	return feedRow{perSec: n / wall.Seconds(), cpuMS: cpu.Seconds() * 1e3 / n, wireBytes: float64(sent) / n, stages: rep.Stages}, nil
}

// measureTables times 'agiqa tables' over every model, first without the tensor cache, then with it,
// each into a fresh prediction cache.
func measureTables(ctx context.Context, addr, work string, models []string, shm string) (without, with time.Duration, err error) {
	run := func(mb string) (time.Duration, error) {
		dir, err := os.MkdirTemp(work, "tables-")
		if err != nil {
			return 0, err
		}
		args := []string{"--server", addr, "--dataset", "csv=" + filepath.Join(work, "images"), "--models", strings.Join(models, ","),
			"--splits", "1", "--tables", "1", "--cache", filepath.Join(dir, "predictions"), "-o", filepath.Join(dir, "tables.txt"),
			"--tensor-cache-mb", mb, "--shared-memory", shm}
		var sink strings.Builder
		t0 := time.Now()
		if err := runTables(ctx, cmdIO{stdout: &sink, stderr: &sink}, args); err != nil {
			return 0, fmt.Errorf("agiqa tables %s: %w\n%s", strings.Join(args, " "), err, sink.String())
		}
		return time.Since(t0), nil
	}
	if without, err = run("0"); err != nil {
		return 0, 0, err
	}
	with, err = run(fmt.Sprint(runner.DefaultTensorCacheBytes >> 20))
	return without, with, err
}

func printFeedBench(io cmdIO, f *feedBenchFlags, ds *dataset.Dataset, prep prepResult, rows []feedRow, shmErr error, without, with time.Duration) {
	src := fmt.Sprintf("%d x %d px", f.sourcePx, f.sourcePx)
	if f.sourcePx == 0 {
		src = "the sample's own sizes"
	}
	where := "a child 'agiqa serve' (client CPU is this process's alone)"
	if f.inProcess {
		where = "this process (CPU figures include the server's)"
	}
	decoder := "libjpeg-turbo"
	if !preprocess.TurboAvailable() {
		decoder = "pure Go"
	}
	w := io.stdout
	fmt.Fprintf(w, "feed-bench: %d sample JPEGs at %s, IMAGE %d %s, decoded with %s; batch %d, %d in flight, %d workers, %d CPUs; server in %s\n\n",
		len(ds.Items), src, f.size, f.method, decoder, f.batch, f.concurrency, f.workers, runtime.NumCPU(), where)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "input\timages/s\tclient CPU ms/img\twire bytes/img\timg/s per client core\tbottleneck\t")
	for _, r := range rows {
		bn := "-"
		if r.stages != nil && r.stages.Bottleneck != "" {
			bn = fmt.Sprintf("%s (prep %.0f, infer %.0f img/s)", r.stages.Bottleneck, r.stages.Prep, r.stages.Infer)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.0f\t%.0f\t%s\t\n", r.label, r.perSec, r.cpuMS, r.wireBytes, 1e3/r.cpuMS, bn)
	}
	tw.Flush()
	if shmErr != nil {
		fmt.Fprintf(w, "(no shared-memory row: %v)\n", shmErr)
	}
	fmt.Fprintf(w, "\npreprocessing alone, one worker: %.1f images/s (%.2f ms CPU per image)\n", prep.perSec, prep.cpuMS)
	fmt.Fprintf(w, "agiqa tables, %d models sharing %d %s: %.2f s without the tensor cache, %.2f s with it: %.2fx\n",
		f.models, f.size, f.method, without.Seconds(), with.Seconds(), without.Seconds()/with.Seconds())
	printEncodedRatios(w, rows) // feed_encoded.go
	fmt.Fprintf(w, "\nclient cores to keep a server at %.0f images/s busy:\n", f.target)
	fmt.Fprintf(w, "  preprocessing alone: %.1f\n", f.target/(1e3/prep.cpuMS))
	for _, r := range rows {
		fmt.Fprintf(w, "  %s: %.1f\n", r.label, math.Ceil(f.target*r.cpuMS/1e3*10)/10)
	}
}
