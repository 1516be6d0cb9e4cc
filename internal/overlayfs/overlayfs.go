// Package overlayfs joins file systems whose top-level folders are disjoint into one, so the embedded
// server can serve the built-in models (embedded in the binary) beside models trained on disk from a
// single repository.
package overlayfs

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// FS resolves each path by its first element: the top-level entry belongs to the first layer that
// has it. Listing "." merges the layers' top levels.
type FS struct{ layers []fs.FS }

// New joins layers; an earlier layer wins a name both hold.
func New(layers ...fs.FS) *FS { return &FS{layers: layers} }

// owner is the first layer holding the top-level entry of name.
func (o *FS) owner(name string) (fs.FS, error) {
	top, _, _ := strings.Cut(name, "/")
	for _, l := range o.layers {
		if _, err := fs.Stat(l, top); err == nil {
			return l, nil
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Open opens name in the layer that owns it; "." is the merged root (ReadDir only).
func (o *FS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("overlayfs: the merged root can only be listed (fs.ReadDir)")}
	}
	l, err := o.owner(name)
	if err != nil {
		return nil, err
	}
	return l.Open(name)
}

// ReadDir lists name: the merged top levels for ".", else the owning layer's folder.
func (o *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		l, err := o.owner(name)
		if err != nil {
			return nil, err
		}
		return fs.ReadDir(l, name)
	}
	seen := map[string]bool{}
	var out []fs.DirEntry
	for i, l := range o.layers {
		entries, err := fs.ReadDir(l, ".")
		if err != nil {
			return nil, fmt.Errorf("overlayfs: layer %d: %w", i, err)
		}
		for _, e := range entries {
			if !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Stat reports on name; "." is a directory.
func (o *FS) Stat(name string) (fs.FileInfo, error) {
	if name == "." {
		return fs.Stat(o.layers[0], ".")
	}
	l, err := o.owner(name)
	if err != nil {
		return nil, err
	}
	return fs.Stat(l, name)
}
