package perf

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

const methodModelInfer = pb.GRPCInferenceService_ModelInfer_FullMethodName

// recordsTotal is the result-buffer capacity preallocated for all workers of
// a level together (each gets a share, at least 64); buffers are reused
// window after window, so they grow, if at all, only in the first windows.
const recordsTotal = 1 << 16

// worker sends requests on one connection and records their Results in its
// own buffer, which the coordinator drains at each window cut.
type worker struct {
	target int32
	conn   *grpc.ClientConn

	mu   sync.Mutex
	recs []Result

	resp wireResponse
	next int // request variant cursor
}

// loadRun is one load level in flight.
type loadRun struct {
	cfg      *Config
	reqs     []*wireRequest
	batch    int32
	outputs  int
	rawBytes int64
	callOpts []grpc.CallOption

	workers []*worker
	base    time.Time

	// badResponse is the first reason a response failed the client's check
	// (counted as Internal, though the server reported success).
	badResponse atomic.Pointer[string]

	done   atomic.Uint64 // requests finished (success or error)
	taken  uint64        // results moved out by cut so far (only the measuring goroutine touches it)
	carry  []Result      // finished after a count window's goal: the next window's
	target atomic.Uint64 // count-window goal for done; 0 = none
	full   chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startLoad launches the workers of one level: closed loop with concurrency
// workers per target, or open loop at rate per target.
func (e *engine) startLoad(parent context.Context, reqs []*wireRequest, batch, concurrency int, rate float64) *loadRun {
	ctx, cancel := context.WithCancel(parent)
	lr := &loadRun{
		cfg: e.cfg, reqs: reqs, batch: int32(batch),
		outputs: len(e.model.outputs), rawBytes: e.model.wantRawBytes(batch),
		callOpts: e.callOpts, full: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, base: time.Now(),
	}
	perTarget := concurrency
	if rate > 0 {
		perTarget = e.cfg.MaxInflight
	}
	recCap := max(64, recordsTotal/max(1, perTarget*len(e.targets)))
	for ti, t := range e.targets {
		var tickets chan time.Duration
		if rate > 0 {
			tickets = make(chan time.Duration)
			seed := e.cfg.Seed + uint64(ti)*0x9e3779b97f4a7c15
			lr.wg.Add(1)
			go lr.pace(tickets, rate, rand.New(rand.NewPCG(seed, uint64(batch))))
		}
		for i := 0; i < perTarget; i++ {
			w := &worker{target: int32(ti), conn: t.conns[i%len(t.conns)], recs: make([]Result, 0, recCap)}
			// Spread workers over the variants so concurrent requests differ.
			w.next = (i + ti) % len(reqs)
			lr.workers = append(lr.workers, w)
			lr.wg.Add(1)
			if rate > 0 {
				go lr.openLoop(w, tickets)
			} else {
				go lr.closedLoop(w)
			}
		}
	}
	return lr
}

// stop ends the level and waits for every goroutine; requests cut short are
// not recorded.
func (lr *loadRun) stop() {
	lr.cancel()
	lr.wg.Wait()
}

func (lr *loadRun) closedLoop(w *worker) {
	defer lr.wg.Done()
	for lr.ctx.Err() == nil {
		start := time.Now()
		lr.send(w, start, start)
	}
}

// pace emits schedule slots (offsets from base) at rate per second. A slot
// is taken by whichever sender is free; when none is, the pacer waits, but
// the slots keep their scheduled times, so the delay is charged to latency.
func (lr *loadRun) pace(tickets chan<- time.Duration, rate float64, rng *rand.Rand) {
	defer lr.wg.Done()
	interval := float64(time.Second) / rate
	var at float64
	for {
		select {
		case tickets <- time.Duration(at):
		case <-lr.ctx.Done():
			return
		}
		if lr.cfg.Arrival == ArrivalPoisson {
			at += rng.ExpFloat64() * interval
		} else {
			at += interval
		}
	}
}

func (lr *loadRun) openLoop(w *worker, tickets <-chan time.Duration) {
	defer lr.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var at time.Duration
		select {
		case at = <-tickets:
		case <-lr.ctx.Done():
			return
		}
		intended := lr.base.Add(at)
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-lr.ctx.Done():
				timer.Stop()
				return
			}
		}
		lr.send(w, intended, time.Now())
	}
}

