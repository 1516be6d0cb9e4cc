// Package native is the registry of Go model functions that the embedded
// server's "native" backend runs. A package registers its functions in init:
//
//	func init() { native.Register("laplacian_variance", laplacianVariance) }
//
// and a repository model selects one with `backend: "native"`; see the
// server package for how a version names its function.
package native

import (
	"context"
	"fmt"
	"sort"
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

var (
	mu    sync.RWMutex
	funcs = map[string]Func{}
)

// Register adds f under name. It panics on an empty name, a nil f or a
// name registered twice, which are programming errors found at start-up.
func Register(name string, f Func) {
	if name == "" || f == nil {
		panic("native: Register needs a name and a function")
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := funcs[name]; dup {
		panic(fmt.Sprintf("native: function %q registered twice", name))
	}
	funcs[name] = f
}

// Lookup returns the function registered under name.
func Lookup(name string) (Func, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := funcs[name]
	return f, ok
}

// Names lists the registered functions, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(funcs))
	for k := range funcs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
