package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/agiqa-bench/agiqa/internal/regfile"
)

// MismatchError reports a file offered with --from whose sha256 is not the
// published one; nothing was installed.
type MismatchError struct {
	Asset, File, Want, Got string
	Recorded               bool // Want is the trust-on-first-use record, not a published checksum
}

func (e *MismatchError) Error() string {
	if e.Recorded {
		return fmt.Sprintf("%s: %s has sha256 %s, but the file installed first had %s (recorded beside it in the cache; "+
			"nothing installed)", e.Asset, e.File, e.Got, e.Want)
	}
	return fmt.Sprintf("%s: %s has sha256 %s, the published file's is %s (nothing installed)", e.Asset, e.File, e.Got, e.Want)
}

// Install copies a file obtained elsewhere (a mirror, a manual download, a
// copy carried to an offline machine) into the cache as asset a, after
// checking its sha256. The copy goes to a temporary file beside the
// destination and is renamed into place only once it verified, so a wrong
// or interrupted install leaves the cache as it was. A cached file with the
// right checksum is kept (Result.Downloaded false) when FILE is that file; a
// different FILE is refused either way. Trust-on-first-use assets check
// against the checksum recorded at their first install (tofu.go).
func (f *Fetcher) Install(ctx context.Context, a Asset, from string) (Result, error) {
	dest := filepath.Join(f.Dir, filepath.FromSlash(a.Path))
	res := Result{Asset: a, Path: dest}
	src, _, err := regfile.Open(from) // a regular file only: a FIFO must not block the install
	if err != nil {
		return res, fmt.Errorf("%s: %w", a.Name, err)
	}
	defer src.Close()
	unlock, err := lockAsset(a, dest)
	if err != nil {
		return res, err
	}
	defer unlock()
	want, err := wantSHA256(a, dest)
	if err != nil {
		return res, err
	}
	if sum, err := fileSHA256(dest); err == nil && sum == want {
		// Kept, but only if the offered file is that file: a different one is refused all the same.
		got, err := fileSHA256(from)
		if err != nil {
			return res, fmt.Errorf("%s: %w", a.Name, err)
		}
		if got != want {
			return res, &MismatchError{Asset: a.Name, File: from, Want: want, Got: got, Recorded: a.SHA256 == ""}
		}
		return res, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), filepath.Base(dest)+".install-*")
	if err != nil {
		return res, fmt.Errorf("%s: %w", a.Name, err)
	}
	installed := false
	defer func() {
		if !installed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), &ctxReader{ctx: ctx, r: src}); err != nil {
		return res, fmt.Errorf("%s: copy %s: %w", a.Name, from, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want != "" && got != want {
		return res, &MismatchError{Asset: a.Name, File: from, Want: want, Got: got, Recorded: a.SHA256 == ""}
	}
	if err := tmp.Sync(); err != nil {
		return res, fmt.Errorf("%s: %w", a.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("%s: %w", a.Name, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return res, fmt.Errorf("%s: %w", a.Name, err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return res, fmt.Errorf("%s: %w", a.Name, err)
	}
	installed = true
	if a.SHA256 == "" {
		if err := recordSHA256(a, dest, got); err != nil {
			os.Remove(dest) // never a trust-on-first-use file without its record
			return res, err
		}
	}
	res.Downloaded = true
	return res, nil
}

// ctxReader stops a copy when ctx is done (Ctrl-C during a large install).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// MissingError says an asset is not in the cache (or is there with another
// checksum) and which command puts it there.
type MissingError struct {
	Asset, Path string
	Got         string // sha256 of the file found, "" when there is none
}

func (e *MissingError) Error() string {
	what := "not in the cache"
	if e.Got != "" {
		what = "in the cache with sha256 " + e.Got + ", not the published file"
	}
	return fmt.Sprintf("%s is %s (%s): run `agiqa fetch %s`, or offline `agiqa fetch %s --from FILE` with a copy obtained elsewhere",
		e.Asset, what, e.Path, e.Asset, e.Asset)
}

// Path returns where asset name is installed under cacheDir ("" for
// DefaultCacheDir), after checking its sha256: code that reads published
// parameters calls it instead of building the path itself. An asset that is
// absent or altered gives a *MissingError naming the fetch command.
func Path(cacheDir, name string) (string, error) {
	a, err := Lookup(name)
	if err != nil {
		return "", err
	}
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	p := filepath.Join(cacheDir, filepath.FromSlash(a.Path))
	want, err := wantSHA256(a, p)
	if err != nil {
		return "", err
	}
	sum, err := fileSHA256(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", &MissingError{Asset: a.Name, Path: p}
	case err != nil:
		return "", fmt.Errorf("%s: %w", a.Name, err)
	case want == "":
		return "", &MissingError{Asset: a.Name, Path: p, Got: sum} // a file without its first-use record
	case sum != want:
		return "", &MissingError{Asset: a.Name, Path: p, Got: sum}
	}
	return p, nil
}
