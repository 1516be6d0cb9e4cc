//go:build !unix

package regfile

import "os"

// openNonBlocking: without O_NONBLOCK, the stat in Open is the guard.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }
