package ortbackend

import (
	"context"
	"fmt"
	"runtime"

	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// Name is the backend name the server dispatches ONNX models to (the one
// platform "onnxruntime_onnx" implies).
const Name = "onnxruntime"

// DefaultIntraOpThreads keeps one session from taking every core: the server
// already runs one worker per instance, and tests share small machines.
const DefaultIntraOpThreads = 2

type options struct {
	intraOp int
}

// Option configures New.
type Option func(*options)

// WithIntraOpThreads sets ONNX Runtime's intra-op thread count per session
// (default DefaultIntraOpThreads; 0 lets ONNX Runtime use every core).
func WithIntraOpThreads(n int) Option { return func(o *options) { o.intraOp = n } }

func buildOptions(opts []Option) (options, error) {
	o := options{intraOp: DefaultIntraOpThreads}
	for _, opt := range opts {
		opt(&o)
	}
	if o.intraOp < 0 {
		return o, fmt.Errorf("ortbackend: intra-op thread count %d must not be negative", o.intraOp)
	}
	if o.intraOp == 0 {
		o.intraOp = runtime.NumCPU()
	}
	return o, nil
}

// unavailable stands in for the backend when the library cannot be loaded:
// every ONNX model version fails to load with the reason, so the server
// reports it not ready and goes on serving the rest.
type unavailable struct{ reason error }

func (u unavailable) Load(_ context.Context, m *modelrepo.Model, version int64) (server.Instance, error) {
	return nil, fmt.Errorf("model %q version %d: ONNX Runtime is not available: %w", m.Name, version, u.reason)
}

// Unavailable is a backend whose every Load fails with reason.
func Unavailable(reason error) server.Backend { return unavailable{reason: reason} }

// ForServer is the server.New option that serves ONNX models: the backend
// from New(libPath, opts...), or, when that fails, Unavailable with the
// failure, which is also returned for the caller to report. The option is
// usable either way.
func ForServer(libPath string, opts ...Option) (server.Option, error) {
	b, err := New(libPath, opts...)
	if err != nil {
		return server.WithBackend(Name, Unavailable(err)), err
	}
	return server.WithBackend(Name, b), nil
}
