package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/agiqa-bench/agiqa/client/compression"
)

// DefaultMaxMessageSize bounds a single gRPC message in either direction. Image
// batches are large (a batch of 8 512x512 RGB images is 6 MiB), far above gRPC's
// 4 MiB receive default, so the client raises it to what Triton itself accepts.
const DefaultMaxMessageSize = 256 << 20

// Retry defaults: a few quick attempts ride out a replica restarting or a
// connection being re-established without stalling a benchmark for long.
const (
	DefaultRetryMax  = 3
	DefaultRetryBase = 50 * time.Millisecond
	DefaultRetryCap  = 1 * time.Second
)

// Option configures a Client. Options are checked once, in New or NewFromConn.
type Option func(*config) error

type config struct {
	targets        []string
	tls            *tls.Config
	tlsSet         bool
	insecureSet    bool
	maxMsg         int
	retryMax       int
	retryBase      time.Duration
	retryCap       time.Duration
	retryInfer     bool
	perCallTimeout time.Duration
	connectTimeout time.Duration
	dialOpts       []grpc.DialOption
	compressor     string // grpc-encoding of requests; "" sends them uncompressed
	// connOnly names the options given that only make sense when the client
	// dials (New); NewFromConn refuses them rather than ignore them silently.
	connOnly []string
}

func defaultConfig() config {
	return config{
		maxMsg:    DefaultMaxMessageSize,
		retryMax:  DefaultRetryMax,
		retryBase: DefaultRetryBase,
		retryCap:  DefaultRetryCap,
	}
}

func (c *config) apply(opts []Option) error {
	var errs []error
	for _, o := range opts {
		if o == nil {
			errs = append(errs, errors.New("nil Option"))
			continue
		}
		if err := o(c); err != nil {
			errs = append(errs, err)
		}
	}
	if c.tlsSet && c.insecureSet {
		errs = append(errs, errors.New("WithTLS and WithInsecure both given"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("client options: %w", err)
	}
	return nil
}

// WithTLS dials every target over TLS with cfg (nil is refused: use
// &tls.Config{} for the system roots).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		c.connOnly = append(c.connOnly, "WithTLS")
		if cfg == nil {
			return errors.New("WithTLS: nil *tls.Config")
		}
		c.tls, c.tlsSet = cfg.Clone(), true
		return nil
	}
}

// WithInsecure dials without transport security; this is the default, the
// option exists to make that choice explicit in the caller's code.
func WithInsecure() Option {
	return func(c *config) error {
		c.connOnly = append(c.connOnly, "WithInsecure")
		c.insecureSet = true
		return nil
	}
}

// WithMaxMessageSize bounds sent and received messages (default 256 MiB). A
// larger message fails with codes.ResourceExhausted.
func WithMaxMessageSize(bytes int) Option {
	return func(c *config) error {
		if bytes <= 0 {
			return fmt.Errorf("WithMaxMessageSize: %d bytes, want > 0", bytes)
		}
		c.maxMsg = bytes
		return nil
	}
}

// WithRetry sets how idempotent calls retry codes.Unavailable: up to max
// retries after the first attempt, sleeping a jittered exponential backoff
// that starts at base and never exceeds cap. max = 0 disables retries.
func WithRetry(max int, base, cap time.Duration) Option {
	return func(c *config) error {
		if max < 0 {
			return fmt.Errorf("WithRetry: max %d, want >= 0", max)
		}
		if max > 0 && (base <= 0 || cap < base) {
			return fmt.Errorf("WithRetry: want 0 < base <= cap, got base %v cap %v", base, cap)
		}
		c.retryMax, c.retryBase, c.retryCap = max, base, cap
		return nil
	}
}

// WithRetryInfer lets Infer retry on codes.Unavailable too. Off by default:
// a request that reached the server before the connection dropped may have run,
// and models with state (sequences) must not see it twice.
func WithRetryInfer() Option {
	return func(c *config) error {
		c.retryInfer = true
		return nil
	}
}

// WithTargets adds server addresses ("host:port" or any gRPC target) to the one
// given to New; calls are spread over all of them round-robin.
func WithTargets(targets ...string) Option {
	return func(c *config) error {
		c.connOnly = append(c.connOnly, "WithTargets")
		for _, t := range targets {
			ts, err := splitTargets(t)
			if err != nil {
				return fmt.Errorf("WithTargets: %w", err)
			}
			c.targets = append(c.targets, ts...)
		}
		return nil
	}
}

// WithDialOptions appends raw gRPC dial options after the client's own, so
// they win where they overlap (interceptors, keepalive, a custom dialer).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) error {
		c.connOnly = append(c.connOnly, "WithDialOptions")
		for i, o := range opts {
			if o == nil {
				return fmt.Errorf("WithDialOptions: option %d is nil", i)
			}
		}
		c.dialOpts = append(c.dialOpts, opts...)
		return nil
	}
}

// WithCompression compresses every request message with name ("gzip" or "deflate", the
// algorithms Triton's server accepts); the server answers in kind. Responses compressed by the
// server are decoded whatever this option says. Worth it for large inputs over slow links only:
// image tensors compress little and the CPU cost is paid on both ends.
func WithCompression(name string) Option {
	return func(c *config) error {
		if !compression.Supported(name) {
			return fmt.Errorf("WithCompression: %q, want one of %v", name, compression.Names)
		}
		c.compressor = name
		return nil
	}
}

// WithPerCallTimeout bounds each attempt of a unary call (a retried call gets
// the timeout afresh per attempt; the caller's ctx still bounds the whole).
// Streams are not bounded by it: they live as long as their ctx.
func WithPerCallTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithPerCallTimeout: %v, want > 0", d)
		}
		c.perCallTimeout = d
		return nil
	}
}

// WithConnectTimeout bounds each attempt to connect to a server, TCP and
// HTTP/2 handshake together (gRPC's default is 20 s). A call made while the
// connection is being set up fails with codes.Unavailable once the attempt
// times out, so a wrong address or a port that accepts but never answers is
// reported quickly instead of stalling the caller.
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) error {
		c.connOnly = append(c.connOnly, "WithConnectTimeout")
		if d <= 0 {
			return fmt.Errorf("WithConnectTimeout: %v, want > 0", d)
		}
		c.connectTimeout = d
		return nil
	}
}

// CheckTarget refuses a server address without a port: gRPC would quietly
// dial 443, while a Triton address always names its port. Targets with a
// scheme (dns:///host:port, unix:///path) are left to gRPC.
func CheckTarget(target string) error {
	if strings.Contains(target, "://") {
		return nil
	}
	if _, port, err := net.SplitHostPort(target); err != nil || port == "" {
		return fmt.Errorf("target %q: want host:port (Triton's gRPC port is 8001 by default)", target)
	}
	return nil
}

// splitTargets splits a comma-separated target list, refusing empty entries
// ("a:1,,b:2" is a typo, not a request for a default address).
func splitTargets(s string) ([]string, error) {
	parts := strings.Split(s, ",")
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("target list %q: entry %d is empty", s, i)
		}
		if err := CheckTarget(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
