//go:build unix

package regfile

import (
	"os"
	"syscall"
)

// openNonBlocking opens with O_NONBLOCK, so open(2) on a FIFO without a writer returns at once
// instead of blocking (the file is then refused by its mode); on a regular file the flag changes
// nothing.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
