package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// Backend creates model instances. The server calls Load once per instance
// (the instance_group counts summed) for every version the version policy
// selects, and again on RepositoryModelLoad.
type Backend interface {
	Load(ctx context.Context, m *modelrepo.Model, version int64) (Instance, error)
}

// Instance runs batches for one model version. One worker goroutine owns an
// instance, so Execute is never called concurrently on the same Instance.
//
// inputs follow the order of the config's input list (an optional input that
// was not sent is left out) and have been checked against the config: name,
// datatype, shape and byte length. When max_batch_size > 0 the first
// dimension is the batch, possibly several requests merged; the outputs must
// carry the same first dimension. Outputs are matched by name; a returned
// error with a gRPC status keeps its code, anything else becomes Internal.
// A panic becomes Internal for the requests of that batch only.
type Instance interface {
	Execute(ctx context.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error)
	Close() error
}

// NativeFile is the file a native model's version folder may hold. Its first
// line that is neither blank nor a '#' comment names the registered Go
// function for that version; without such a line (or without the file) the
// config parameter "native.function" names it, and failing that the model
// name. The version folder must hold at least one file, as for every backend.
// The C library Triton runs (baselines/capi) reads it by the same rule.
const NativeFile = native.FunctionFile

// NativeFunctionParameter is the config parameter naming a native function.
const NativeFunctionParameter = "native.function"

// NativeBackend runs Go functions from the native registry; the server
// registers it as "native" unless WithBackend replaces it. A function
// registered with native.RegisterLoader is built from the version folder's
// files (VersionFS) on every Load.
type NativeBackend struct{}

// FunctionName is the native function a model version runs.
func (NativeBackend) FunctionName(m *modelrepo.Model, version int64) (string, error) {
	files, err := VersionFS(m, version)
	if err != nil {
		return "", err
	}
	fallback := m.Name
	if name, ok := m.Parameter(NativeFunctionParameter); ok && name != "" {
		fallback = name
	}
	name, err := native.FunctionName(files, fallback)
	if err != nil {
		return "", fmt.Errorf("model %q version %d: %w", m.Name, version, err)
	}
	return name, nil
}

// Load builds the version's function: a registered function as it is, a
// loader's from the version folder. Errors name model, version, function and
// (through the loader) the file.
func (b NativeBackend) Load(ctx context.Context, m *modelrepo.Model, version int64) (Instance, error) {
	name, err := b.FunctionName(m, version)
	if err != nil {
		return nil, err
	}
	files, err := VersionFS(m, version)
	if err != nil {
		return nil, err
	}
	f, err := native.Load(ctx, name, files)
	if err != nil {
		return nil, fmt.Errorf("model %q version %d: %w", m.Name, version, err)
	}
	return nativeInstance{f: f}, nil
}

// Check loads a version as Load does and drops it: `agiqa repo check` uses it
// to find a missing function or a bad model file before serving.
func (b NativeBackend) Check(ctx context.Context, m *modelrepo.Model, version int64) error {
	_, err := b.Load(ctx, m, version)
	return err
}

type nativeInstance struct{ f native.Func }

func (n nativeInstance) Execute(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return n.f(ctx, in)
}

func (nativeInstance) Close() error { return nil }

// VersionFS is a model version's folder as a file system: the OS folder for
// a repository opened from a directory (what Triton's backends see), else
// the files read through the repository (an embedded one), where every file
// can be opened at any depth but only the folder itself can be listed.
func VersionFS(m *modelrepo.Model, version int64) (fs.FS, error) {
	v, ok := m.Version(version)
	if !ok {
		return nil, fmt.Errorf("model %q has no version %d", m.Name, version)
	}
	if dir, ok := m.LocalPath(version, "."); ok {
		return os.DirFS(dir), nil
	}
	return repoVersionFS{m: m, v: v}, nil
}

type repoVersionFS struct {
	m *modelrepo.Model
	v modelrepo.Version
}

func (r repoVersionFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		entries, _ := r.ReadDir(".")
		return &memDir{entries: entries}, nil
	}
	data, err := r.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(data), info: memInfo{name: path.Base(name), size: int64(len(data))}}, nil
}

// ReadFile returns a fs.PathError naming the file inside the version folder,
// as os.DirFS does.
func (r repoVersionFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	data, err := r.m.ReadFile(r.v.Number, name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return data, nil
}

func (r repoVersionFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.ErrUnsupported}
	}
	var out []fs.DirEntry
	for _, f := range r.v.Files {
		dir := strings.HasSuffix(f, "/")
		out = append(out, memEntry{r: r, info: memInfo{name: strings.TrimSuffix(f, "/"), dir: dir}})
	}
	return out, nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

type memEntry struct {
	r    repoVersionFS
	info memInfo
}

func (e memEntry) Name() string      { return e.info.name }
func (e memEntry) IsDir() bool       { return e.info.dir }
func (e memEntry) Type() fs.FileMode { return e.info.Mode().Type() }
func (e memEntry) Info() (fs.FileInfo, error) {
	if e.info.dir {
		return e.info, nil
	}
	data, err := e.r.ReadFile(e.info.name)
	if err != nil {
		return nil, err
	}
	i := e.info
	i.size = int64(len(data))
	return i, nil
}

type memFile struct {
	*bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

type memDir struct {
	entries []fs.DirEntry
	off     int
}

func (d *memDir) Stat() (fs.FileInfo, error) { return memInfo{name: ".", dir: true}, nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: errors.New("is a directory")}
}
func (d *memDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
