package perf

import (
	"math"
	"time"

	"google.golang.org/grpc"
)

// Arrival is how open-loop requests are spaced.
type Arrival string

const (
	// ArrivalConstant sends at fixed intervals of 1/rate.
	ArrivalConstant Arrival = "constant"
	// ArrivalPoisson draws exponential intervals with mean 1/rate (seeded).
	ArrivalPoisson Arrival = "poisson"
)

// OnError is what the sweep does after a load level fails.
type OnError string

const (
	// OnErrorStop ends the sweep; the figures gathered so far are returned.
	OnErrorStop OnError = "stop"
	// OnErrorContinue goes on with the next load level.
	OnErrorContinue OnError = "continue"
)

// StableWindows is how many consecutive windows must agree for a level to
// be stable (perf_analyzer's stability window).
const StableWindows = 3

// Defaults applied by Run to zero fields.
const (
	DefaultWindow      = time.Second
	DefaultStability   = 10.0 // percent
	DefaultMaxTrials   = 10
	DefaultWarmup      = 20
	DefaultMaxInflight = 256
	DefaultTimeout     = 30 * time.Second
)

// Config describes a measurement. Run refuses an invalid field with a
// *FieldError that names it (Config.Batches, Config.Warmup, ...).
type Config struct {
	// Targets are the gRPC addresses of the servers driven together.
	// Load levels are per target: with two targets and concurrency 4, each
	// server has 4 requests in flight.
	Targets []string
	// Model and Version name the model ("" = server's choice).
	Model, Version string

	// Concurrency lists closed-loop levels: requests in flight per target.
	// At most one of Concurrency and Rates is non-empty (neither: concurrency 1).
	Concurrency []int
	// Rates lists open-loop levels in requests per second per target.
	Rates []float64
	// Arrival spaces open-loop requests (default constant).
	Arrival Arrival
	// MaxInflight bounds open-loop requests in flight per target; a
	// schedule slot that finds every sender busy waits, and the wait counts
	// in its latency.
	MaxInflight int
	// Batches lists client-side batch sizes (default 1).
	Batches []int

	// Warmup requests per level are sent and discarded before measuring.
	Warmup int
	// Window is a measurement window's length, unless WindowRequests > 0
	// makes windows end after that many requests.
	Window         time.Duration
	WindowRequests int
	// Stability is the tolerance in percent: a level is stable when, over the last StableWindows windows, the largest throughput is
	// at most (1 + Stability/100) times the smallest, and likewise latency
	// (perf_analyzer's --stability-percentage).
	Stability float64
	// Percentile is the latency percentile whose stability is checked; 0
	// checks the mean.
	Percentile float64
	// MaxTrials bounds the windows per level; a level not stable by then
	// is reported "unstable".
	MaxTrials int

	// Input selects the request data; default dataset when Samples are
	// given, random otherwise.
	Input InputData
	// Samples are the preprocessed dataset items for InputDataset.
	Samples []Sample
	// Shapes gives the shape of inputs with variable dimensions.
	Shapes map[string][]int64
	// Seed seeds random inputs and Poisson arrivals.
	Seed uint64
	// SharedMemory selects how inputs travel (default none).
	SharedMemory SharedMemory

	// Connections is the number of gRPC connections per target (default 1).
	Connections int
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// OnError decides whether a failed level ends the sweep (default stop).
	OnError OnError

	// MetricsURLs are the Prometheus endpoints scraped for GPU telemetry,
	// one per target or one for all; empty: no telemetry.
	MetricsURLs []string
	// ScrapeInterval is the time between scrapes (default a fifth of the
	// window, between 50 ms and 1 s).
	ScrapeInterval time.Duration

	// DialOptions are appended to the load connections' dial options.
	DialOptions []grpc.DialOption
	// Logf receives progress and warnings (nil: discarded).
	Logf func(format string, args ...any)
	// Progress, if set, is called after every window and every level.
	Progress func(Event)
}

// Event reports progress: Window is set after a window, nil after a level.
type Event struct {
	Level  *Level
	Window *Window
}

// Mode is the load mode a Config selects.
func (c *Config) Mode() string {
	if len(c.Rates) > 0 {
		return "rate"
	}
	return "concurrency"
}

