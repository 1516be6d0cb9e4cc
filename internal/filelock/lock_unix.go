//go:build unix

package filelock

import (
	"errors"
	"os"
	"syscall"
)

// tryLock flocks f exclusively without waiting; held reports a lock someone else has.
func tryLock(f *os.File) (held bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}
