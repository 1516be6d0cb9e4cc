//go:build unix

package fetch

import "syscall"

// oNoFollow makes opening a symbolic link fail (ELOOP) instead of opening its target.
const oNoFollow = syscall.O_NOFOLLOW
