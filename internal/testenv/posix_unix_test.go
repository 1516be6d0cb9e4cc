//go:build unix

package testenv

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder stands in for *testing.T so a Fatalf or Skipf can be observed instead of ending this test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = format
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = format
	runtime.Goexit()
}

// call runs f on a recorder in its own goroutine, as the testing package runs a test body.
func call(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

// A pipe that cannot be made skips, and fails under AGIQA_REQUIRE_POSIX=1 (CI), naming the path.
func TestMkfifoFailsUnderRequire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "p")
	t.Setenv(RequirePOSIX, "")
	if r := call(t, func(tb testing.TB) { Mkfifo(tb, path) }); r.skip == "" || r.fatal != "" {
		t.Errorf("without %s: skip %q, fatal %q; want a skip", RequirePOSIX, r.skip, r.fatal)
	}
	t.Setenv(RequirePOSIX, "1")
	r := call(t, func(tb testing.TB) { Mkfifo(tb, path) })
	if r.fatal == "" || !strings.Contains(r.fatal, "named pipe") || !strings.Contains(r.fatal, RequirePOSIX) {
		t.Errorf("with %s=1: fatal %q, skip %q; want a failure naming the pipe", RequirePOSIX, r.fatal, r.skip)
	}
}

// Where the facilities exist (every Linux CI machine) the helpers hand them over.
func TestPOSIXFacilitiesPresent(t *testing.T) {
	if dir := ShmDir(t); dir != "/dev/shm" {
		t.Errorf("ShmDir = %q", dir)
	}
	if p := DevFull(t); p != "/dev/full" {
		t.Errorf("DevFull = %q", p)
	}
	Mkfifo(t, filepath.Join(t.TempDir(), "p"))
	restore := LowerFileSizeLimit(t, 1<<40)
	restore()
}
