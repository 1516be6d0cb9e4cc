//go:build unix

package fetch

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on path without waiting. The
// kernel drops it when the process dies, so a crash leaves no stale lock.
func lockFile(path string) (unlock func(), held bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, err
	}
	return func() { f.Close() }, false, nil
}
