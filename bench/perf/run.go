package perf

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/agiqa-bench/agiqa/bench/perf/telemetry"
	"github.com/agiqa-bench/agiqa/client"
)

// ErrLevelsFailed is wrapped by Run's error when load levels failed; the
// returned Report still holds every figure gathered.
var ErrLevelsFailed = errors.New("load levels failed")

// controlTimeout bounds each control call (readiness, config, statistics).
const controlTimeout = 10 * time.Second

// Flow-control windows for the load connections. gRPC's defaults (64 KiB,
// grown by bandwidth probing) throttle the first megabyte-sized image
// requests; fixed large windows let a batch travel in one go.
const (
	streamWindow = 8 << 20
	connWindow   = 64 << 20
)

type target struct {
	addr    string
	conns   []*grpc.ClientConn
	ctl     *client.Client // control calls, on conns[0]
	sampler int            // index into engine.samplers, -1 for none
}

type engine struct {
	cfg      *Config
	model    *modelInfo
	targets  []*target
	samplers []*telemetry.Sampler
	callOpts []grpc.CallOption
	report   *Report
	buf      []Result
	warnings []chan string // one per sampler
	lastCut  time.Time
	noted    map[string]bool
}

// Run measures cfg.Model on every target over the sweep the config
// describes. It refuses to start (nil Report) when the config is invalid,
// a server cannot be reached, the model is not ready or cannot take a batch
// size. Once load has started it always returns the Report gathered so far;
// the error is non-nil when levels failed (wrapping ErrLevelsFailed) or ctx
// ended.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &engine{cfg: &c, noted: map[string]bool{}}
	defer e.close()
	if err := e.connect(); err != nil {
		return nil, err
	}
	if err := e.checkReady(ctx); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, controlTimeout)
	e.model, err = describe(cctx, e.targets[0].ctl, c.Model, c.Version, c.Shapes)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("reading model %q from %s: %w", c.Model, e.targets[0].addr, err)
	}
	for _, b := range c.Batches {
		if err := e.model.checkBatch(b); err != nil {
			return nil, err
		}
	}
	e.report = &Report{
		Model: c.Model, Version: c.Version, Targets: c.Targets, Mode: c.Mode(),
		Input: string(c.Input), SharedMemory: string(c.SharedMemory),
		StabilityPct: c.Stability, MaxTrials: c.MaxTrials, Warmup: c.Warmup,
		MaxBatchSize: e.model.maxBatch, Started: time.Now().UTC(),
	}
	if c.Mode() == "rate" {
		e.report.Arrival = string(c.Arrival)
	}
	if c.WindowRequests > 0 {
		e.report.WindowRequests = c.WindowRequests
	} else {
		e.report.WindowUS = us(c.Window)
	}
	if err := e.startTelemetry(ctx); err != nil {
		return nil, err
	}
	return e.report, e.sweep(ctx)
}

// sweep runs every level; it returns why it stopped early or how many
// levels failed.
func (e *engine) sweep(ctx context.Context) error {
	c := e.cfg
	levels := len(c.Concurrency) + len(c.Rates)
	failed, total := 0, 0
	for _, b := range c.Batches {
		prep, err := e.prepare(ctx, b)
		for i := 0; i < levels; i++ {
			conc, rate := 0, 0.0
			if len(c.Rates) > 0 {
				rate = c.Rates[i]
			} else {
				conc = c.Concurrency[i]
			}
			total++
			var lvl *Level
			if err != nil {
				lvl = &Level{Batch: b, Concurrency: conc, Rate: rate, Status: StatusFailed, Error: err.Error(),
					Total: &Figures{Target: "total", Client: closedEmpty()}}
			} else {
				lvl = e.runLevel(ctx, prep, b, conc, rate)
			}
			e.report.Levels = append(e.report.Levels, lvl)
			if c.Progress != nil {
				c.Progress(Event{Level: lvl})
			}
			if ctx.Err() != nil {
				e.release(prep)
				return fmt.Errorf("sweep interrupted: %w", ctx.Err())
			}
			if lvl.Status == StatusFailed {
				failed++
				if c.OnError == OnErrorStop {
					e.release(prep)
					return fmt.Errorf("%w: batch %d %s: %s (the sweep stopped there)", ErrLevelsFailed, b, levelName(lvl), lvl.Error)
				}
			}
		}
		e.release(prep)
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrLevelsFailed, failed, total)
	}
	return nil
}

