package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

func init() {
	register(command{name: "serve", summary: "run the embedded inference server (Triton's gRPC protocol)", run: runServe})
}

func runServe(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "serve", `
Usage: agiqa serve [--addr 127.0.0.1:8001] [--repo DIR]

Serves a Triton-layout model repository over Triton's gRPC protocol (KServe v2)
until SIGINT or SIGTERM, then drains in-flight requests. Without --repo it
serves the built-in models (the native sharpness and contrast baselines). Native Go models
always run; ONNX models run through ONNX Runtime when its library is found
($AGIQA_ORT_LIB), and report not ready with the reason otherwise.

Example:
  agiqa serve --addr 127.0.0.1:8001 --repo modelrepo/models`)
	addr := fs.String("addr", server.DefaultAddr, "`host:port` to listen on (loopback by default)")
	repo := fs.String("repo", "", "model repository `dir` (default: built-in models)")
	verbose := fs.Bool("v", false, "log model loads and errors to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	var logw = io.stderr
	if !*verbose {
		logw = nil
	}
	srv, err := newEmbeddedServer(*repo, logw)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(io.stdout, "agiqa serve: listening on %s\n", lis.Addr())
	if f, ok := io.stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
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
	return stopErr
}