// send runs one request. intended is when it should have started (the
// latency origin), start when the worker began it.
func (lr *loadRun) send(w *worker, intended, start time.Time) {
	req := lr.reqs[w.next]
	if w.next++; w.next == len(lr.reqs) {
		w.next = 0
	}
	ctx, cancel := context.WithTimeout(lr.ctx, lr.cfg.Timeout)
	sent := time.Now()
	err := w.conn.Invoke(ctx, methodModelInfer, req, &w.resp, lr.callOpts...)
	got := time.Now()
	cancel()
	code := codes.OK
	if err != nil {
		code = status.Code(err)
	} else if cerr := checkResponse(w.resp.b, lr.outputs, lr.rawBytes); cerr != nil {
		code = codes.Internal
		if lr.badResponse.Load() == nil {
			msg := cerr.Error()
			lr.badResponse.CompareAndSwap(nil, &msg)
		}
	}
	end := time.Now()
	if lr.ctx.Err() != nil {
		return // the level ended under this request: not a measurement
	}
	r := Result{
		Latency: got.Sub(intended),
		Prepare: sent.Sub(start),
		Wait:    got.Sub(sent),
		Handle:  end.Sub(got),
		Lag:     start.Sub(intended),
		Batch:   lr.batch,
		Target:  w.target,
		Code:    code,
	}
	w.mu.Lock() // seq under the lock: a cut sees every result up to the count it reads
	n := lr.done.Add(1)
	r.seq, r.at = n, end
	w.recs = append(w.recs, r)
	w.mu.Unlock()
	if n == lr.target.Load() {
		select {
		case lr.full <- struct{}{}:
		default:
		}
	}
}

// cut moves every worker's results since the previous cut into buf.
func (lr *loadRun) cut(buf []Result) []Result { return lr.cutUpTo(buf, 0) }

// cutUpTo is cut for a count window: with upto > 0 it moves only the
// results numbered up to upto and keeps later ones for the next cut.
func (lr *loadRun) cutUpTo(buf []Result, upto uint64) []Result {
	before := len(buf)
	buf = append(buf, lr.carry...)
	lr.carry = lr.carry[:0]
	for _, w := range lr.workers {
		w.mu.Lock()
		buf = append(buf, w.recs...)
		w.recs = w.recs[:0]
		w.mu.Unlock()
	}
	if upto > 0 {
		kept := buf[:before]
		for _, r := range buf[before:] {
			if r.seq <= upto {
				kept = append(kept, r)
			} else {
				lr.carry = append(lr.carry, r)
			}
		}
		buf = kept
	}
	lr.taken += uint64(len(buf) - before)
	return buf
}

// waitRequests blocks until n requests have finished since the last cut
// (not since the call: those that finished while statistics were read
// belong to the window too), ctx ends or limit passes; it reports whether
// the count was reached.
func (lr *loadRun) waitRequests(ctx context.Context, n int, limit time.Duration) (goal uint64, reached bool) {
	select { // drop a signal left from an earlier wait
	case <-lr.full:
	default:
	}
	goal = lr.taken + uint64(n)
	lr.target.Store(goal)
	defer lr.target.Store(0)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	// The poll catches a goal passed between the Load and the Store above.
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		if lr.done.Load() >= goal {
			return goal, true
		}
		select {
		case <-lr.full:
		case <-poll.C:
		case <-deadline.C:
			return goal, lr.done.Load() >= goal
		case <-ctx.Done():
			return goal, false
		}
	}
}