func closedEmpty() *Metrics {
	m := NewMetrics(0, 0)
	m.Close()
	return m
}

func levelName(l *Level) string {
	if l.Rate > 0 {
		return fmt.Sprintf("rate %g/s", l.Rate)
	}
	return fmt.Sprintf("concurrency %d", l.Concurrency)
}

func (e *engine) connect() error {
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent("agiqa-perf"),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
	}
	dial = append(dial, e.cfg.DialOptions...)
	e.callOpts = []grpc.CallOption{
		grpc.ForceCodecV2(rawCodec{}),
		grpc.MaxCallRecvMsgSize(client.DefaultMaxMessageSize),
		grpc.MaxCallSendMsgSize(client.DefaultMaxMessageSize),
	}
	for _, addr := range e.cfg.Targets {
		t := &target{addr: addr, sampler: -1}
		e.targets = append(e.targets, t)
		for i := 0; i < e.cfg.Connections; i++ {
			conn, err := grpc.NewClient(addr, dial...)
			if err != nil {
				return &FieldError{Field: "Targets", Value: addr, Reason: "cannot dial", Err: err}
			}
			conn.Connect()
			t.conns = append(t.conns, conn)
		}
		ctl, err := client.NewFromConn(t.conns[0], client.WithRetry(0, 0, 0), client.WithPerCallTimeout(controlTimeout))
		if err != nil {
			return err
		}
		t.ctl = ctl
	}
	return nil
}

// checkReady refuses a model that is not ready on some target, with the
// server's reason, before any load is sent.
func (e *engine) checkReady(ctx context.Context) error {
	c := e.cfg
	what := fmt.Sprintf("model %q", c.Model)
	if c.Version != "" {
		what += fmt.Sprintf(" version %s", c.Version)
	}
	for _, t := range e.targets {
		ready, err := t.ctl.ModelReady(ctx, c.Model, c.Version)
		if err != nil {
			return fmt.Errorf("%s on %s: %w; no load was sent", what, t.addr, err)
		}
		if !ready {
			return fmt.Errorf("%s on %s is not ready (%s); no load was sent", what, t.addr, e.notReadyReason(ctx, t))
		}
	}
	return nil
}

