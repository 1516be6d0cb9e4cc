package perf

import (
	"time"

	"github.com/agiqa-bench/agiqa/bench/perf/telemetry"
)

// Level statuses.
const (
	// StatusStable: the last StableWindows windows agreed within the tolerance.
	StatusStable = "stable"
	// StatusUnstable: MaxTrials windows ran without agreeing; the figures
	// are those of the last StableWindows windows.
	StatusUnstable = "unstable"
	// StatusFailed: a window saw errors (or the server's statistics could
	// not be read); the figures are those gathered up to and including it.
	StatusFailed = "failed"
)

// Report is a sweep's result, ready for the renderers (WriteTable, WriteCSV,
// WriteJSON, WritePlots).
type Report struct {
	Model   string   `json:"model"`
	Version string   `json:"version,omitempty"`
	Targets []string `json:"targets"`
	// Mode is "concurrency" (closed loop) or "rate" (open loop).
	Mode    string `json:"mode"`
	Arrival string `json:"arrival,omitempty"`
	// Input is what the requests carried: dataset, random or zeros.
	Input        string `json:"input"`
	SharedMemory string `json:"shared_memory"`
	// StabilityPct, Window (microseconds) / WindowRequests and MaxTrials
	// are the measurement settings.
	StabilityPct   float64 `json:"stability_pct"`
	WindowUS       float64 `json:"window_us,omitempty"`
	WindowRequests int     `json:"window_requests,omitempty"`
	MaxTrials      int     `json:"max_trials"`
	Warmup         int     `json:"warmup"`
	// MaxBatchSize is the model's max_batch_size.
	MaxBatchSize int       `json:"max_batch_size"`
	Started      time.Time `json:"started"`
	// TotalRequests counts every request the run completed, warm-up and
	// the one check request per target and batch size included (what client
	// CPU per request is divided by).
	TotalRequests uint64 `json:"total_requests"`
	// Levels are the load levels in the order run.
	Levels []*Level `json:"levels"`
	// Notes are warnings gathered on the way (telemetry unavailable, ...).
	Notes []string `json:"notes,omitempty"`
}

// Level is one load level: a batch size and a concurrency or a rate.
type Level struct {
	Batch       int     `json:"batch"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	// Status is stable, unstable or failed.
	Status string `json:"status"`
	// Error says why a failed level failed.
	Error string `json:"error,omitempty"`
	// Total sums every target; PerTarget has one entry per target when
	// there are several.
	Total     *Figures   `json:"total"`
	PerTarget []*Figures `json:"per_target,omitempty"`
	// Windows are the measurement windows in order.
	Windows []*Window `json:"windows"`
}

// Load is the level's load: its concurrency, or its rate in requests/s.
func (l *Level) Load() float64 {
	if l.Concurrency > 0 {
		return float64(l.Concurrency)
	}
	return l.Rate
}

// Figures are one target's (or the total's) figures at a level.
type Figures struct {
	// Target is the server address, or "total".
	Target string `json:"target"`
	// Client is measured by the load generator.
	Client *Metrics `json:"client"`
	// Server is from ModelStatistics deltas; nil if unavailable.
	Server *ServerStats `json:"server,omitempty"`
	// GPU is from the Prometheus endpoint; nil if unavailable.
	GPU *telemetry.Summary `json:"gpu,omitempty"`

	gpuAcc *telemetry.Accumulator
}

// Window is one measurement window.
type Window struct {
	Index  int  `json:"index"`
	Failed bool `json:"failed,omitempty"`
	// Error says what failed besides request errors (statistics, ...).
	Error string `json:"error,omitempty"`
	// Total is the window's figures over every target.
	Total *Figures `json:"total"`

	perTarget []*Figures
}

// latency is the window's latency figure the stability check compares: the
// mean, or the given percentile.
func (w *Window) latency(percentile float64) float64 {
	m := w.Total.Client
	if percentile == 0 {
		return m.Latency.MeanUS
	}
	return m.Percentile(percentile)
}
