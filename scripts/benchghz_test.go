//go:build linux

// Package scripts holds the tests of the shell scripts beside it.
package scripts

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// benchGhz runs scripts/bench-ghz.sh with ghz replaced by fakeGhz (a shell script body) and agiqa by
// a binary built once, its temporary folders under a fresh TMPDIR. It returns the started command,
// its combined output, the TMPDIR and the file where the fake ghz writes its pid.
func benchGhz(t *testing.T, agiqa, fakeGhz string) (*exec.Cmd, *bytes.Buffer, string, string) {
	t.Helper()
	tmp := t.TempDir()
	bin := t.TempDir()
	pidFile := filepath.Join(bin, "ghz.pid")
	ghz := filepath.Join(bin, "ghz")
	body := "#!/bin/sh\necho $$ >" + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + "\n" + fakeGhz + "\n"
	if err := os.WriteFile(ghz, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "bench-ghz.sh")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "GHZ="+ghz, "AGIQA="+agiqa, "DURATION=1", "ROUNDS=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &out, tmp, pidFile
}

func buildAgiqa(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agiqa")
	build := exec.Command("go", "build", "-o", bin, "./cmd/agiqa")
	build.Dir = testenv.ModuleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitFor polls cond every 50 ms until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

// processesUnder lists the live processes whose command line mentions dir (the script copies agiqa
// into its work folder under TMPDIR, so the server's command line names it).
func processesUnder(dir string) []string {
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if err == nil && strings.Contains(string(stat), ") Z ") {
			continue // a zombie has stopped running; its parent reaps it
		}
		found = append(found, filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(b), "\x00", " "))
	}
	return found
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(stat), ") Z ")
}

func readPid(t *testing.T, pidFile string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// The script stops every process it started: the server and the client that is running, whether
// the script is interrupted during a run (SIGINT as Ctrl-C sends it, SIGTERM) or a client fails.
func TestBenchGhzStopsWhatItStarts(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is required")
	}
	agiqa := buildAgiqa(t)
	for _, tc := range []struct {
		name   string
		signal syscall.Signal // 0: the fake ghz fails instead
	}{{"SIGINT", syscall.SIGINT}, {"SIGTERM", syscall.SIGTERM}, {"client fails", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			fake := "exec sleep 60"
			if tc.signal == 0 {
				fake = "echo fake ghz fails >&2; exit 3"
			}
			cmd, out, tmp, pidFile := benchGhz(t, agiqa, fake)
			// ghz runs only once the server listens: the pid file shows the script got that far.
			if !waitFor(60*time.Second, func() bool { _, err := os.Stat(pidFile); return err == nil }) {
				t.Fatalf("the fake ghz never ran:\n%s", out)
			}
			ghzPid := readPid(t, pidFile)
			if len(processesUnder(tmp)) == 0 && tc.signal != 0 {
				t.Fatalf("no agiqa serve under %s while ghz runs", tmp)
			}
			if tc.signal != 0 {
				if err := cmd.Process.Signal(tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("the script did not exit within 20 s:\n%s", out)
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the script exited with %v, want a failure:\n%s", err, out)
			}
			if left := processesUnder(tmp); len(left) > 0 {
				t.Errorf("left running: %v\n%s", left, out)
			}
			if alive(ghzPid) {
				syscall.Kill(ghzPid, syscall.SIGKILL)
				t.Errorf("the client (pid %d) was left running\n%s", ghzPid, out)
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "bench-ghz.*")); len(left) > 0 {
				t.Errorf("work folder left: %v", left)
			}
		})
	}
}
