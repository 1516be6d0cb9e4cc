//go:build !unix

package fetch

// lockFile does not lock where flock is missing: concurrent fetches of one
// asset are then the user's to avoid.
func lockFile(string) (unlock func(), held bool, err error) { return func() {}, false, nil }
