//go:build unix

package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// RequirePOSIX makes a missing POSIX facility a failure: /dev/shm, named pipes, /dev/full and a
// lowerable file-size limit are on every Linux CI machine, so a test that needs one must not pass
// there by skipping.
const RequirePOSIX = "AGIQA_REQUIRE_POSIX"

// ShmDir returns /dev/shm (where glibc's shm_open puts POSIX shared-memory objects) after checking
// that a file can be created in it; otherwise it skips tb, or fails it under AGIQA_REQUIRE_POSIX=1.
func ShmDir(tb testing.TB) string {
	tb.Helper()
	const dir = "/dev/shm"
	probe := filepath.Join(dir, fmt.Sprintf("agiqa-probe-%d", os.Getpid()))
	f, err := os.OpenFile(probe, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		SkipOrFail(tb, RequirePOSIX, "cannot create a shared-memory object in %s: %v", dir, err)
	}
	f.Close()
	os.Remove(probe)
	return dir
}

// Mkfifo creates a named pipe at path; where that is impossible it skips tb, or fails it under
// AGIQA_REQUIRE_POSIX=1.
func Mkfifo(tb testing.TB, path string) {
	tb.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		SkipOrFail(tb, RequirePOSIX, "cannot create the named pipe %s: %v", path, err)
	}
}

// DevFull returns /dev/full, the file every write to fails with ENOSPC; without it it skips tb, or
// fails it under AGIQA_REQUIRE_POSIX=1.
func DevFull(tb testing.TB) string {
	tb.Helper()
	const path = "/dev/full"
	st, err := os.Stat(path)
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		SkipOrFail(tb, RequirePOSIX, "%s is not a character device here (%v)", path, err)
	}
	return path
}

// LowerFileSizeLimit sets this process's soft RLIMIT_FSIZE to limit bytes until the returned restore
// function is called; where the limit cannot be read or lowered it skips tb, or fails it under
// AGIQA_REQUIRE_POSIX=1. The limit is process-wide: tests using it must not run in parallel.
func LowerFileSizeLimit(tb testing.TB, limit uint64) (restore func()) {
	tb.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		SkipOrFail(tb, RequirePOSIX, "cannot read the file size limit: %v", err)
	}
	lowered := old
	lowered.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lowered); err != nil {
		SkipOrFail(tb, RequirePOSIX, "cannot lower the file size limit: %v", err)
	}
	return func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			tb.Fatalf("restoring the file size limit: %v", err)
		}
	}
}
