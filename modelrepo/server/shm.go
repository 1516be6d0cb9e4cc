package server

import (
	"errors"
	"fmt"
	"io/fs"
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
	mapped       []byte // the file from 0 to offset+size, shared
	writable     bool   // mapped read-write: outputs may be written into it
}

// shmRegistry holds the system shared-memory regions clients registered.
// Input bytes are copied out under the read lock, so unregistering never
// pulls a mapping from under a request. Every region is one mmap: maxRegions
// keeps the process under vm.max_map_count (a server out of mappings dies on
// its next large allocation) and maxBytes bounds the address space mapped.
type shmRegistry struct {
	mu         sync.RWMutex
	dir        string
	regions    map[string]*shmRegion
	mappedSize uint64
	maxRegions int
	maxBytes   uint64
}

// Default caps on registered system shared memory (WithSharedMemoryLimits).
const (
	DefaultSHMRegions = 1024
	DefaultSHMBytes   = 64 << 30
)

func newSHMRegistry(maxRegions int, maxBytes uint64) *shmRegistry {
	return &shmRegistry{dir: shmDir, regions: map[string]*shmRegion{}, maxRegions: maxRegions, maxBytes: maxBytes}
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
	end := req.Offset + req.ByteSize
	if end < req.Offset || end > uint64(int(^uint(0)>>1)) {
		return invalidf("shared memory region %q: offset %d + byte_size %d cannot be mapped", req.Name, req.Offset, req.ByteSize)
	}
	if err := r.checkCaps(req.Name, end); err != nil {
		return err
	}
	// Opening and mapping happen outside the lock: nothing a client names may stall other shm calls.
	mapped, writable, err := r.mapKey(req, key, end)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.regions[req.Name]; dup {
		_ = syscall.Munmap(mapped)
		return status.Errorf(codes.AlreadyExists, "shared memory region %q is already registered", req.Name)
	}
	if err := r.checkCapsLocked(req.Name, end); err != nil {
		_ = syscall.Munmap(mapped)
		return err
	}
	r.regions[req.Name] = &shmRegion{name: req.Name, key: req.Key, offset: req.Offset, size: req.ByteSize, mapped: mapped, writable: writable}
	r.mappedSize += end
	return nil
}

func (r *shmRegistry) checkCaps(name string, bytes uint64) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.checkCapsLocked(name, bytes)
}

func (r *shmRegistry) checkCapsLocked(name string, bytes uint64) error {
	if len(r.regions) >= r.maxRegions {
		return status.Errorf(codes.ResourceExhausted, "shared memory region %q: %d regions are registered, the cap (--shm-max-regions); unregister some first",
			name, r.maxRegions)
	}
	if bytes > r.maxBytes || r.mappedSize > r.maxBytes-bytes {
		return status.Errorf(codes.ResourceExhausted, "shared memory region %q: mapping %d bytes would exceed the cap of %d mapped bytes (--shm-max-bytes; %d in use)",
			name, bytes, r.maxBytes, r.mappedSize)
	}
	return nil
}

// mapKey opens the key as shm_open would (no symlinks) without blocking (a FIFO would block open(2)
// until a writer came), accepts only a regular file, and maps its first end bytes shared and, as
// Triton maps them, read-write so that outputs can be written there. A key the server may only
// read is mapped read-only (writable false): it still serves inputs.
func (r *shmRegistry) mapKey(req *pb.SystemSharedMemoryRegisterRequest, key string, end uint64) (mapped []byte, writable bool, err error) {
	path := filepath.Join(r.dir, key)
	const flags = syscall.O_NONBLOCK | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	fd, err := syscall.Open(path, syscall.O_RDWR|flags, 0)
	writable = err == nil
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EPERM) {
		fd, err = syscall.Open(path, syscall.O_RDONLY|flags, 0)
	}
	mapped, err = r.mapOpened(req, path, fd, err, end, writable)
	return mapped, writable, err
}

// mapOpened checks the file open returned (fd, err) and maps it.
func (r *shmRegistry) mapOpened(req *pb.SystemSharedMemoryRegisterRequest, path string, fd int, err error, end uint64, writable bool) ([]byte, error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, status.Errorf(codes.NotFound, "shared memory region %q: key %q does not exist (%s)", req.Name, req.Key, path)
	case errors.Is(err, syscall.ELOOP):
		return nil, invalidf("shared memory region %q: key %q is a symbolic link (%s); shm_open refuses those", req.Name, req.Key, path)
	case err != nil:
		return nil, invalidf("shared memory region %q: key %q: %v", req.Name, req.Key, err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, invalidf("shared memory region %q: key %q: %v", req.Name, req.Key, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, invalidf("shared memory region %q: key %q is a %s, not a shared-memory file (%s)", req.Name, req.Key, fileKind(st.Mode), path)
	}
	fileSize := uint64(st.Size)
	if req.Offset > fileSize || req.ByteSize > fileSize-req.Offset {
		return nil, invalidf("shared memory region %q: offset %d + byte_size %d runs past the %d bytes of key %q",
			req.Name, req.Offset, req.ByteSize, fileSize, req.Key)
	}
	prot := syscall.PROT_READ
	if writable {
		prot |= syscall.PROT_WRITE
	}
	mapped, err := syscall.Mmap(fd, 0, int(end), prot, syscall.MAP_SHARED)
	if err != nil {
		code := codes.Internal
		if errors.Is(err, syscall.ENOMEM) {
			code = codes.ResourceExhausted
		}
		return nil, status.Errorf(code, "shared memory region %q: mmap of %d bytes: %v", req.Name, end, err)
	}
	return mapped, nil
}

// fileKind names a non-regular file's type for errors.
func fileKind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return "directory"
	case syscall.S_IFIFO:
		return "FIFO"
	case syscall.S_IFSOCK:
		return "socket"
	case syscall.S_IFCHR:
		return "character device"
	case syscall.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("file of mode %#o", mode&syscall.S_IFMT)
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

// copyMapped copies from a mapping (see onFault).
func copyMapped(b []byte) ([]byte, error) {
	var out []byte
	if err := onFault(func() { out = append([]byte(nil), b...) }); err != nil {
		return nil, err
	}
	return out, nil
}

// onFault runs fn, which touches a mapping. Pages past the end of a file that shrank since it was
// mapped fault (SIGBUS), which would otherwise crash the whole process; here the fault becomes an
// error for this request.
func onFault(fn func()) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			// A memory fault carries the faulting address (see SetPanicOnFault).
			if fe, ok := p.(interface {
				runtime.Error
				Addr() uintptr
			}); ok {
				err = fmt.Errorf("memory fault at %#x", fe.Addr())
				return
			}
			panic(p)
		}
	}()
	fn()
	return nil
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
		r.mappedSize -= reg.offset + reg.size
		if err := syscall.Munmap(reg.mapped); err != nil && firstErr == nil {
			firstErr = status.Errorf(codes.Internal, "shared memory region %q: munmap: %v", n, err)
		}
	}
	return firstErr
}

func (r *shmRegistry) closeAll() { _ = r.unregister("") }
