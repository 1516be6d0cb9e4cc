// Package native is the registry of Go model functions that the embedded
// server's "native" backend runs, and that Triton runs through the C shared
// library baselines/capi. A package registers its functions in init:
//
//	func init() { native.Register("laplacian_variance", laplacianVariance) }
//
// or, for a model whose versions carry files (an SVR's model.svr), a Loader
// that builds the function of one version from that version's folder:
//
//	func init() { native.RegisterLoader("brisque_svr", loadBRISQUE) }
//
// A repository model selects one with `backend: "native"`; see the server
// package for how a version names its function.
package native

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/agiqa-bench/agiqa/client/tensor"
)

// Func runs one batch. inputs come in the order of the model config's input
// list (an optional input that was not sent is left out), each already
// checked against the config: datatype, shape (batch dimension first when
// max_batch_size > 0) and byte length. The function returns the outputs by
// name, with the same batch dimension. It must not keep or modify inputs.
// Several instances may call one Func at once: it must be safe for that.
type Func func(ctx context.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error)

// A Loader builds the Func of one model version from that version's files
// (files is rooted at the version folder: "model.svr", "range.txt"). Its
// errors should name the file and the field; the caller adds model and
// version. It is called once per model instance and must not keep files.
type Loader func(ctx context.Context, files fs.FS) (Func, error)

// ErrNotRegistered is wrapped by Load's error for an unknown name.
var ErrNotRegistered = errors.New("not registered")

var (
	mu      sync.RWMutex
	funcs   = map[string]Func{}
	loaders = map[string]Loader{}
)

// Register adds f under name. It panics on an empty name, a nil f or a
// name registered twice (as a function or a loader), which are programming
// errors found at start-up.
func Register(name string, f Func) {
	if name == "" || f == nil {
		panic("native: Register needs a name and a function")
	}
	mu.Lock()
	defer mu.Unlock()
	checkNew(name)
	funcs[name] = f
}

// RegisterLoader adds l under name, with Register's rules.
func RegisterLoader(name string, l Loader) {
	if name == "" || l == nil {
		panic("native: RegisterLoader needs a name and a loader")
	}
	mu.Lock()
	defer mu.Unlock()
	checkNew(name)
	loaders[name] = l
}

func checkNew(name string) {
	_, f := funcs[name]
	_, l := loaders[name]
	if f || l {
		panic(fmt.Sprintf("native: function %q registered twice", name))
	}
}

// Lookup returns the stateless function registered under name with Register;
// a name registered with RegisterLoader needs Load.
func Lookup(name string) (Func, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := funcs[name]
	return f, ok
}

// Registered reports whether name is registered, as a function or a loader.
func Registered(name string) bool {
	mu.RLock()
	defer mu.RUnlock()
	_, f := funcs[name]
	_, l := loaders[name]
	return f || l
}

// Load returns the function of one model version: a Loader's result, built
// from files, or the function given to Register (which needs no files; files
// may then be nil). A loader's panic is returned as an error: a bad model
// file must not take the server down.
func Load(ctx context.Context, name string, files fs.FS) (f Func, err error) {
	mu.RLock()
	f, isFunc := funcs[name]
	l, isLoader := loaders[name]
	mu.RUnlock()
	switch {
	case isFunc:
		return f, nil
	case !isLoader:
		return nil, fmt.Errorf("native function %q is %w (registered: %s)", name, ErrNotRegistered, strings.Join(Names(), ", "))
	case files == nil:
		return nil, fmt.Errorf("native loader %q: no version folder to load from", name)
	}
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("native loader %q: panic: %v", name, r)
		}
	}()
	f, err = l(ctx, files)
	if err != nil {
		return nil, fmt.Errorf("native loader %q: %w", name, err)
	}
	if f == nil {
		return nil, fmt.Errorf("native loader %q returned no function", name)
	}
	return f, nil
}

// Names lists the registered functions and loaders, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(funcs)+len(loaders))
	for k := range funcs {
		out = append(out, k)
	}
	for k := range loaders {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FunctionFile is the file a version folder may hold to name its function:
// the first line that is neither blank nor a '#' comment.
const FunctionFile = "model.native"

// FunctionName is the function a model version runs: the one FunctionFile in
// files names, else fallback (the config's native.function parameter, or the
// model name). The embedded server and the C library both decide by this one
// rule, so a repository means the same to both. files may be nil.
func FunctionName(files fs.FS, fallback string) (string, error) {
	if files == nil {
		return fallback, nil
	}
	data, err := fs.ReadFile(files, FunctionFile)
	if errors.Is(err, fs.ErrNotExist) {
		return fallback, nil
	}
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			return line, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", FunctionFile, err)
	}
	return fallback, nil
}

// TensorByName finds an input by name: a convenience for Funcs.
func TensorByName(ts []*tensor.Tensor, name string) (*tensor.Tensor, bool) {
	for _, t := range ts {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}
