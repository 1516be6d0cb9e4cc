package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// shmDir is where POSIX shm_open keys live on Linux.
const shmDir = "/dev/shm"

type shmRegion struct {
	name, key    string
	offset, size uint64
	mapped       []byte // the file from 0 to offset+size, read-only
}

// shmRegistry holds the system shared-memory regions clients registered.
// Input bytes are copied out under the read lock, so unregistering never
// pulls a mapping from under a request.
type shmRegistry struct {
	mu      sync.RWMutex
	dir     string
	regions map[string]*shmRegion
}

func newSHMRegistry() *shmRegistry {
	return &shmRegistry{dir: shmDir, regions: map[string]*shmRegion{}}
}

func (r *shmRegistry) register(req *pb.SystemSharedMemoryRegisterRequest) error {
	if req.Name == "" {
		return invalidf("shared memory region: empty name")
	}
	key := strings.TrimPrefix(req.Key, "/")
	if key == "" || strings.Contains(key, "/") || key == "." || key == ".." {
		return invalidf("shared memory region %q: key %q is not a shm_open name (\"/name\")", req.Name, req.Key)
	}
	if req.ByteSize == 0 {
		return invalidf("shared memory region %q: byte_size is 0", req.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.regions[req.Name]; dup {
		return status.Errorf(codes.AlreadyExists, "shared memory region %q is already registered", req.Name)
	}
	path := filepath.Join(r.dir, key)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return status.Errorf(codes.NotFound, "shared memory region %q: key %q does not exist (%s)", req.Name, req.Key, path)
	}
	if err != nil {
		return invalidf("shared memory region %q: %v", req.Name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return invalidf("shared memory region %q: %v", req.Name, err)
	}
	fileSize := uint64(st.Size())
	if req.Offset > fileSize || req.ByteSize > fileSize-req.Offset {
		return invalidf("shared memory region %q: offset %d + byte_size %d runs past the %d bytes of key %q",
			req.Name, req.Offset, req.ByteSize, fileSize, req.Key)
	}
	end := req.Offset + req.ByteSize
	if end > uint64(int(^uint(0)>>1)) {
		return invalidf("shared memory region %q: %d bytes cannot be mapped", req.Name, end)
	}
	mapped, err := syscall.Mmap(int(f.Fd()), 0, int(end), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return status.Errorf(codes.Internal, "shared memory region %q: mmap: %v", req.Name, err)
	}
	r.regions[req.Name] = &shmRegion{name: req.Name, key: req.Key, offset: req.Offset, size: req.ByteSize, mapped: mapped}
	return nil
}

// read copies an input's bytes out of a region.
func (r *shmRegistry) read(input string, ref shmRef) ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg := r.regions[ref.region]
	if reg == nil {
		return nil, invalidf("input %q: shared memory region %q is not registered", input, ref.region)
	}
	if ref.offset > reg.size || ref.length > reg.size-ref.offset {
		return nil, invalidf("input %q: shared_memory_offset %d + shared_memory_byte_size %d runs past region %q (%d bytes)",
			input, ref.offset, ref.length, ref.region, reg.size)
	}
	start := reg.offset + ref.offset
	data, err := copyMapped(reg.mapped[start : start+ref.length])
	if err != nil {
		return nil, invalidf("input %q: shared memory region %q (key %q) cannot be read at offset %d: %v; was the key truncated after registration?",
			input, ref.region, reg.key, start, err)
	}
	return data, nil
}

// copyMapped copies from a mapping. Pages past the end of a file that
// shrank since it was mapped fault (SIGBUS), which would otherwise crash the
// whole process; here the fault becomes an error for this request.
func copyMapped(b []byte) (out []byte, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			// A memory fault carries the faulting address (see SetPanicOnFault).
			if fe, ok := p.(interface {
				runtime.Error
				Addr() uintptr
			}); ok {
				out, err = nil, fmt.Errorf("memory fault at %#x", fe.Addr())
				return
			}
			panic(p)
		}
	}()
	return append([]byte(nil), b...), nil
}

func (r *shmRegistry) status(name string) (map[string]*pb.SystemSharedMemoryStatusResponse_RegionStatus, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]*pb.SystemSharedMemoryStatusResponse_RegionStatus{}
	for n, reg := range r.regions {
		if name == "" || n == name {
			out[n] = &pb.SystemSharedMemoryStatusResponse_RegionStatus{Name: n, Key: reg.key, Offset: reg.offset, ByteSize: reg.size}
		}
	}
	if name != "" && len(out) == 0 {
		return nil, status.Errorf(codes.NotFound, "shared memory region %q is not registered", name)
	}
	return out, nil
}

// unregister removes one region, or all when name is empty. An unknown name
// is not an error, as in Triton: clients unregister defensively.
func (r *shmRegistry) unregister(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := []string{name}
	if name == "" {
		names = names[:0]
		for n := range r.regions {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	var firstErr error
	for _, n := range names {
		reg := r.regions[n]
		if reg == nil {
			continue
		}
		delete(r.regions, n)
		if err := syscall.Munmap(reg.mapped); err != nil && firstErr == nil {
			firstErr = status.Errorf(codes.Internal, "shared memory region %q: munmap: %v", n, err)
		}
	}
	return firstErr
}

func (r *shmRegistry) closeAll() { _ = r.unregister("") }
