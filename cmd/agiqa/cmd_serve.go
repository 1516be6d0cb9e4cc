package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

func init() {
	register(command{name: "serve", summary: "run the embedded inference server (Triton's gRPC protocol)", run: runServe})
}

func runServe(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "serve", `
Usage: agiqa serve [--addr 127.0.0.1:8001] [--http-addr 127.0.0.1:8000] [--metrics-addr 127.0.0.1:8002] [--repo DIR]

Serves a Triton-layout model repository over Triton's gRPC protocol (KServe v2)
and its HTTP/REST protocol (--http-addr; the same models, queues and statistics),
with Triton's Prometheus metrics at http://--metrics-addr/metrics,
until SIGINT or SIGTERM, then drains in-flight requests (a second signal exits
at once). Without --repo it serves the built-in models (the native sharpness
and contrast baselines). Native Go models always run; ONNX models run through ONNX Runtime when its library is found
($AGIQA_ORT_LIB), and report not ready with the reason otherwise. At start,
stderr says how many models are ready and why each other one is not.

Example:
  agiqa serve --addr 127.0.0.1:8001 --repo modelrepo/models`)
	addr := fs.String("addr", server.DefaultAddr, "`host:port` to listen on (loopback by default)")
	httpAddr := fs.String("http-addr", server.DefaultHTTPAddr, "`host:port` of the KServe v2 HTTP/REST endpoint (loopback by default; empty disables it; when --addr has port 0 and this flag is not given, an ephemeral port too)")
	metricsAddr := fs.String("metrics-addr", server.DefaultMetricsAddr, "`host:port` of the Prometheus metrics endpoint, path /metrics (loopback by default; empty disables it; beside an --addr with port 0 and not given, an ephemeral port)")
	repo := fs.String("repo", "", "model repository `dir` (default: built-in models)")
	verbose := fs.Bool("v", false, "log model loads and errors to stderr")
	shmRegions := fs.Int("shm-max-regions", server.DefaultSHMRegions, "most system shared-memory `regions` registered at once (each is one mmap)")
	shmBytes := fs.Uint64("shm-max-bytes", server.DefaultSHMBytes, "most `bytes` of system shared memory mapped at once")
	maxMsg := fs.Int("max-message-bytes", server.DefaultMaxMessageSize, "largest request or response message in `bytes`; a larger request fails with ResourceExhausted")
	streamInFlight := fs.Int("stream-max-inflight", server.DefaultStreamInFlight, "most `requests` of one ModelStreamInfer stream in flight; past it the stream stops reading until a response is sent")
	inFlight := fs.Int("max-inflight", server.DefaultInFlightTotal, "most stream `requests` in flight over all streams, and most concurrent RPCs per connection")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *shmRegions < 1 || *shmBytes < 1 {
		return usagef("--shm-max-regions %d, --shm-max-bytes %d: both must be at least 1", *shmRegions, *shmBytes)
	}
	if *maxMsg < 1 {
		return usagef("--max-message-bytes %d must be at least 1", *maxMsg)
	}
	if *streamInFlight < 1 || *inFlight < 1 {
		return usagef("--stream-max-inflight %d, --max-inflight %d: both must be at least 1", *streamInFlight, *inFlight)
	}
	var logw = io.stderr
	if !*verbose {
		logw = nil
	}
	// Listen first: a taken port is found before the models load.
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", *addr, err)
	}
	hlis, err := listenBeside(fs, "http-addr", *addr, *httpAddr)
	if err != nil {
		lis.Close()
		return err
	}
	mlis, err := listenBeside(fs, "metrics-addr", *addr, *metricsAddr)
	if err != nil {
		lis.Close()
		if hlis != nil {
			hlis.Close()
		}
		return err
	}
	srv, err := newEmbeddedServerWith(*repo, logw, []server.Option{server.WithSharedMemoryLimits(*shmRegions, *shmBytes),
		server.WithInFlightLimits(*streamInFlight, *inFlight), server.WithMaxMessageSize(*maxMsg)})
	if err != nil {
		lis.Close()
		if hlis != nil {
			hlis.Close()
		}
		if mlis != nil {
			mlis.Close()
		}
		return err
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(lis) }()
	if hlis != nil {
		go func() { errc <- srv.ServeHTTPAPI(hlis) }()
	}
	if mlis != nil {
		go func() { errc <- srv.ServeMetrics(mlis) }()
	}
	// Which models will not answer, and why, before the address line: a
	// repository whose ONNX files are missing (or whose ONNX Runtime is)
	// must not look like a healthy one until the first request fails.
	if err := reportModelStates(ctx, io, lis.Addr().String()); err != nil {
		fmt.Fprintf(io.stderr, "agiqa serve: cannot list the models: %v\n", err)
	}
	fmt.Fprintf(io.stdout, "agiqa serve: listening on %s\n", lis.Addr())
	if hlis != nil {
		fmt.Fprintf(io.stdout, "agiqa serve: HTTP listening on %s\n", hlis.Addr())
	}
	if mlis != nil {
		fmt.Fprintf(io.stdout, "agiqa serve: metrics on http://%s%s\n", mlis.Addr(), server.MetricsPath)
	}
	if f, ok := io.stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(io.stderr, "agiqa serve: stopping, draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stopErr := srv.GracefulStop(sctx)
	if err := <-errc; err != nil {
		return err
	}
	if hlis != nil {
		if err := <-errc; err != nil {
			return err
		}
	}
	if mlis != nil {
		if err := <-errc; err != nil {
			return err
		}
	}
	return stopErr
}

// listenBeside listens for a second endpoint (HTTP/REST, metrics) given by the flag named flagName
// (nil when its address is empty). Left at its default beside an --addr with port 0, it takes an
// ephemeral port on --addr's host too, so that servers started for tests or side by side do not
// fight over 8000 and 8002.
func listenBeside(fs *flag.FlagSet, flagName, addr, value string) (net.Listener, error) {
	if value == "" {
		return nil, nil
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == flagName })
	if host, port, err := net.SplitHostPort(addr); !given && err == nil && port == "0" {
		value = net.JoinHostPort(host, "0")
	}
	l, err := net.Listen("tcp", value)
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w", flagName, value, err)
	}
	return l, nil
}

// reportModelStates asks the server just started at addr for its repository
// index and writes how many models are ready, then each model or version that
// is not, with its reason.
func reportModelStates(ctx context.Context, io cmdIO, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	c, err := client.New(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	idx, err := c.RepositoryIndex(ctx, false)
	if err != nil {
		return err
	}
	var names []string
	ready := map[string]bool{}
	var notReady []string
	for _, e := range idx {
		if !slices.Contains(names, e.GetName()) {
			names = append(names, e.GetName())
		}
		if e.GetState() == "READY" {
			continue // ready or not is ModelReady's answer, below
		}
		what := "model " + e.GetName()
		if e.GetVersion() != "" {
			what += " version " + e.GetVersion()
		}
		reason := e.GetReason()
		if reason == "" {
			reason = strings.ToLower(e.GetState())
		}
		notReady = append(notReady, fmt.Sprintf("agiqa serve: %s not ready: %s", what, reason))
	}
	for _, n := range names {
		ok, err := c.ModelReady(ctx, n, "")
		if err != nil {
			return err
		}
		ready[n] = ok
	}
	nready := 0
	for _, ok := range ready {
		if ok {
			nready++
		}
	}
	fmt.Fprintf(io.stderr, "agiqa serve: %d of %d models ready\n", nready, len(names))
	for _, l := range notReady {
		fmt.Fprintln(io.stderr, l)
	}
	return nil
}
