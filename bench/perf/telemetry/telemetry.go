// Package telemetry scrapes GPU figures from Triton's Prometheus endpoint
// (port 8002, path /metrics) while a load runs: utilisation, memory used and
// power draw per GPU, summarised per measurement window.
//
// Triton's metric names (labelled by gpu_uuid):
//
//	nv_gpu_utilization        fraction of time busy, 0..1
//	nv_gpu_memory_used_bytes  bytes in use
//	nv_gpu_memory_total_bytes bytes on the device
//	nv_gpu_power_usage        watts drawn
package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names Triton exports.
const (
	MetricUtilization = "nv_gpu_utilization"
	MetricMemoryUsed  = "nv_gpu_memory_used_bytes"
	MetricMemoryTotal = "nv_gpu_memory_total_bytes"
	MetricPower       = "nv_gpu_power_usage"
	labelGPU          = "gpu_uuid"
)

// DefaultPort is Triton's metrics port.
const DefaultPort = "8002"

// DefaultURL is Triton's metrics endpoint on the host of a gRPC target
// ("gpu1:8001" -> "http://gpu1:8002/metrics").
func DefaultURL(target string) string {
	host := strings.TrimPrefix(target, "dns:///")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, DefaultPort) + "/metrics"
}

// GPU is one GPU's reading in one scrape; a figure the endpoint did not
// export is NaN.
type GPU struct {
	UUID        string
	Utilization float64 // 0..1
	MemoryUsed  float64 // bytes
	MemoryTotal float64 // bytes
	Power       float64 // watts
}

// Parse reads a Prometheus text exposition and returns the GPUs found,
// sorted by UUID. An exposition without nv_gpu_* metrics yields no GPUs and
// no error (Triton started without GPU metrics).
func Parse(r io.Reader) ([]GPU, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("telemetry: parsing metrics: %w", err)
	}
	byUUID := map[string]*GPU{}
	get := func(uuid string) *GPU {
		g, ok := byUUID[uuid]
		if !ok {
			nan := math.NaN()
			g = &GPU{UUID: uuid, Utilization: nan, MemoryUsed: nan, MemoryTotal: nan, Power: nan}
			byUUID[uuid] = g
		}
		return g
	}
	for name, set := range map[string]func(*GPU, float64){
		MetricUtilization: func(g *GPU, v float64) { g.Utilization = v },
		MetricMemoryUsed:  func(g *GPU, v float64) { g.MemoryUsed = v },
		MetricMemoryTotal: func(g *GPU, v float64) { g.MemoryTotal = v },
		MetricPower:       func(g *GPU, v float64) { g.Power = v },
	} {
		fam, ok := fams[name]
		if !ok {
			continue
		}
		for _, m := range fam.GetMetric() {
			v, ok := value(m)
			if !ok {
				return nil, fmt.Errorf("telemetry: metric %s is a %s, want a gauge or counter", name, fam.GetType())
			}
			set(get(labelValue(m, labelGPU)), v)
		}
	}
	out := make([]GPU, 0, len(byUUID))
	for _, g := range byUUID {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out, nil
}

func value(m *dto.Metric) (float64, bool) {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue(), true
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue(), true
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Scrape fetches and parses one exposition from url.
func Scrape(ctx context.Context, hc *http.Client, rawURL string) ([]GPU, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("telemetry: GET %s: %s", rawURL, resp.Status)
	}
	gpus, err := Parse(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, rawURL)
	}
	return gpus, nil
}

// Number is a figure that may be unknown (NaN); JSON writes unknown as null.
type Number float64

