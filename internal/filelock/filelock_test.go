package filelock

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHelperHolder is the other process of TestLockHeldByAnotherProcess: it takes the lock named
// by FILELOCK_HELPER, says so on stdout, and keeps it until its stdin closes.
func TestHelperHolder(t *testing.T) {
	path := os.Getenv("FILELOCK_HELPER")
	if path == "" {
		t.Skip("helper process only")
	}
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
	unlock()
}

// A second process finds the lock taken and is told the holder's pid; once the holder exits (here
// without unlocking: the kernel releases it), the lock is free.
func TestLockHeldByAnotherProcess(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no flock")
	}
	path := filepath.Join(t.TempDir(), "x.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHolder$")
	cmd.Env = append(os.Environ(), "FILELOCK_HELPER="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	got := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(stdout).ReadString('\n'); got <- l }()
	select {
	case l := <-got:
		if l != "locked\n" {
			t.Fatalf("helper said %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("helper did not take the lock within 10 s")
	}
	_, err := Lock(path)
	var held *HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)+" (") ||
		!strings.Contains(err.Error(), path) {
		t.Fatalf("Lock while another process holds it: %v; want a HeldError naming the lock and pid %d", err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	unlock, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	unlock()
}

// Two opens in one process exclude each other too (flock locks the open file, not the process),
// and the message says it is this process.
func TestLockHeldBySameProcess(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no flock")
	}
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); err == nil || !strings.Contains(err.Error(), "this process") {
		t.Errorf("second Lock: %v; want it held, by this process", err)
	}
	unlock()
	unlock2, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("released lock still records %q", b)
	}
}
