package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/client"
)

// --shared-memory values of tables (perf's none and system, plus auto).
const (
	shmAuto   = "auto"
	shmSystem = "system"
	shmNone   = "none"
)

// feedFlags are how a run feeds the server: the tensor cache shared by models with one (size,
// method) and the transport of the inputs.
type feedFlags struct {
	cacheMB  int64
	cacheDir string
	shm      string
}

func addFeedFlags(fs *flag.FlagSet) *feedFlags {
	f := &feedFlags{}
	fs.Int64Var(&f.cacheMB, "tensor-cache-mb", runner.DefaultTensorCacheBytes>>20,
		"keep up to `MiB` of preprocessed images in memory, so models sharing a size and resize method decode each image once (0: none)")
	fs.StringVar(&f.cacheDir, "tensor-cache-dir", "", "also keep preprocessed images in `dir`, for later runs (never evicted: delete it to reclaim the space)")
	fs.StringVar(&f.shm, "shared-memory", shmAuto,
		"input `transport`: system (POSIX shared memory; the server must be on this host), none (in the request), or auto (system for a server on this host when it can map it, else none)")
	return f
}

func (f *feedFlags) check() error {
	if f == nil {
		return nil
	}
	if f.cacheMB < 0 || f.cacheMB > 1<<30 {
		return usagef("--tensor-cache-mb %d: want 0 to %d", f.cacheMB, int64(1)<<30)
	}
	switch f.shm {
	case shmAuto, shmSystem, shmNone:
	default:
		return usagef("--shared-memory %q: want %s, %s or %s", f.shm, shmAuto, shmSystem, shmNone)
	}
	if f.cacheDir != "" {
		if err := checkOutputDir("--tensor-cache-dir", f.cacheDir); err != nil {
			return err
		}
	}
	return nil
}

// apply sets opt's tensor cache and transport. servers are the --server addresses (none: the
// embedded server, which is on this host). With auto, a server that cannot map this process's shared
// memory is fed in the request, and stderr says so; with system that is an error.
func (f *feedFlags) apply(ctx context.Context, io cmdIO, c *client.Client, servers []string, opt *runner.Options) error {
	if f == nil {
		return nil
	}
	if f.cacheMB > 0 || f.cacheDir != "" {
		tc, err := runner.NewTensorCache(runner.TensorCacheOptions{MaxBytes: f.cacheMB << 20, Dir: f.cacheDir})
		if err != nil {
			return fmt.Errorf("--tensor-cache-dir: %w", err)
		}
		opt.TensorCache = tc
	}
	switch {
	case f.shm == shmNone:
		return nil
	case f.shm == shmAuto && !serversLocal(servers):
		return nil
	}
	if err := runner.ProbeSharedMemory(ctx, c); err != nil {
		if f.shm == shmSystem {
			return fmt.Errorf("--shared-memory system: %w", err)
		}
		fmt.Fprintf(io.stderr, "note: inputs go in the requests, not shared memory: %v\n", err)
		return nil
	}
	opt.SharedMemory = true
	return nil
}

// serversLocal reports whether every server is on this host (no servers: the embedded one).
func serversLocal(servers []string) bool {
	for _, v := range servers {
		for _, t := range strings.Split(v, ",") {
			host, _, err := net.SplitHostPort(strings.TrimSpace(t))
			if err != nil {
				return false
			}
			if host != "localhost" {
				if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
					return false
				}
			}
		}
	}
	return true
}
