package server

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

func testRegistry(t *testing.T, regions int, bytes uint64) *shmRegistry {
	t.Helper()
	r := newSHMRegistry(regions, bytes)
	r.dir = t.TempDir()
	t.Cleanup(r.closeAll)
	return r
}

func writeKey(t *testing.T, r *shmRegistry, key string, size int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, key), make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
}

func reg(name, key string, size uint64) *pb.SystemSharedMemoryRegisterRequest {
	return &pb.SystemSharedMemoryRegisterRequest{Name: name, Key: key, ByteSize: size}
}

// Each region is one mmap: registering without bound exhausted vm.max_map_count and the next large
// allocation killed the server. Past the caps registration is ResourceExhausted, naming the cap, and
// unregistering frees room again.
func TestSharedMemoryCaps(t *testing.T) {
	r := testRegistry(t, 3, 10_000)
	writeKey(t, r, "k", 4096)
	for _, name := range []string{"a", "b", "c"} {
		if err := r.register(reg(name, "/k", 100)); err != nil {
			t.Fatal(err)
		}
	}
	wantStatus(t, r.register(reg("d", "/k", 100)), codes.ResourceExhausted, `"d"`, "3 regions", "--shm-max-regions")
	if err := r.unregister("a"); err != nil {
		t.Fatal(err)
	}
	if err := r.register(reg("d", "/k", 100)); err != nil {
		t.Errorf("after unregistering one of 3: %v", err)
	}
	r = testRegistry(t, 100, 10_000)
	writeKey(t, r, "big", 8192)
	if err := r.register(reg("x", "/big", 6000)); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r.register(reg("y", "/big", 6000)), codes.ResourceExhausted, `"y"`, "10000 mapped bytes", "--shm-max-bytes")
	if err := r.register(reg("z", "/big", 4000)); err != nil {
		t.Errorf("4000 more bytes fit under 10000: %v", err)
	}
}

// A FIFO as a key blocked open(2) under the registry lock and wedged every shm call; a directory was
// Internal; a symlink was followed, which shm_open does not do. Each is InvalidArgument naming what
// the key is, at once, and other calls are not held up.
func TestSharedMemoryRefusesNonRegularKeys(t *testing.T) {
	r := testRegistry(t, 10, 1<<20)
	if err := syscall.Mkfifo(filepath.Join(r.dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(r.dir, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeKey(t, r, "real", 64)
	if err := os.Symlink(filepath.Join(r.dir, "real"), filepath.Join(r.dir, "link")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.register(reg("f", "/fifo", 8)) }()
	select {
	case err := <-done:
		wantStatus(t, err, codes.InvalidArgument, `"/fifo"`, "FIFO")
	case <-time.After(5 * time.Second):
		t.Fatal("registering a FIFO key blocked")
	}
	wantStatus(t, r.register(reg("d", "/dir", 8)), codes.InvalidArgument, `"/dir"`, "directory")
	wantStatus(t, r.register(reg("l", "/link", 8)), codes.InvalidArgument, `"/link"`, "symbolic link")
	if err := r.register(reg("ok", "/real", 64)); err != nil {
		t.Errorf("regular key: %v", err)
	}
}
