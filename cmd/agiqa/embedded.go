package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"time"

	"github.com/agiqa-bench/agiqa/baselines"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/internal/overlayfs"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// openRepository opens dir, or the built-in repository when dir is empty, with the model folders
// of each trained folder (the SVRs tables trains on the sample) beside the built-in ones.
func openRepository(dir string, trained ...string) (*modelrepo.Repository, error) {
	if dir != "" {
		return modelrepo.Open(dir)
	}
	layers := []fs.FS{baselines.BuiltinRepository()}
	label := "built-in models"
	for _, t := range trained {
		if t == "" {
			continue
		}
		if _, err := os.Stat(t); err != nil {
			continue // nothing was trained
		}
		layers = append(layers, os.DirFS(t))
		label += " + " + t
	}
	if len(layers) == 1 {
		return modelrepo.OpenFS(layers[0], label)
	}
	return modelrepo.OpenFS(overlayfs.New(layers...), label)
}

// newEmbeddedServer builds the in-process server: native Go models, Triton
// Python-backend models that name a native.function (the sharpness and
// contrast baselines have both forms), and ONNX models through ONNX Runtime
// when its library loads.
func newEmbeddedServer(repoDir string, logw io.Writer, trained ...string) (*server.Server, error) {
	return newEmbeddedServerWith(repoDir, logw, nil, trained...)
}

// newEmbeddedServerWith is newEmbeddedServer with extra server options (agiqa serve's limits).
func newEmbeddedServerWith(repoDir string, logw io.Writer, extra []server.Option, trained ...string) (*server.Server, error) {
	if err := checkRepoDir(repoDir); err != nil {
		return nil, err
	}
	repo, err := openRepository(repoDir, trained...)
	if err != nil {
		return nil, err
	}
	opts := []server.Option{
		server.WithBackend("python", server.NativeBackend{}),
		server.WithVersion(versionString()),
	}
	opts = append(opts, extraBackends(logw)...)
	if logw != nil {
		opts = append(opts, server.WithLogger(logw))
	}
	return server.New(repo, append(opts, extra...)...)
}

// extraBackends is where optional backends (ONNX Runtime) plug in.
var extraBackends = func(io.Writer) []server.Option { return nil }

// connectTimeout bounds each connection attempt of the CLI's clients: a wrong
// address, or a port that accepts but is not a gRPC server, fails in seconds
// rather than after gRPC's default 20 s.
const connectTimeout = 5 * time.Second

// dialServer is client.New for the --server flag: the connect timeout above,
// and errors in the address reported against the flag.
func dialServer(ctx context.Context, target string, opts ...client.Option) (*client.Client, error) {
	if err := checkServers([]string{target}); err != nil {
		return nil, err
	}
	c, err := client.New(ctx, target, append([]client.Option{client.WithConnectTimeout(connectTimeout)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	return c, nil
}

// connect returns a client for the given servers, or starts an embedded server
// on a loopback port and connects to it. stop shuts down what was started.
func connect(ctx context.Context, io cmdIO, servers []string, repoDir string, trained ...string) (c *client.Client, stop func(), err error) {
	if len(servers) > 0 {
		c, err := dialServer(ctx, servers[0], client.WithTargets(servers[1:]...))
		if err != nil {
			return nil, nil, err
		}
		if _, err := c.Live(ctx); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("server %v is not answering: %w", servers, err)
		}
		return c, func() { c.Close() }, nil
	}
	srv, err := newEmbeddedServer(repoDir, nil, trained...)
	if err != nil {
		return nil, nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go srv.Serve(lis)
	c, err = client.New(ctx, lis.Addr().String())
	if err != nil {
		srv.GracefulStop(context.Background())
		return nil, nil, err
	}
	return c, func() {
		c.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.GracefulStop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(io.stderr, "embedded server stop: %v\n", err)
		}
	}, nil
}

// noteJPEGDecoder says once, on stderr, when JPEGs will be decoded by the
// pure-Go fallback: it can differ from Pillow (what training used) by up to 3
// grey levels, so scores can move slightly.
func noteJPEGDecoder(stderr io.Writer) {
	if reason := preprocess.TurboUnavailableReason(); reason != "" {
		fmt.Fprintf(stderr, "note: JPEGs are decoded in pure Go (up to 3 grey levels from Pillow): %s\n", reason)
	}
}
