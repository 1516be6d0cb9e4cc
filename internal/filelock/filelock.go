// Package filelock takes the advisory locks that keep two agiqa processes from writing one file at
// once (a download, a cache). A lock is a separate file (path + ".lock" by convention) locked with
// flock(2): the kernel drops it when the holder dies, so a crash leaves no stale lock. The holder
// writes its pid and command into the lock file, so a process that finds the lock taken can say
// who holds it.
package filelock

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// HeldError is a lock another process (or another open of the same file in this process) holds.
type HeldError struct {
	Path   string // the lock file
	Holder string // "pid N (command)" as the holder recorded it, or "" when it recorded nothing yet
}

func (e *HeldError) Error() string {
	who := e.Holder
	if who == "" {
		who = "another process"
	}
	return fmt.Sprintf("lock %s is held by %s", e.Path, who)
}

// Lock takes an exclusive lock on the lock file path (created if missing) without waiting and
// records this process in it; unlock releases it. A lock already held is a *HeldError.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	held, err := tryLock(f)
	if err != nil || held {
		f.Close()
		if held {
			return nil, &HeldError{Path: path, Holder: holder(path)}
		}
		return nil, err
	}
	// Best effort: the record only improves the message another process prints.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(Self()+"\n"), 0)
	}
	return func() {
		f.Truncate(0) // the next holder's record is not mistaken for ours
		f.Close()     // releases the lock
	}, nil
}

// Self describes this process as lock files record it: "pid N (command line)".
func Self() string {
	cmd := strings.Join(os.Args, " ")
	if len(cmd) > 200 {
		cmd = cmd[:200] + "..."
	}
	return "pid " + strconv.Itoa(os.Getpid()) + " (" + strings.ToValidUTF8(cmd, "?") + ")"
}

// holder reads what the lock's holder recorded, bounded and on one line.
func holder(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 512))
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	s, _, _ = strings.Cut(s, "\n")
	if s == Self() {
		s += ", this process"
	}
	return s
}
