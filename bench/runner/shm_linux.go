//go:build linux

package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// shmDir is where Linux keeps POSIX shared-memory objects (shm_open("/x") is /dev/shm/x).
var shmDir = "/dev/shm"

var shmSeq atomic.Uint64

// shmInputs is one sender's system shared-memory region. Each request's inputs are copied into it
// and the request only names it, so the tensors never cross the socket. A sender waits for each
// answer before its next request, so the region is never rewritten while the server reads it.
type shmInputs struct {
	c    *client.Client
	name string // registered region name; the shm_open key is "/" + name
	path string
	mem  []byte // the object mapped read-write
}

// place writes the tensors into the region, growing it when they do not fit, and returns the
// shared-memory inputs naming them.
func (s *shmInputs) place(ctx context.Context, ts []*tensor.Tensor) ([]client.SharedMemoryInput, error) {
	need := 0
	for _, t := range ts {
		need += len(t.Raw)
	}
	if need > len(s.mem) {
		if err := s.grow(ctx, need); err != nil {
			return nil, err
		}
	}
	out := make([]client.SharedMemoryInput, len(ts))
	off := 0
	for i, t := range ts {
		copy(s.mem[off:], t.Raw)
		out[i] = client.SharedMemoryInput{Name: t.Name, DataType: t.DataType, Shape: t.Shape, Region: s.name,
			ByteSize: int64(len(t.Raw)), Offset: int64(off)}
		off += len(t.Raw)
	}
	return out, nil
}

// grow replaces the region with one of at least need bytes (a new name: the server keeps its
// mapping of a region until it is unregistered).
func (s *shmInputs) grow(ctx context.Context, need int) error {
	if err := s.close(); err != nil {
		return err
	}
	name := fmt.Sprintf("agiqa_run_%d_%d", os.Getpid(), shmSeq.Add(1))
	path := filepath.Join(shmDir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("%w: creating %s: %w (use --shared-memory none)", ErrSharedMemory, path, err)
	}
	defer f.Close()
	fail := func(err error) error {
		os.Remove(path)
		return err
	}
	if err := f.Truncate(int64(need)); err != nil {
		return fail(fmt.Errorf("%w: sizing %s to %d bytes: %w", ErrSharedMemory, path, need, err))
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, need, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fail(fmt.Errorf("%w: mapping %s: %w", ErrSharedMemory, path, err))
	}
	if err := s.c.RegisterSystemSharedMemory(ctx, name, "/"+name, 0, uint64(need)); err != nil {
		syscall.Munmap(mem)
		return fail(fmt.Errorf("%w: the server cannot map %s (is it on this host? use --shared-memory none): %w", ErrSharedMemory, path, err))
	}
	s.name, s.path, s.mem = name, path, mem
	return nil
}

// close unregisters, unmaps and removes the region, if there is one.
func (s *shmInputs) close() error {
	if s == nil || s.mem == nil {
		return nil
	}
	// Unregister even when the run was cancelled: the server would keep the mapping otherwise.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.c.UnregisterSystemSharedMemory(ctx, s.name)
	if uerr := syscall.Munmap(s.mem); err == nil && uerr != nil {
		err = uerr
	}
	if rerr := os.Remove(s.path); err == nil && rerr != nil {
		err = rerr
	}
	s.mem = nil
	if err != nil {
		return fmt.Errorf("shared memory region %s: %w", s.name, err)
	}
	return nil
}

// ProbeSharedMemory checks that the server can map this process's system shared memory: it
// registers a small region and unregisters it. A server on another host (or in a container that
// does not share /dev/shm) fails here, before a run relies on it.
func ProbeSharedMemory(ctx context.Context, c *client.Client) error {
	s := &shmInputs{c: c}
	if err := s.grow(ctx, 4096); err != nil {
		return err
	}
	return s.close()
}
