package fetch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Trust on first use: an asset whose publisher gives no checksum (HPS v1's hpc.pth) has an empty SHA256
// and TrustOnFirstUse set. The first file installed (or downloaded) is hashed and its sha256 recorded
// beside it in PATH.sha256 (sha256sum's format); from then on that record is the asset's checksum, so a
// different file is refused exactly as a published checksum would refuse it. Deleting the record (and
// the file) starts over.

// RecordSuffix is appended to an asset's cache path to name its recorded checksum.
const RecordSuffix = ".sha256"

// RecordError: a trust-on-first-use asset's record exists but cannot be read as a checksum.
type RecordError struct {
	Asset, Path, Problem string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s: checksum record %s %s; delete it (and the cached file) to install the asset afresh",
		e.Asset, e.Path, e.Problem)
}

// wantSHA256 is the checksum dest must have: the published one, or for a trust-on-first-use asset
// the one recorded at its first install ("" when none is recorded yet).
func wantSHA256(a Asset, dest string) (string, error) {
	if a.SHA256 != "" {
		return a.SHA256, nil
	}
	if !a.TrustOnFirstUse {
		return "", fmt.Errorf("%s: the catalogue has no sha256 for it and it is not trust-on-first-use", a.Name)
	}
	rec := dest + RecordSuffix
	b, err := os.ReadFile(rec)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", a.Name, err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 || !isHexSHA256(fields[0]) {
		return "", &RecordError{Asset: a.Name, Path: rec, Problem: "does not start with a sha256 in hex"}
	}
	return fields[0], nil
}

// recordSHA256 writes dest's record atomically (temporary file, then rename).
func recordSHA256(a Asset, dest, sum string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dest), filepath.Base(dest)+RecordSuffix+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: record sha256: %w", a.Name, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := fmt.Fprintf(tmp, "%s  %s\n", sum, filepath.Base(dest)); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: record sha256: %w", a.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: record sha256: %w", a.Name, err)
	}
	if err := os.Rename(tmp.Name(), dest+RecordSuffix); err != nil {
		return fmt.Errorf("%s: record sha256: %w", a.Name, err)
	}
	return nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// ManualError: an asset with no download URL (its publisher shares it from a page that needs a
// browser) must be installed from a local copy.
type ManualError struct {
	Asset, About string
}

func (e *ManualError) Error() string {
	return fmt.Sprintf("%s has no download URL (%s): download it yourself, then run `agiqa fetch %s --from FILE`",
		e.Asset, e.About, e.Asset)
}
