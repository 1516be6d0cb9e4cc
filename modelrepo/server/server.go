// Package server is the embedded inference server: it serves a model
// repository (package modelrepo) over Triton's gRPC protocol
// (inference.GRPCInferenceService), so the harness talks to it exactly as to
// Triton. Models run on pluggable backends; the "native" backend (Go functions
// registered in package native) is built in.
//
// Each ready model version has a bounded queue and one worker per instance
// (instance_group counts). With dynamic_batching, a worker merges queued
// requests along the first dimension as Triton's dynamic batcher does (the
// largest preferred_batch_size it can form, else up to max_batch_size; no
// request waits past max_queue_delay_microseconds from its arrival) and
// splits the outputs back. Statistics are cumulative with Triton's counters.
//
// Error codes: an unknown model or version is NotFound; a known version that
// is not ready (failed to load, unloaded) is Unavailable with the reason; a
// malformed request is InvalidArgument naming the tensor; a full queue is
// Unavailable; a message over the size limit is ResourceExhausted; a model
// error or panic is Internal for the requests it touched.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// Defaults.
const (
	DefaultAddr           = "127.0.0.1:8001" // Triton's gRPC port, loopback only
	DefaultMaxMessageSize = 256 << 20
	DefaultQueueSize      = 512
	DefaultGracePeriod    = 10 * time.Second
	// A stream's requests run concurrently and each holds its response until sent; past these
	// counts a stream stops reading (back-pressure) until responses have gone out.
	DefaultStreamInFlight = 128  // per ModelStreamInfer stream
	DefaultInFlightTotal  = 1024 // over all streams; also the concurrent RPCs of one connection
)

// Extensions are the KServe/Triton protocol extensions ServerMetadata lists.
var Extensions = []string{"model_configuration", "model_repository", "schedule_policy", "statistics", "system_shared_memory"}

type options struct {
	backends   map[string]Backend
	maxMsg     int
	logw       io.Writer
	queueSize  int
	grace      time.Duration
	name       string
	version    string
	shmRegions int
	shmBytes   uint64
	perStream  int
	inFlight   int
	httpAddr   string
}

// Option configures New.
type Option func(*options)

// WithBackend registers b under name (the config's `backend`, or the one its
// `platform` implies: "onnxruntime" for onnxruntime_onnx). A nil b removes it.
func WithBackend(name string, b Backend) Option {
	return func(o *options) {
		if b == nil {
			delete(o.backends, name)
			return
		}
		o.backends[name] = b
	}
}

// WithMaxMessageSize limits received and sent messages (default 256 MiB);
// a larger request fails with ResourceExhausted.
func WithMaxMessageSize(n int) Option { return func(o *options) { o.maxMsg = n } }

// WithLogger receives load/unload events and model errors (default: discarded).
func WithLogger(w io.Writer) Option { return func(o *options) { o.logw = w } }

// WithQueueSize is a model's queue bound when its config sets no
// dynamic_batching.default_queue_policy.max_queue_size (default 512).
func WithQueueSize(n int) Option { return func(o *options) { o.queueSize = n } }

// WithGracePeriod bounds how long ListenAndServe drains in-flight requests
// after its context ends (default 10 s).
func WithGracePeriod(d time.Duration) Option { return func(o *options) { o.grace = d } }

// WithSharedMemoryLimits caps the system shared-memory regions clients may register at once and the
// bytes they map in all (defaults DefaultSHMRegions, DefaultSHMBytes); past either, registration fails
// with ResourceExhausted naming the cap.
func WithSharedMemoryLimits(regions int, bytes uint64) Option {
	return func(o *options) { o.shmRegions, o.shmBytes = regions, bytes }
}

// WithInFlightLimits bounds the requests in flight (received, response not yet sent) on one
// ModelStreamInfer stream and over all streams (defaults DefaultStreamInFlight,
// DefaultInFlightTotal). At either bound a stream stops reading until one of its responses has
// been sent, so a client that sends and never reads is held back by gRPC flow control instead
// of making the server keep every response. total is also the most concurrent RPCs one
// connection may open (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: clients queue past it).
func WithInFlightLimits(perStream, total int) Option {
	return func(o *options) { o.perStream, o.inFlight = perStream, total }
}

// WithVersion is the server version ServerMetadata reports (name "agiqa").
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// WithHTTPAddr makes ListenAndServe also serve the KServe v2 HTTP/REST API
// (http.go) on addr, host:port (DefaultHTTPAddr is Triton's port on loopback);
// empty, the default, serves gRPC only. Serve and ServeHTTPAPI take listeners
// instead.
func WithHTTPAddr(addr string) Option { return func(o *options) { o.httpAddr = addr } }

