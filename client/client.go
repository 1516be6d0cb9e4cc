// Package client is a Go client for NVIDIA Triton's gRPC protocol (KServe v2,
// service inference.GRPCInferenceService).
//
// A Client holds one gRPC connection per target and sends every call to the
// next target in round-robin order (passing over one gRPC reports down while
// another is usable), so one harness can drive several Triton
// replicas. Every method takes ctx first and returns *Error on failure.
// Idempotent calls (health, metadata, config, statistics, repository index,
// shared-memory status) retry codes.Unavailable with jittered exponential
// backoff, moving on to the next target on each attempt; Infer retries only
// with WithRetryInfer.
//
// Tensors travel as raw_input_contents / raw_output_contents (see package
// tensor); outputs are looked up by name and validated on arrival.
package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// Client talks to one or more Triton servers. It is safe for concurrent use.
type Client struct {
	cfg      config
	targets  []string // empty for NewFromConn
	conns    []*grpc.ClientConn
	stubs    []pb.GRPCInferenceServiceClient
	callOpts []grpc.CallOption
	next     *atomic.Uint64 // shared by Replica views so they do not reset rotation
	pinned   int            // >= 0: a Replica view sending every call to stubs[pinned]
	owned    bool           // Close closes conns
	closed   *closeState    // shared by copies, so Close runs once
}

type closeState struct {
	once sync.Once
	err  error
}

// New returns a client for target, which may be a comma-separated list
// ("10.0.0.1:8001,10.0.0.2:8001"); WithTargets adds more. Connections are made
// lazily (grpc.NewClient), so New fails only on bad options or targets; use
// Ready to wait for a server. ctx is checked but not retained.
func New(ctx context.Context, target string, opts ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	cfg := defaultConfig()
	if target != "" {
		ts, err := splitTargets(target)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		cfg.targets = ts
	}
	if err := cfg.apply(opts); err != nil {
		return nil, err
	}
	if len(cfg.targets) == 0 {
		return nil, errors.New("client: no target given")
	}
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if cfg.tls != nil {
		creds = credentials.NewTLS(cfg.tls)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("agiqa-client"),
	}
	if cfg.connectTimeout > 0 {
		dial = append(dial, grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.DefaultConfig, MinConnectTimeout: cfg.connectTimeout,
		}))
	}
	dial = append(dial, cfg.dialOpts...)

	c := newClient(cfg)
	c.targets = cfg.targets
	c.owned = true
	c.closed = new(closeState)
	for _, t := range cfg.targets {
		conn, err := grpc.NewClient(t, dial...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("client: target %q: %w", t, err)
		}
		c.conns = append(c.conns, conn)
		c.stubs = append(c.stubs, pb.NewGRPCInferenceServiceClient(conn))
	}
	return c, nil
}

// NewFromConn wraps a connection the caller made and keeps owning: Close does
// not close it. Options that shape dialing (WithTLS, WithInsecure, WithTargets,
// WithDialOptions) are refused; the rest apply.
func NewFromConn(conn grpc.ClientConnInterface, opts ...Option) (*Client, error) {
	if conn == nil {
		return nil, errors.New("client: NewFromConn: nil connection")
	}
	cfg := defaultConfig()
	if err := cfg.apply(opts); err != nil {
		return nil, err
	}
	if len(cfg.connOnly) > 0 {
		return nil, fmt.Errorf("client: NewFromConn: %v only apply to New, which dials", cfg.connOnly)
	}
	c := newClient(cfg)
	c.stubs = []pb.GRPCInferenceServiceClient{pb.NewGRPCInferenceServiceClient(conn)}
	return c, nil
}

func newClient(cfg config) *Client {
	c := &Client{
		cfg:    cfg,
		next:   new(atomic.Uint64),
		pinned: -1,
		callOpts: []grpc.CallOption{
			grpc.MaxCallRecvMsgSize(cfg.maxMsg),
			grpc.MaxCallSendMsgSize(cfg.maxMsg),
		},
	}
	if cfg.compressor != "" {
		c.callOpts = append(c.callOpts, grpc.UseCompressor(cfg.compressor))
	}
	return c
}