// MarshalJSON writes NaN and infinities as null (JSON has no NaN).
func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads null back as NaN.
func (n *Number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Number(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Number(f)
	return nil
}

// Known reports whether n is a finite value.
func (n Number) Known() bool { return !math.IsNaN(float64(n)) && !math.IsInf(float64(n), 0) }

// GPUSummary is one GPU over a window. Figures the GPU never reported are
// unknown (NaN, null in JSON).
type GPUSummary struct {
	UUID string `json:"uuid"`
	// UtilizationPct is the mean utilisation in percent over the scrapes.
	UtilizationPct Number `json:"utilization_pct"`
	// MemoryUsedMaxBytes is the largest memory-in-use reading.
	MemoryUsedMaxBytes Number `json:"memory_used_max_bytes"`
	// MemoryTotalBytes is the device's memory.
	MemoryTotalBytes Number `json:"memory_total_bytes"`
	// PowerMeanW is the mean power draw in watts.
	PowerMeanW Number `json:"power_mean_w"`
	// Samples is how many scrapes the figures come from.
	Samples int `json:"samples"`
}

// Summary is every GPU seen over a window, with totals: mean utilisation
// across GPUs, memory used summed over GPUs (each at its maximum) and power
// summed over GPUs.
type Summary struct {
	GPUs               []*GPUSummary `json:"gpus"`
	UtilizationPct     Number        `json:"utilization_pct"`
	MemoryUsedMaxBytes Number        `json:"memory_used_max_bytes"`
	MemoryTotalBytes   Number        `json:"memory_total_bytes"`
	PowerMeanW         Number        `json:"power_mean_w"`
}

// Accumulator gathers scrapes into a Summary (Add each, then Summary).
type Accumulator struct {
	byUUID map[string]*gpuAcc
}

type gpuAcc struct {
	samples           int
	sumUtil, sumPower float64
	nUtil, nPower     int
	memMax, memTotal  float64 // NaN until seen
}

func newGPUAcc() *gpuAcc { return &gpuAcc{memMax: math.NaN(), memTotal: math.NaN()} }

// maxKnown is the larger of a and b, ignoring NaN.
func maxKnown(a, b float64) float64 {
	if math.IsNaN(a) || b > a {
		return b
	}
	return a
}

// Add records one scrape.
func (a *Accumulator) Add(gpus []GPU) {
	if a.byUUID == nil {
		a.byUUID = map[string]*gpuAcc{}
	}
	for _, g := range gpus {
		s, ok := a.byUUID[g.UUID]
		if !ok {
			s = newGPUAcc()
			a.byUUID[g.UUID] = s
		}
		s.samples++
		if !math.IsNaN(g.Utilization) {
			s.sumUtil += g.Utilization
			s.nUtil++
		}
		if !math.IsNaN(g.Power) {
			s.sumPower += g.Power
			s.nPower++
		}
		s.memMax = maxKnown(s.memMax, g.MemoryUsed)
		if !math.IsNaN(g.MemoryTotal) {
			s.memTotal = g.MemoryTotal
		}
	}
}

// Merge folds another accumulator's scrapes into a (a GPU seen by both,
// e.g. two targets on one host, keeps one entry).
func (a *Accumulator) Merge(o *Accumulator) {
	if o == nil {
		return
	}
	if a.byUUID == nil {
		a.byUUID = map[string]*gpuAcc{}
	}
	for id, s := range o.byUUID {
		t, ok := a.byUUID[id]
		if !ok {
			c := *s
			a.byUUID[id] = &c
			continue
		}
		t.samples += s.samples
		t.sumUtil += s.sumUtil
		t.nUtil += s.nUtil
		t.sumPower += s.sumPower
		t.nPower += s.nPower
		t.memMax = maxKnown(t.memMax, s.memMax)
		if !math.IsNaN(s.memTotal) {
			t.memTotal = s.memTotal
		}
	}
}

// Empty reports whether no GPU was seen.
func (a *Accumulator) Empty() bool { return a == nil || len(a.byUUID) == 0 }

// Summary returns the figures gathered so far; nil when no GPU was seen.
// Totals leave out figures a GPU never reported; a total no GPU reported
// is unknown.
func (a *Accumulator) Summary() *Summary {
	if a.Empty() {
		return nil
	}
	nan := math.NaN()
	var util, power, mem, total float64
	var nUtil, nPower, nMem, nTotal int
	s := &Summary{}
	for id, g := range a.byUUID {
		c := &GPUSummary{UUID: id, Samples: g.samples, UtilizationPct: Number(nan), PowerMeanW: Number(nan),
			MemoryUsedMaxBytes: Number(g.memMax), MemoryTotalBytes: Number(g.memTotal)}
		if g.nUtil > 0 {
			v := 100 * g.sumUtil / float64(g.nUtil)
			c.UtilizationPct = Number(v)
			util += v
			nUtil++
		}
		if g.nPower > 0 {
			v := g.sumPower / float64(g.nPower)
			c.PowerMeanW = Number(v)
			power += v
			nPower++
		}
		if !math.IsNaN(g.memMax) {
			mem += g.memMax
			nMem++
		}
		if !math.IsNaN(g.memTotal) {
			total += g.memTotal
			nTotal++
		}
		s.GPUs = append(s.GPUs, c)
	}
	pick := func(v float64, n int) Number {
		if n == 0 {
			return Number(nan)
		}
		return Number(v)
	}
	s.UtilizationPct = Number(nan)
	if nUtil > 0 {
		s.UtilizationPct = Number(util / float64(nUtil))
	}
	s.PowerMeanW = pick(power, nPower)
	s.MemoryUsedMaxBytes = pick(mem, nMem)
	s.MemoryTotalBytes = pick(total, nTotal)
	sort.Slice(s.GPUs, func(i, j int) bool { return s.GPUs[i].UUID < s.GPUs[j].UUID })
	return s
}

// Sampler scrapes one endpoint every interval in the background. Take
// returns what was gathered since the previous Take. A failing endpoint is
// reported once through warn and then left alone: telemetry is never fatal.
type Sampler struct {
	url      string
	interval time.Duration
	hc       *http.Client
	warn     func(string)

	mu     sync.Mutex
	acc    *Accumulator
	failed bool

	stop chan struct{}
	done chan struct{}
}

// NewSampler returns a sampler for rawURL; warn (may be nil) receives the one
// message about an unreachable or malformed endpoint.
func NewSampler(rawURL string, interval time.Duration, warn func(string)) (*Sampler, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telemetry: metrics URL %q: want http://host:port/metrics", rawURL)
	}
	if interval <= 0 {
		return nil, fmt.Errorf("telemetry: scrape interval %v, want > 0", interval)
	}
	if warn == nil {
		warn = func(string) {}
	}
	timeout := interval
	if timeout < time.Second {
		timeout = time.Second
	}
	return &Sampler{url: rawURL, interval: interval, hc: &http.Client{Timeout: timeout}, warn: warn, acc: &Accumulator{}}, nil
}

// URL is the endpoint scraped.
func (s *Sampler) URL() string { return s.url }

// Start scrapes at once and then every interval until ctx ends or Stop.
func (s *Sampler) Start(ctx context.Context) {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			if !s.scrape(ctx) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// scrape takes one reading; false once the endpoint has failed.
func (s *Sampler) scrape(ctx context.Context) bool {
	gpus, err := Scrape(ctx, s.hc, s.url)
	if ctx.Err() != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed = true
		s.warn(fmt.Sprintf("GPU telemetry unavailable, continuing without it: %v", err))
		return false
	}
	s.acc.Add(gpus)
	return true
}

// Take returns the figures since the previous Take (nil if none) and
// starts a new accumulation.
func (s *Sampler) Take() *Accumulator {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.acc
	s.acc = &Accumulator{}
	if a.Empty() {
		return nil
	}
	return a
}

// Failed reports whether the endpoint failed (and scraping stopped).
func (s *Sampler) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Stop ends background scraping and waits for it.
func (s *Sampler) Stop() {
	if s.stop == nil {
		return
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}
