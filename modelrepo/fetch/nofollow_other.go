//go:build !unix

package fetch

// oNoFollow: no such flag here; the Lstat check in Fetch is the guard.
const oNoFollow = 0