// Server serves one repository.
type Server struct {
	repo *modelrepo.Repository
	opts options
	log  *log.Logger
	grpc *grpc.Server
	shm  *shmRegistry
	// inFlight holds one token per stream request in flight, server-wide (WithInFlightLimits).
	inFlight chan struct{}

	// baseCtx is what model Execute calls get; cancelled by a forced stop.
	baseCtx context.Context
	cancel  context.CancelFunc

	loadMu sync.Mutex // serialises load and unload
	mu     sync.RWMutex
	models map[string]*modelState
	stats  map[statKey]*versionStats

	lisMu    sync.Mutex
	lis      net.Listener
	stopping atomic.Bool

	metrics  httpServers     // ServeMetrics listeners
	settings runtimeSettings // TraceSetting / LogSettings values
	https    httpServers     // ServeHTTPAPI servers
}

// New loads every model of repo (a model that fails is kept, not ready, with
// its reason) and returns a server ready to Serve. The error is about the
// options only.
func New(repo *modelrepo.Repository, opts ...Option) (*Server, error) {
	if repo == nil {
		return nil, errors.New("server: nil repository")
	}
	o := options{
		backends:   map[string]Backend{"native": NativeBackend{}},
		maxMsg:     DefaultMaxMessageSize,
		logw:       io.Discard,
		queueSize:  DefaultQueueSize,
		grace:      DefaultGracePeriod,
		name:       "agiqa",
		version:    "devel",
		shmRegions: DefaultSHMRegions,
		shmBytes:   DefaultSHMBytes,
		perStream:  DefaultStreamInFlight,
		inFlight:   DefaultInFlightTotal,
	}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.maxMsg <= 0:
		return nil, fmt.Errorf("server: max message size %d must be positive", o.maxMsg)
	case o.queueSize <= 0:
		return nil, fmt.Errorf("server: queue size %d must be positive", o.queueSize)
	case o.shmRegions <= 0 || o.shmBytes == 0:
		return nil, fmt.Errorf("server: shared-memory limits %d regions, %d bytes must be positive", o.shmRegions, o.shmBytes)
	case o.perStream <= 0 || o.inFlight <= 0 || int64(o.inFlight) > math.MaxUint32:
		return nil, fmt.Errorf("server: in-flight limits %d per stream, %d in all must be positive (and the total at most %d)", o.perStream, o.inFlight, uint32(math.MaxUint32))
	case o.grace < 0:
		return nil, fmt.Errorf("server: grace period %v must not be negative", o.grace)
	case o.httpAddr != "" && !validHostPort(o.httpAddr):
		return nil, fmt.Errorf("server: HTTP address %q is not host:port", o.httpAddr)
	case o.logw == nil:
		o.logw = io.Discard
	}
	s := &Server{
		repo:     repo,
		opts:     o,
		log:      log.New(o.logw, "agiqa-server: ", log.LstdFlags),
		shm:      newSHMRegistry(o.shmRegions, o.shmBytes),
		inFlight: make(chan struct{}, o.inFlight),
		models:   map[string]*modelState{},
		stats:    map[statKey]*versionStats{},
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(o.maxMsg),
		grpc.MaxSendMsgSize(o.maxMsg),
		grpc.MaxConcurrentStreams(uint32(o.inFlight)),
		grpc.ForceServerCodecV2(newInferCodec()),
		grpc.ChainUnaryInterceptor(s.recoverUnary),
		grpc.ChainStreamInterceptor(s.recoverStream),
	)
	pb.RegisterGRPCInferenceServiceServer(s.grpc, &service{s: s})

	for _, me := range repo.Errors {
		s.log.Printf("model %q not loaded: %v", me.Name, me.Err)
		s.models[me.Name] = &modelState{name: me.Name, err: me.Err}
	}
	// Ensembles last: loading one checks that its steps' models are ready (ensemble.go).
	for _, ensembles := range []bool{false, true} {
		for _, m := range repo.Models {
			if modelrepo.IsEnsemble(m.Config) == ensembles {
				s.models[m.Name] = s.loadModel(context.Background(), m)
			}
		}
	}
	return s, nil
}

// GRPCServer is the underlying gRPC server (tests serve it on a bufconn).
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Serve accepts connections on lis until GracefulStop; it returns nil after a stop.
func (s *Server) Serve(lis net.Listener) error {
	s.lisMu.Lock()
	s.lis = lis
	s.lisMu.Unlock()
	s.log.Printf("serving %s on %s", s.repo.Label, lis.Addr())
	if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// ListenAndServe listens on addr (DefaultAddr when empty: loopback only) and
// serves until ctx ends, then drains in-flight requests for the grace period
// and stops.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	errc := make(chan error, 2)
	go func() { errc <- s.Serve(lis) }()
	serving := 1
	if s.opts.httpAddr != "" {
		hlis, err := net.Listen("tcp", s.opts.httpAddr)
		if err != nil {
			lis.Close()
			return fmt.Errorf("server: HTTP: %w", err)
		}
		go func() { errc <- s.ServeHTTPAPI(hlis) }()
		serving++
	}
	var firstErr error
	select {
	case firstErr = <-errc:
		serving--
	case <-ctx.Done():
	}
	gctx, cancel := context.WithTimeout(context.Background(), s.opts.grace)
	defer cancel()
	stopErr := s.GracefulStop(gctx)
	for ; serving > 0; serving-- {
		if err := <-errc; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return stopErr
}

// Addr is the address being served, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.lisMu.Lock()
	defer s.lisMu.Unlock()
	if s.lis == nil {
		return nil
	}
	return s.lis.Addr()
}

