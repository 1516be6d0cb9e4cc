package perf

import (
	"fmt"
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

// Config describes a measurement. Error messages about a field name the
// `agiqa perf` flag that sets it.
type Config struct {
	// Targets are the gRPC addresses of the servers driven together
	// (--server). Load levels are per target: with two targets and
	// concurrency 4, each server has 4 requests in flight.
	Targets []string
	// Model and Version name the model (--model, --version; "" = server's choice).
	Model, Version string

	// Concurrency lists closed-loop levels: requests in flight per target
	// (--concurrency). Exactly one of Concurrency and Rates is non-empty.
	Concurrency []int
	// Rates lists open-loop levels in requests per second per target (--rate).
	Rates []float64
	// Arrival spaces open-loop requests (--arrival; default constant).
	Arrival Arrival
	// MaxInflight bounds open-loop requests in flight per target
	// (--max-inflight); a schedule slot that finds every sender busy waits,
	// and the wait counts in its latency.
	MaxInflight int
	// Batches lists client-side batch sizes (--batch; default 1).
	Batches []int

	// Warmup requests per level are sent and discarded before measuring (--warmup).
	Warmup int
	// Window is a measurement window's length (--window), unless
	// WindowRequests > 0 makes windows end after that many requests
	// (--window-requests).
	Window         time.Duration
	WindowRequests int
	// Stability is the tolerance in percent (--stability): a level is stable
	// when, over the last StableWindows windows, the largest throughput is
	// at most (1 + Stability/100) times the smallest, and likewise latency
	// (perf_analyzer's --stability-percentage).
	Stability float64
	// Percentile is the latency whose stability is checked (--percentile);
	// 0 checks the mean.
	Percentile float64
	// MaxTrials bounds the windows per level (--max-trials); a level not
	// stable by then is reported "unstable".
	MaxTrials int

	// Input selects the request data (--input-data); default dataset when
	// Samples are given, random otherwise.
	Input InputData
	// Samples are the preprocessed dataset items for InputDataset.
	Samples []Sample
	// Shapes gives the shape of inputs with variable dimensions (--shape).
	Shapes map[string][]int64
	// Seed seeds random inputs and Poisson arrivals (--seed).
	Seed uint64
	// SharedMemory selects how inputs travel (--shared-memory; default none).
	SharedMemory SharedMemory

	// Connections is the number of gRPC connections per target (--connections; default 1).
	Connections int
	// Timeout bounds each request (--timeout; default 30s).
	Timeout time.Duration
	// OnError decides whether a failed level ends the sweep (--on-error; default stop).
	OnError OnError

	// MetricsURLs are the Prometheus endpoints scraped for GPU telemetry,
	// one per target or one for all; none disables telemetry (--metrics-url).
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

// withDefaults returns a copy with defaults filled in, or an error naming
// the flag of the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if len(c.Targets) == 0 {
		return c, fmt.Errorf("--server: no target given")
	}
	for i, t := range c.Targets {
		if t == "" {
			return c, fmt.Errorf("--server: target %d is empty", i+1)
		}
	}
	if c.Model == "" {
		return c, fmt.Errorf("--model: no model given")
	}
	switch {
	case len(c.Concurrency) > 0 && len(c.Rates) > 0:
		return c, fmt.Errorf("--concurrency and --rate: give one load mode, not both")
	case len(c.Concurrency) == 0 && len(c.Rates) == 0:
		c.Concurrency = []int{1}
	}
	for _, n := range c.Concurrency {
		if n < 1 {
			return c, fmt.Errorf("--concurrency %d: must be >= 1", n)
		}
	}
	for _, r := range c.Rates {
		if !(r > 0) || math.IsInf(r, 0) {
			return c, fmt.Errorf("--rate %v: must be a finite number > 0", r)
		}
	}
	if c.Arrival == "" {
		c.Arrival = ArrivalConstant
	}
	if c.Arrival != ArrivalConstant && c.Arrival != ArrivalPoisson {
		return c, fmt.Errorf("--arrival %q: want constant or poisson", c.Arrival)
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.MaxInflight < 1 {
		return c, fmt.Errorf("--max-inflight %d: must be >= 1", c.MaxInflight)
	}
	if len(c.Batches) == 0 {
		c.Batches = []int{1}
	}
	for _, b := range c.Batches {
		if b < 1 {
			return c, fmt.Errorf("--batch %d: must be >= 1", b)
		}
	}
	if c.Warmup < 0 {
		return c, fmt.Errorf("--warmup %d: must be >= 0", c.Warmup)
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Window < 0 {
		return c, fmt.Errorf("--window %v: must be > 0", c.Window)
	}
	if c.WindowRequests < 0 {
		return c, fmt.Errorf("--window-requests %d: must be >= 0", c.WindowRequests)
	}
	if c.Stability == 0 {
		c.Stability = DefaultStability
	}
	if !(c.Stability > 0) || c.Stability >= 100 {
		return c, fmt.Errorf("--stability %v: want a percentage in (0, 100)", c.Stability)
	}
	if c.Percentile < 0 || c.Percentile > 100 {
		return c, fmt.Errorf("--percentile %v: want 0 (mean) or a percentile in (0, 100]", c.Percentile)
	}
	if c.MaxTrials == 0 {
		c.MaxTrials = DefaultMaxTrials
	}
	if c.MaxTrials < StableWindows {
		return c, fmt.Errorf("--max-trials %d: must be >= %d (the stability check needs %d windows)", c.MaxTrials, StableWindows, StableWindows)
	}
	if c.Input == "" {
		c.Input = InputRandom
		if len(c.Samples) > 0 {
			c.Input = InputDataset
		}
	}
	switch c.Input {
	case InputDataset:
		if len(c.Samples) == 0 {
			return c, fmt.Errorf("--input-data dataset: no dataset given")
		}
	case InputRandom, InputZeros:
	default:
		return c, fmt.Errorf("--input-data %q: want dataset, random or zeros", c.Input)
	}
	if c.SharedMemory == "" {
		c.SharedMemory = SharedMemoryNone
	}
	if c.SharedMemory != SharedMemoryNone && c.SharedMemory != SharedMemorySystem {
		return c, fmt.Errorf("--shared-memory %q: want none or system", c.SharedMemory)
	}
	if c.Connections == 0 {
		c.Connections = 1
	}
	if c.Connections < 1 {
		return c, fmt.Errorf("--connections %d: must be >= 1", c.Connections)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return c, fmt.Errorf("--timeout %v: must be > 0", c.Timeout)
	}
	if c.OnError == "" {
		c.OnError = OnErrorStop
	}
	if c.OnError != OnErrorStop && c.OnError != OnErrorContinue {
		return c, fmt.Errorf("--on-error %q: want stop or continue", c.OnError)
	}
	if n := len(c.MetricsURLs); n > 1 && n != len(c.Targets) {
		return c, fmt.Errorf("--metrics-url: %d URLs for %d targets; give one per target or one for all", n, len(c.Targets))
	}
	if c.ScrapeInterval == 0 {
		c.ScrapeInterval = min(max(c.Window/5, 50*time.Millisecond), time.Second)
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c, nil
}
