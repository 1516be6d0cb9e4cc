//go:build !cgo

package ortbackend

import (
	"context"
	"errors"
	"fmt"

	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// errNoCgo is why a build without cgo has no ONNX Runtime: the library is
// loaded through C.
var errNoCgo = errors.New("this binary was built without cgo (CGO_ENABLED=0), and ONNX Runtime is reached through cgo")

// Backend is never created in builds without cgo; New says why.
type Backend struct{}

// New always fails without cgo (after reporting a missing library, the more
// basic problem); ForServer then serves ONNX models as not ready.
func New(libPath string, opts ...Option) (*Backend, error) {
	if _, err := buildOptions(opts); err != nil {
		return nil, err
	}
	p, err := LibraryPath(libPath)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("ONNX Runtime library %s: %w", p, errNoCgo)
}

// LibraryPath is empty: nothing is loaded.
func (b *Backend) LibraryPath() string { return "" }

// Version is empty: nothing is loaded.
func (b *Backend) Version() string { return "" }

// Inspect fails: nothing is loaded.
func (b *Backend) Inspect(context.Context, *modelrepo.Model, int64) (inputs, outputs []TensorInfo, err error) {
	return nil, nil, errNoCgo
}

// Check fails: nothing is loaded.
func (b *Backend) Check(context.Context, *modelrepo.Model, int64) error { return errNoCgo }

// Load fails: nothing is loaded.
func (b *Backend) Load(context.Context, *modelrepo.Model, int64) (server.Instance, error) {
	return nil, errNoCgo
}