// GracefulStop stops accepting requests, waits for in-flight ones (streams
// included) to finish, then closes every model instance and shared-memory
// mapping. If ctx ends first it stops hard: open RPCs are cancelled and the
// error is ctx's.
func (s *Server) GracefulStop(ctx context.Context) error {
	s.stopping.Store(true)
	s.closeMetrics()
	done := make(chan struct{})
	go func() {
		httpDone := make(chan struct{})
		go func() { s.shutdownHTTP(ctx); close(httpDone) }()
		s.grpc.GracefulStop()
		<-httpDone
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("server: graceful stop cut short: %w", ctx.Err())
		s.cancel()
		s.grpc.Stop()
		<-done
	}
	s.loadMu.Lock()
	s.mu.Lock()
	models := s.models
	s.models = map[string]*modelState{}
	s.mu.Unlock()
	// Draining the queues is bounded by ctx too: a model may still be running
	// for a caller that has gone. Past the deadline, cancel what runs and
	// leave the workers to close their instances when their call returns.
	drained := make(chan struct{})
	go func(wait bool) {
		for _, ms := range models {
			ms.close(wait)
		}
		close(drained)
	}(err == nil)
	select {
	case <-drained:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("server: graceful stop cut short: %w", ctx.Err())
		}
	}
	s.loadMu.Unlock()
	s.cancel()
	s.shm.closeAll()
	s.log.Printf("stopped")
	return err
}

// modelState is what the server knows of one model directory.
type modelState struct {
	name     string
	model    *modelrepo.Model // nil when the directory failed to read
	err      error            // why the model as a whole is unavailable
	versions []*versionState  // ascending
}

// close drains (wait) or abandons every version's queue and closes instances.
func (ms *modelState) close(wait bool) {
	for _, vs := range ms.versions {
		if vs.sched != nil {
			vs.sched.close(wait)
		}
	}
}

func (ms *modelState) latestReady() *versionState {
	for i := len(ms.versions) - 1; i >= 0; i-- {
		if ms.versions[i].ready {
			return ms.versions[i]
		}
	}
	return nil
}

func (ms *modelState) reason() string {
	if ms.err != nil {
		return ms.err.Error()
	}
	var parts []string
	for _, vs := range ms.versions {
		if !vs.ready {
			parts = append(parts, fmt.Sprintf("version %d: %s", vs.version, vs.reason))
		}
	}
	if len(parts) == 0 {
		return "no version loaded"
	}
	return strings.Join(parts, "; ")
}

func (ms *modelState) versionList() string {
	var vs []string
	for _, v := range ms.versions {
		vs = append(vs, v.vstr)
	}
	if len(vs) == 0 {
		return "none"
	}
	return strings.Join(vs, ", ")
}

// resolve finds the version a request names ("" = latest ready).
func (s *Server) resolve(name, version string) (*versionState, error) {
	n, err := parseVersion(name, version) // first, as in Triton
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	ms := s.models[name]
	s.mu.RUnlock()
	if ms == nil {
		return nil, status.Errorf(codes.NotFound, "unknown model %q (models: %s)", name, s.modelNames())
	}
	if version == "" {
		if vs := ms.latestReady(); vs != nil {
			return vs, nil
		}
		// NotFound, as Triton's "has no available versions" (answers.go).
		return nil, status.Errorf(codes.NotFound, "model %q is not ready: %s", name, ms.reason())
	}
	for _, vs := range ms.versions {
		if vs.version == n {
			if !vs.ready {
				return nil, status.Errorf(codes.Unavailable, "model %q version %s is not ready: %s", name, version, vs.reason)
			}
			return vs, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "model %q has no version %q (versions: %s)", name, version, ms.versionList())
}

func (s *Server) modelNames() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.models))
	for n := range s.models {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// recoverUnary turns a panic in a handler (not in a model: the scheduler
// handles those) into Internal and logs the stack rather than sending it.
func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Printf("%s panicked: %v\n%s", info.FullMethod, p, debug.Stack())
			err = status.Errorf(codes.Internal, "%s: internal error: %v", info.FullMethod, p)
		}
	}()
	return h(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Printf("%s panicked: %v\n%s", info.FullMethod, p, debug.Stack())
			err = status.Errorf(codes.Internal, "%s: internal error: %v", info.FullMethod, p)
		}
	}()
	return h(srv, ss)
}
