package perf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// SharedMemory selects how inputs reach the server.
type SharedMemory string

const (
	// SharedMemoryNone sends input bytes in every request.
	SharedMemoryNone SharedMemory = "none"
	// SharedMemorySystem writes the inputs once into a POSIX shared-memory
	// object (/dev/shm) registered with each server; requests only name the
	// region. The server must run on the same host (Triton: with
	// --allow-client-shm=true, or in a container sharing the host's IPC).
	SharedMemorySystem SharedMemory = "system"
)

// shmDir is where Linux keeps POSIX shared-memory objects: shm_open("/x")
// opens /dev/shm/x, which is what Triton's register call does with the key.
var shmDir = "/dev/shm"

var shmSeq atomic.Uint64

// shmRegion is one shared-memory object the run created.
type shmRegion struct {
	name string // region name registered with servers
	key  string // shm_open key, "/name"
	path string
	size uint64
}

// newSHMRegion writes data into a new shared-memory object. The object is
// written through the file system: the server maps it by key, and the bytes
// are never sent.
func newSHMRegion(data []byte) (*shmRegion, error) {
	if st, err := os.Stat(shmDir); err != nil || !st.IsDir() {
		return nil, fieldErr("SharedMemory", SharedMemorySystem, "%s is not available (POSIX shared memory needs Linux)", shmDir)
	}
	if len(data) == 0 {
		return nil, fieldErr("SharedMemory", SharedMemorySystem, "no input bytes to place")
	}
	name := fmt.Sprintf("agiqa_perf_%d_%d", os.Getpid(), shmSeq.Add(1))
	r := &shmRegion{name: name, key: "/" + name, path: filepath.Join(shmDir, name), size: uint64(len(data))}
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, &FieldError{Field: "SharedMemory", Value: string(SharedMemorySystem), Reason: "creating " + r.path, Err: err}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(r.path)
		return nil, &FieldError{Field: "SharedMemory", Value: string(SharedMemorySystem), Reason: "writing " + r.path, Err: err}
	}
	if err := f.Close(); err != nil {
		os.Remove(r.path)
		return nil, &FieldError{Field: "SharedMemory", Value: string(SharedMemorySystem), Reason: "writing " + r.path, Err: err}
	}
	return r, nil
}

// remove deletes the object (servers that mapped it keep their mapping until
// they unregister).
func (r *shmRegion) remove() error {
	if r == nil || !strings.HasPrefix(r.path, shmDir) {
		return nil
	}
	if err := os.Remove(r.path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing shared memory %s: %w", r.path, err)
	}
	return nil
}