func (e *engine) notReadyReason(ctx context.Context, t *target) string {
	idx, err := t.ctl.RepositoryIndex(ctx, false)
	if err != nil {
		return "the repository index could not be read: " + err.Error()
	}
	var parts, names []string
	for _, m := range idx {
		if len(names) == 0 || names[len(names)-1] != m.GetName() {
			names = append(names, m.GetName())
		}
		if m.GetName() != e.cfg.Model || (e.cfg.Version != "" && m.GetVersion() != e.cfg.Version) {
			continue
		}
		s := "state " + m.GetState()
		if m.GetVersion() != "" {
			s = "version " + m.GetVersion() + " " + s
		}
		if m.GetReason() != "" {
			s += ": " + m.GetReason()
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("not in the server's repository, which has: %s", strings.Join(names, ", "))
	}
	return strings.Join(parts, "; ")
}

func (e *engine) note(msg string) {
	if e.noted[msg] {
		return
	}
	e.noted[msg] = true
	e.report.Notes = append(e.report.Notes, msg)
	e.cfg.Logf("%s", msg)
}

// startTelemetry starts one sampler per distinct metrics URL.
func (e *engine) startTelemetry(ctx context.Context) error {
	urls := e.cfg.MetricsURLs
	byURL := map[string]int{}
	for i, t := range e.targets {
		var u string
		switch len(urls) {
		case 0:
			continue
		case 1:
			u = urls[0]
		default:
			u = urls[i]
		}
		if u == "" {
			continue
		}
		if k, ok := byURL[u]; ok {
			t.sampler = k
			continue
		}
		warnings := make(chan string, 1)
		s, err := telemetry.NewSampler(u, e.cfg.ScrapeInterval, func(msg string) {
			select {
			case warnings <- msg:
			default:
			}
		})
		if err != nil {
			return &FieldError{Field: "MetricsURLs", Value: u, Reason: "cannot scrape", Err: err}
		}
		byURL[u] = len(e.samplers)
		t.sampler = len(e.samplers)
		e.samplers = append(e.samplers, s)
		e.warnings = append(e.warnings, warnings)
		s.Start(ctx)
	}
	return nil
}

// drainWarnings turns sampler warnings into report notes (on the
// coordinator's goroutine, which owns the report).
func (e *engine) drainWarnings() {
	for _, w := range e.warnings {
		select {
		case msg := <-w:
			e.note(msg)
		default:
		}
	}
}

func (e *engine) close() {
	for _, s := range e.samplers {
		s.Stop()
	}
	for _, t := range e.targets {
		for _, c := range t.conns {
			c.Close()
		}
	}
}

// prepared is one batch size's requests, encoded once.
type prepared struct {
	reqs   []*wireRequest
	region *shmRegion
	regOn  []*target // targets the region is registered on
}

// prepare builds and encodes the requests of batch size b (writing them to
// shared memory when asked) and sends one of them through client.Infer to
// every target, so a request the model refuses is reported before load.
func (e *engine) prepare(ctx context.Context, b int) (*prepared, error) {
	c, mi := e.cfg, e.model
	pl, err := mi.makePayloads(c.Input, c.Samples, b, c.Seed)
	if err != nil {
		return nil, err
	}
	prep := &prepared{}
	offsets := make([][]int64, len(pl))
	regionName := ""
	if c.SharedMemory == SharedMemorySystem {
		var size int
		for _, v := range pl {
			for _, in := range v {
				size += len(in)
			}
		}
		data := make([]byte, 0, size)
		for v := range pl {
			offsets[v] = make([]int64, len(pl[v]))
			for i, in := range pl[v] {
				offsets[v][i] = int64(len(data))
				data = append(data, in...)
			}
		}
		if prep.region, err = newSHMRegion(data); err != nil {
			return nil, err
		}
		regionName = prep.region.name
		for _, t := range e.targets {
			cctx, cancel := context.WithTimeout(ctx, controlTimeout)
			err := t.ctl.RegisterSystemSharedMemory(cctx, prep.region.name, prep.region.key, 0, prep.region.size)
			cancel()
			if err != nil {
				e.release(prep)
				return nil, &FieldError{Field: "SharedMemory", Value: string(SharedMemorySystem), Reason: fmt.Sprintf("registering %s on %s", prep.region.key, t.addr), Err: err}
			}
			prep.regOn = append(prep.regOn, t)
		}
	}
	for v := range pl {
		w, err := encode(mi.request(pl[v], b, regionName, offsets[v]))
		if err != nil {
			e.release(prep)
			return nil, err
		}
		prep.reqs = append(prep.reqs, w)
	}
	for _, t := range e.targets {
		cctx, cancel := context.WithTimeout(ctx, c.Timeout)
		res, err := t.ctl.Infer(cctx, mi.clientRequest(pl[0], b, regionName, offsets[0]))
		cancel()
		if err == nil && len(res.Outputs()) != len(mi.outputs) {
			err = fmt.Errorf("%d outputs came back, %d were requested (%s)", len(res.Outputs()), len(mi.outputs), mi.outputNames())
		}
		e.report.TotalRequests++
		if err != nil {
			e.release(prep)
			return nil, fmt.Errorf("model %q on %s refused a batch-%d request: %w", mi.name, t.addr, b, err)
		}
	}
	return prep, nil
}

// release unregisters and deletes a batch size's shared memory.
func (e *engine) release(p *prepared) {
	if p == nil || p.region == nil {
		return
	}
	for _, t := range p.regOn {
		ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
		if err := t.ctl.UnregisterSystemSharedMemory(ctx, p.region.name); err != nil {
			e.note(fmt.Sprintf("unregistering shared memory %s on %s: %v", p.region.name, t.addr, err))
		}
		cancel()
	}
	if err := p.region.remove(); err != nil {
		e.note(err.Error())
	}
	p.regOn, p.region = nil, nil
}

// snapshot reads every target's statistics; it returns the first error. A
// server without the statistics extension (Unimplemented) gets a nil entry
// and a note: its figures lack the server split, the run goes on.
func (e *engine) snapshot(ctx context.Context) ([]*statsSnapshot, error) {
	out := make([]*statsSnapshot, len(e.targets))
	for i, t := range e.targets {
		cctx, cancel := context.WithTimeout(ctx, controlTimeout)
		st, err := t.ctl.ModelStatistics(cctx, e.cfg.Model, e.cfg.Version)
		cancel()
		if client.Code(err) == codes.Unimplemented {
			e.note(fmt.Sprintf("%s does not serve ModelStatistics: no server-side split", t.addr))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("statistics from %s: %w", t.addr, err)
		}
		s := snapshotOf(st)
		out[i] = &s
	}
	return out, nil
}

// runLevel warms up, then measures windows until the level is stable,
// fails or runs out of trials.
func (e *engine) runLevel(ctx context.Context, prep *prepared, b, conc int, rate float64) *Level {
	c := e.cfg
	lvl := &Level{Batch: b, Concurrency: conc, Rate: rate}
	lr := e.startLoad(ctx, prep.reqs, b, conc, rate)
	defer func() {
		lr.stop()
		e.report.TotalRequests += lr.done.Load()
	}()

	limit := c.Timeout + c.Window
	if c.Warmup > 0 {
		lr.waitRequests(ctx, c.Warmup, limit)
	}
	// Statistics first, then the cut: what finishes while they are read is
	// warm-up, not the first window.
	snaps, serr := e.snapshot(ctx)
	for _, s := range e.samplers {
		s.Take()
	}
	e.buf = lr.cut(e.buf[:0])
	e.lastCut = time.Now()
	var windows []*Window
	for trial := 1; trial <= c.MaxTrials; trial++ {
		var upto uint64 // a count window reached: exactly its requests
		if c.WindowRequests > 0 {
			if goal, reached := lr.waitRequests(ctx, c.WindowRequests, limit); reached {
				upto = goal
			}
		} else {
			sleepCtx(ctx, c.Window)
		}
		var w *Window
		w, snaps, serr = e.cutWindow(ctx, lr, lvl, trial, upto, snaps, serr)
		windows = append(windows, w)
		lvl.Windows = windows
		if c.Progress != nil {
			c.Progress(Event{Level: lvl, Window: w})
		}
		if ctx.Err() != nil {
			lvl.Status, lvl.Error = StatusFailed, "interrupted: "+ctx.Err().Error()
			break
		}
		if w.Failed {
			lvl.Status, lvl.Error = StatusFailed, windowFailure(w)
			if msg := lr.badResponse.Load(); msg != nil && w.Total.Client.Errors[codes.Internal.String()] > 0 {
				lvl.Error += fmt.Sprintf("; Internal includes responses the client refused: %s", *msg)
			}
			break
		}
		if len(windows) >= StableWindows && stable(windows[len(windows)-StableWindows:], c.Stability, c.Percentile) {
			lvl.Status = StatusStable
			break
		}
	}
	if lvl.Status == "" {
		lvl.Status = StatusUnstable
	}
	use := windows
	if lvl.Status != StatusFailed && len(use) > StableWindows {
		use = use[len(use)-StableWindows:]
	}
	lvl.Total, lvl.PerTarget = e.aggregate(use)
	for _, w := range windows {
		w.Total.Client.release()
		for _, f := range w.perTarget {
			f.Client.release()
		}
	}
	return lvl
}

func windowFailure(w *Window) string {
	var parts []string
	if n := w.Total.Client.ErrorCount(); n > 0 {
		parts = append(parts, fmt.Sprintf("window %d: %d of %d requests failed (%s)", w.Index, n, w.Total.Client.Requests, errorsString(w.Total.Client.Errors)))
	}
	if w.Error != "" {
		parts = append(parts, fmt.Sprintf("window %d: %s", w.Index, w.Error))
	}
	return strings.Join(parts, "; ")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// cutWindow closes a window: it drains the workers' results, reads the
// servers' statistics and the GPU telemetry, and builds the figures.
// prev/prevErr are the statistics at the window's start.
func (e *engine) cutWindow(ctx context.Context, lr *loadRun, lvl *Level, idx int, upto uint64, prev []*statsSnapshot, prevErr error) (*Window, []*statsSnapshot, error) {
	e.buf = lr.cutUpTo(e.buf[:0], upto)
	end := time.Now()
	if upto > 0 {
		// A count window ends when its last request finished, not when the
		// measuring goroutine got round to the cut.
		var last time.Time
		for i := range e.buf {
			if e.buf[i].at.After(last) {
				last = e.buf[i].at
			}
		}
		if last.After(e.lastCut) {
			end = last
		}
	}
	d := end.Sub(e.lastCut)
	e.lastCut = end
	snaps, serr := e.snapshot(ctx)
	var accs []*telemetry.Accumulator
	for _, s := range e.samplers {
		accs = append(accs, s.Take())
	}
	e.drainWarnings()

	w := &Window{Index: idx}
	per := make([]*Figures, len(e.targets))
	counts := make([]int, len(e.targets))
	for i := range e.buf {
		counts[e.buf[i].Target]++
	}
	for i, t := range e.targets {
		per[i] = &Figures{Target: t.addr, Client: NewMetrics(d, counts[i])}
	}
	for i := range e.buf {
		per[e.buf[i].Target].Client.Add(&e.buf[i])
	}
	switch {
	case prevErr != nil:
		w.Error = prevErr.Error()
	case serr != nil:
		w.Error = serr.Error()
	default:
		for i := range per {
			if prev[i] == nil || snaps[i] == nil {
				continue
			}
			st, err := delta(*prev[i], *snaps[i])
			if errors.Is(err, errStatsReset) {
				// A reload restarts the server's counters: this window's
				// server split is unknown, the client's figures stand.
				e.note(fmt.Sprintf("%s: %v: no server-side split for batch %d %s window %d",
					e.targets[i].addr, err, lvl.Batch, levelName(lvl), idx))
				continue
			}
			if err != nil {
				w.Error = fmt.Sprintf("%s: %v", e.targets[i].addr, err)
				break
			}
			per[i].Server = st
		}
	}
	for i, t := range e.targets {
		if t.sampler >= 0 && accs[t.sampler] != nil {
			per[i].gpuAcc = accs[t.sampler]
		}
	}
	w.perTarget = per
	w.Total = e.total(per, accs)
	w.Failed = w.Error != "" || w.Total.Client.ErrorCount() > 0
	return w, snaps, serr
}

// total merges per-target figures; GPU accumulators are merged once per
// sampler so a GPU shared by targets is not counted twice.
func (e *engine) total(per []*Figures, accs []*telemetry.Accumulator) *Figures {
	tot := &Figures{Target: "total", Client: NewMetrics(0, 0)}
	var server *ServerStats
	serverOK := true
	for _, f := range per {
		tot.Client.Merge(f.Client)
		f.Client.Close()
		if f.Server == nil {
			serverOK = false
		} else {
			if server == nil {
				server = &ServerStats{}
			}
			server.merge(f.Server)
		}
		if f.gpuAcc != nil {
			f.GPU = f.gpuAcc.Summary()
		}
	}
	// Targets run side by side: the total's span is one window, not the sum.
	if len(per) > 0 {
		tot.Client.duration = per[0].Client.duration
	}
	tot.Client.Close()
	if serverOK {
		tot.Server = server
	}
	acc := &telemetry.Accumulator{}
	for _, a := range accs {
		acc.Merge(a)
	}
	if !acc.Empty() {
		tot.gpuAcc = acc
		tot.GPU = acc.Summary()
	}
	return tot
}

// aggregate merges windows into the level's total and per-target figures.
func (e *engine) aggregate(ws []*Window) (*Figures, []*Figures) {
	per := make([]*Figures, len(e.targets))
	for i, t := range e.targets {
		per[i] = &Figures{Target: t.addr, Client: NewMetrics(0, 0)}
	}
	serverOK := make([]bool, len(per))
	for i := range serverOK {
		serverOK[i] = true
	}
	for _, w := range ws {
		for i, f := range w.perTarget {
			per[i].Client.Merge(f.Client)
			if f.Server == nil {
				serverOK[i] = false
			} else if serverOK[i] {
				if per[i].Server == nil {
					per[i].Server = &ServerStats{}
				}
				per[i].Server.merge(f.Server)
			}
			if f.gpuAcc != nil {
				if per[i].gpuAcc == nil {
					per[i].gpuAcc = &telemetry.Accumulator{}
				}
				per[i].gpuAcc.Merge(f.gpuAcc)
			}
		}
	}
	tot := &Figures{Target: "total", Client: NewMetrics(0, 0)}
	var dur time.Duration
	totServerOK := len(ws) > 0
	for i, f := range per {
		if !serverOK[i] {
			f.Server = nil
		}
		if f.Server == nil {
			totServerOK = false
		}
	}
	for _, w := range ws {
		dur += w.Total.Client.duration
		if w.Total.gpuAcc != nil {
			if tot.gpuAcc == nil {
				tot.gpuAcc = &telemetry.Accumulator{}
			}
			tot.gpuAcc.Merge(w.Total.gpuAcc)
		}
	}
	for _, f := range per {
		tot.Client.Merge(f.Client)
		f.Client.Close()
		if f.gpuAcc != nil {
			f.GPU = f.gpuAcc.Summary()
		}
		if totServerOK {
			if tot.Server == nil {
				tot.Server = &ServerStats{}
			}
			tot.Server.merge(f.Server)
		}
	}
	tot.Client.duration = dur
	tot.Client.Close()
	if tot.gpuAcc != nil {
		tot.GPU = tot.gpuAcc.Summary()
	}
	if len(per) == 1 {
		return tot, nil
	}
	return tot, per
}

// stable reports whether the windows agree as perf_analyzer's
// --stability-percentage defines it: on throughput and on latency, the
// largest value is at most (1 + pct/100) times the smallest. (Within pct of
// the mean would let the extremes differ by up to 2*pct.)
func stable(ws []*Window, pct, percentile float64) bool {
	thr := make([]float64, len(ws))
	lat := make([]float64, len(ws))
	for i, w := range ws {
		m := w.Total.Client
		if w.Failed || m.Success == 0 {
			return false
		}
		thr[i] = m.InferencesPerSec
		lat[i] = w.latency(percentile)
	}
	return within(thr, pct) && within(lat, pct)
}

// within reports whether max(v) <= (1 + pct/100) * min(v); NaN never is.
func within(v []float64, pct float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		if math.IsNaN(x) {
			return false
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	return hi <= (1+pct/100)*lo
}