// withDefaults returns a copy with defaults filled in, or a *FieldError
// naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if len(c.Targets) == 0 {
		return c, fieldErr("Targets", nil, "no target given")
	}
	for i, t := range c.Targets {
		if t == "" {
			return c, fieldErr("Targets", nil, "target %d is empty", i+1)
		}
	}
	if c.Model == "" {
		return c, fieldErr("Model", nil, "no model given")
	}
	if err := c.loadDefaults(); err != nil {
		return c, err
	}
	if err := c.windowDefaults(); err != nil {
		return c, err
	}
	if err := c.inputDefaults(); err != nil {
		return c, err
	}
	if c.Connections == 0 {
		c.Connections = 1
	}
	if c.Connections < 1 {
		return c, fieldErr("Connections", c.Connections, "must be >= 1")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return c, fieldErr("Timeout", c.Timeout, "must be > 0")
	}
	if c.OnError == "" {
		c.OnError = OnErrorStop
	}
	if c.OnError != OnErrorStop && c.OnError != OnErrorContinue {
		return c, fieldErr("OnError", quoted(c.OnError), "want %s or %s", OnErrorStop, OnErrorContinue)
	}
	if n := len(c.MetricsURLs); n > 1 && n != len(c.Targets) {
		return c, fieldErr("MetricsURLs", nil, "%d URLs for %d targets; give one per target or one for all", n, len(c.Targets))
	}
	if c.ScrapeInterval == 0 {
		c.ScrapeInterval = min(max(c.Window/5, 50*time.Millisecond), time.Second)
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c, nil
}

// loadDefaults checks and fills the load levels and batch sizes.
func (c *Config) loadDefaults() error {
	switch {
	case len(c.Concurrency) > 0 && len(c.Rates) > 0:
		return fieldErr("Rates", nil, "Concurrency is set too; give one load mode, not both")
	case len(c.Concurrency) == 0 && len(c.Rates) == 0:
		c.Concurrency = []int{1}
	}
	for _, n := range c.Concurrency {
		if n < 1 {
			return fieldErr("Concurrency", n, "must be >= 1")
		}
	}
	for _, r := range c.Rates {
		if !(r > 0) || math.IsInf(r, 0) {
			return fieldErr("Rates", r, "must be a finite number > 0")
		}
	}
	if c.Arrival == "" {
		c.Arrival = ArrivalConstant
	}
	if c.Arrival != ArrivalConstant && c.Arrival != ArrivalPoisson {
		return fieldErr("Arrival", quoted(c.Arrival), "want %s or %s", ArrivalConstant, ArrivalPoisson)
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.MaxInflight < 1 {
		return fieldErr("MaxInflight", c.MaxInflight, "must be >= 1")
	}
	if len(c.Batches) == 0 {
		c.Batches = []int{1}
	}
	for _, b := range c.Batches {
		if b < 1 {
			return fieldErr("Batches", b, "must be >= 1")
		}
	}
	return nil
}

// windowDefaults checks and fills warm-up, windows and the stability rule.
func (c *Config) windowDefaults() error {
	if c.Warmup < 0 {
		return fieldErr("Warmup", c.Warmup, "must be >= 0")
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Window < 0 {
		return fieldErr("Window", c.Window, "must be > 0")
	}
	if c.WindowRequests < 0 {
		return fieldErr("WindowRequests", c.WindowRequests, "must be >= 0")
	}
	if c.Stability == 0 {
		c.Stability = DefaultStability
	}
	if !(c.Stability > 0) || c.Stability >= 100 {
		return fieldErr("Stability", c.Stability, "want a percentage in (0, 100)")
	}
	if !(c.Percentile >= 0 && c.Percentile <= 100) {
		return fieldErr("Percentile", c.Percentile, "want 0 (mean) or a percentile in (0, 100]")
	}
	if c.MaxTrials == 0 {
		c.MaxTrials = DefaultMaxTrials
	}
	if c.MaxTrials < StableWindows {
		return fieldErr("MaxTrials", c.MaxTrials, "must be >= %d (the stability check needs %d windows)", StableWindows, StableWindows)
	}
	return nil
}

// inputDefaults checks and fills the request data and its transport.
func (c *Config) inputDefaults() error {
	if c.Input == "" {
		c.Input = InputRandom
		if len(c.Samples) > 0 {
			c.Input = InputDataset
		}
	}
	switch c.Input {
	case InputDataset:
		if len(c.Samples) == 0 {
			return fieldErr("Input", quoted(c.Input), "no Samples given")
		}
	case InputRandom, InputZeros:
	default:
		return fieldErr("Input", quoted(c.Input), "want %s, %s or %s", InputDataset, InputRandom, InputZeros)
	}
	if c.SharedMemory == "" {
		c.SharedMemory = SharedMemoryNone
	}
	if c.SharedMemory != SharedMemoryNone && c.SharedMemory != SharedMemorySystem {
		return fieldErr("SharedMemory", quoted(c.SharedMemory), "want %s or %s", SharedMemoryNone, SharedMemorySystem)
	}
	return nil
}
