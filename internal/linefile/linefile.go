// Package linefile holds the append-only line files the caches keep (predictions, SVR features):
// one writer at a time, a torn last line cut, a damaged line skipped rather than the whole file
// refused.
//
// Open takes path + ".lock" (internal/filelock) before it reads a byte, so a second run sharing the
// cache is told who holds it instead of interleaving its lines with the first's (or truncating the
// first's newest line as a torn tail). Lines are checked by the caller; a bad one is counted and
// removed from the file, which is rewritten whole (atomically) so it is reported once.
package linefile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/agiqa-bench/agiqa/internal/atomicfile"
	"github.com/agiqa-bench/agiqa/internal/filelock"
)

// BusyError: another run holds the file's lock.
type BusyError struct {
	Path   string
	Holder string // "pid N (command)", or "" when unknown
}

func (e *BusyError) Error() string {
	who := e.Holder
	if who == "" {
		who = "another process"
	}
	return fmt.Sprintf("%s is in use by %s (lock %s); wait for that run to finish, or give this one another cache folder",
		e.Path, who, e.Path+".lock")
}

// Skipped says which lines Open dropped as bad: how many, the first one's number and why.
type Skipped struct {
	Lines     int
	FirstLine int
	FirstWhy  string
}

// File is an open line file; Append and Close are safe for concurrent use.
type File struct {
	Path   string
	mu     sync.Mutex
	f      *os.File
	size   int64 // bytes of whole lines
	unlock func()
}

// Check judges one whole line (without its newline), numbered from 1. For line 1 an error refuses
// the file (it belongs to something else); for a later line it skips that line.
type Check func(n int, line []byte) error

// Open locks path, reads its whole lines through check, and opens it for appending. A new or empty
// file gets header (which ends in a newline) as line 1.
func Open(path string, header []byte, check Check) (*File, Skipped, error) {
	var sk Skipped
	unlock, err := filelock.Lock(path + ".lock")
	if err != nil {
		var held *filelock.HeldError
		if errors.As(err, &held) {
			return nil, sk, &BusyError{Path: path, Holder: held.Holder}
		}
		return nil, sk, err
	}
	lf, sk, err := open(path, header, check)
	if err != nil {
		unlock()
		return nil, sk, err
	}
	lf.unlock = unlock
	return lf, sk, nil
}

func open(path string, header []byte, check Check) (*File, Skipped, error) {
	var sk Skipped
	// A FIFO or device here would block the read or never end it.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, sk, fmt.Errorf("%s: not a regular file (%s)", path, st.Mode().Type())
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, sk, err
	}
	whole := data[:bytes.LastIndexByte(data, '\n')+1] // a torn last line (a killed run) is dropped
	var keep bytes.Buffer
	for n, rest := 1, whole; len(rest) > 0; n++ {
		line, tail, _ := bytes.Cut(rest, []byte("\n"))
		rest = tail
		if err := check(n, line); err != nil {
			if n == 1 {
				return nil, sk, err
			}
			if sk.Lines == 0 {
				sk.FirstLine, sk.FirstWhy = n, err.Error()
			}
			sk.Lines++
			continue
		}
		keep.Write(line)
		keep.WriteByte('\n')
	}
	if keep.Len() == 0 {
		keep.Write(header)
	}
	if sk.Lines > 0 || len(whole) == 0 {
		// Rewritten whole: the bad lines go, and a crash mid-way leaves the old file.
		if err := atomicfile.WriteFile(path, keep.Bytes()); err != nil {
			return nil, sk, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, sk, err
	}
	if len(whole) < len(data) && sk.Lines == 0 {
		if err := f.Truncate(int64(keep.Len())); err != nil { // cut the torn tail
			f.Close()
			return nil, sk, err
		}
	}
	return &File{Path: path, f: f, size: int64(keep.Len())}, sk, nil
}

// Append writes b (whole lines) in one write. A short write is cut back, so the next line does not
// extend a fragment.
func (lf *File) Append(b []byte) error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return fmt.Errorf("%s: closed", lf.Path)
	}
	n, err := lf.f.Write(b)
	if err != nil {
		if n > 0 {
			if terr := lf.f.Truncate(lf.size); terr != nil {
				err = errors.Join(err, terr)
			}
		}
		return err
	}
	lf.size += int64(n)
	return nil
}

// Close flushes the file to disk and releases the lock.
func (lf *File) Close() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return nil
	}
	err := lf.f.Sync()
	if cerr := lf.f.Close(); err == nil {
		err = cerr
	}
	lf.f = nil
	lf.unlock()
	return err
}
