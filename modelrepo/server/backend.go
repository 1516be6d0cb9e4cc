package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"

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

// NativeFile is the file a native model's version folder holds. Its first
// line that is neither blank nor a '#' comment names the registered Go
// function for that version; without such a line (or without the file) the
// config parameter "native.function" names it, and failing that the model
// name. The version folder must hold at least one file, as for every backend.
const NativeFile = "model.native"

// NativeFunctionParameter is the config parameter naming a native function.
const NativeFunctionParameter = "native.function"

// NativeBackend runs Go functions from the native registry; the server
// registers it as "native" unless WithBackend replaces it.
type NativeBackend struct{}

// FunctionName is the native function a model version runs.
func (NativeBackend) FunctionName(m *modelrepo.Model, version int64) (string, error) {
	v, ok := m.Version(version)
	if !ok {
		return "", fmt.Errorf("model %q has no version %d", m.Name, version)
	}
	for _, f := range v.Files {
		if f != NativeFile {
			continue
		}
		data, err := m.ReadFile(version, NativeFile)
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
	}
	if name, ok := m.Parameter(NativeFunctionParameter); ok && name != "" {
		return name, nil
	}
	return m.Name, nil
}

// Load looks the function up in the native registry.
func (b NativeBackend) Load(_ context.Context, m *modelrepo.Model, version int64) (Instance, error) {
	name, err := b.FunctionName(m, version)
	if err != nil {
		return nil, err
	}
	f, ok := native.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("native function %q is not registered (registered: %s)", name, strings.Join(native.Names(), ", "))
	}
	return nativeInstance{f: f}, nil
}

type nativeInstance struct{ f native.Func }

func (n nativeInstance) Execute(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return n.f(ctx, in)
}

func (nativeInstance) Close() error { return nil }