// Close closes the connections New opened. It is a no-op for NewFromConn and
// Replica views. It may be called more than once, also concurrently: the
// connections are closed once and every call returns that result.
func (c *Client) Close() error {
	if !c.owned {
		return nil
	}
	c.closed.once.Do(func() {
		var errs []error
		for i, conn := range c.conns {
			if err := conn.Close(); err != nil {
				errs = append(errs, fmt.Errorf("client: closing %q: %w", c.targets[i], err))
			}
		}
		c.closed.err = errors.Join(errs...)
	})
	return c.closed.err
}

// Targets lists the addresses New was given, in round-robin order.
func (c *Client) Targets() []string { return append([]string(nil), c.targets...) }

// Replicas is the number of connections calls rotate over.
func (c *Client) Replicas() int { return len(c.stubs) }

// Replica returns a view of c that sends every call to target i only, sharing
// c's connections. Calls whose effect is per server (LoadModel, shared-memory
// registration, and Infer referencing a registered region) need it when there
// are several replicas. Closing the view does nothing; close c.
func (c *Client) Replica(i int) (*Client, error) {
	if i < 0 || i >= len(c.stubs) {
		return nil, fmt.Errorf("client: replica %d out of range [0, %d)", i, len(c.stubs))
	}
	v := *c
	v.pinned, v.owned = i, false
	return &v, nil
}

// pick returns the stub for the next attempt and its index in c.stubs. A
// connection gRPC reports in TRANSIENT_FAILURE (a replica that is down) is
// passed over while another is usable: a call sent there fails before it is
// written, so even Infer, which is not retried, would fail for no reason.
func (c *Client) pick() (pb.GRPCInferenceServiceClient, int) {
	i := 0
	switch {
	case c.pinned >= 0:
		i = c.pinned
	case len(c.stubs) > 1:
		n := uint64(len(c.stubs))
		start := c.next.Add(1) - 1
		i = int(start % n)
		if len(c.conns) == len(c.stubs) {
			for k := range n {
				if j := int((start + k) % n); c.conns[j].GetState() != connectivity.TransientFailure {
					i = j
					break
				}
			}
		}
	}
	return c.stubs[i], i
}

// withTarget records on a *Error which server stub i talks to.
func (c *Client) withTarget(err error, i int) error {
	var ce *Error
	if errors.As(err, &ce) && ce.Target == "" && i < len(c.targets) {
		ce.Target = c.targets[i]
	}
	return err
}

// invoke runs one unary call with round-robin, per-attempt timeout and, for
// idempotent calls, retries of codes.Unavailable.
func invoke[T any](ctx context.Context, c *Client, op, model string, idempotent bool,
	call func(context.Context, pb.GRPCInferenceServiceClient, []grpc.CallOption) (T, error)) (T, error) {
	var zero T
	retries := 0
	if idempotent {
		retries = c.cfg.retryMax
	}
	for attempt := 0; ; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if c.cfg.perCallTimeout > 0 {
			actx, cancel = context.WithTimeout(ctx, c.cfg.perCallTimeout)
		}
		stub, i := c.pick()
		resp, err := call(actx, stub, c.callOpts)
		cancel()
		if err == nil {
			return resp, nil
		}
		err = withCtx(ctx, c.withTarget(wrapRPC(op, model, err), i))
		if attempt >= retries || Code(err) != codes.Unavailable || ctx.Err() != nil {
			return zero, err
		}
		wait := c.backoff(attempt)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			// The retry could not start before the deadline: waiting for it
			// would only delay the same answer.
			return zero, err
		}
		if serr := sleepCtx(ctx, wait); serr != nil {
			// Report the server's error: it is why we were waiting.
			return zero, withCtx(ctx, err)
		}
	}
}

// backoff is "equal jitter": half the exponential step fixed, half random, so
// replicas restarted together are not hit in lock step yet every wait is real.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.retryCap
	if attempt < 30 {
		if step := c.cfg.retryBase << attempt; step > 0 && step < d {
			d = step
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
