package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/client/tensor"
)

// request is one decoded inference request waiting for a worker.
type request struct {
	ctx      context.Context
	inputs   []*tensor.Tensor // config order
	outputs  []string         // names to return, in response order
	rows     int              // batch size (1 when the model does not batch)
	enqueued time.Time
	done     chan execResult // buffered: a worker never blocks on a gone caller
}

type execResult struct {
	outputs                                          []*tensor.Tensor // in request.outputs order
	err                                              error
	queue, computeInput, computeInfer, computeOutput time.Duration
}

var (
	errQueueFull = errors.New("queue full")
	errUnloaded  = errors.New("unloaded")
)

// MaxQueueSize caps a config's max_queue_size: the queue's channel is allocated up front, and a valid
// uint32 such as 4294967295 would ask for 32 GB of it before any request.
const MaxQueueSize = 1 << 16

// MaxInstances caps the instances of one version (instance_group counts summed): each is a backend
// instance and a worker, and a count of 100000 would cost hundreds of MB before any request.
const MaxInstances = 256

// scheduler is a version's bounded queue and its instance workers.
type scheduler struct {
	srv    *Server
	vs     *versionState
	q      chan *request
	limit  int          // max_queue_size: requests waiting, not yet executing
	queued atomic.Int64 // requests accepted and not yet executing or dropped
	mu     sync.RWMutex // closed flips under the write lock; enqueue holds the read lock
	closed bool
	wg     sync.WaitGroup
	insts  []Instance

	maxBatch  int
	maxPref   int // the largest preferred batch size, else maxBatch
	dynamic   bool
	delay     time.Duration
	preferred map[int]bool
}

func newScheduler(srv *Server, vs *versionState, insts []Instance) *scheduler {
	cfg := vs.cfg
	size := srv.opts.queueSize
	db := cfg.GetDynamicBatching()
	if n := db.GetDefaultQueuePolicy().GetMaxQueueSize(); n > 0 {
		size = int(min(n, MaxQueueSize))
		if uint64(n) > MaxQueueSize {
			srv.log.Printf("model %q version %d: max_queue_size %d capped to %d", vs.name, vs.version, n, MaxQueueSize)
		}
	}
	s := &scheduler{srv: srv, vs: vs, q: make(chan *request, size), limit: size, insts: insts,
		maxBatch: int(cfg.MaxBatchSize), dynamic: db != nil && cfg.MaxBatchSize > 0,
		delay: time.Duration(db.GetMaxQueueDelayMicroseconds()) * time.Microsecond, preferred: map[int]bool{}}
	s.maxPref = s.maxBatch
	if ps := db.GetPreferredBatchSize(); len(ps) > 0 {
		s.maxPref = 0
		for _, p := range ps {
			s.preferred[int(p)] = true
			s.maxPref = max(s.maxPref, min(int(p), s.maxBatch))
		}
	}
	for _, inst := range insts {
		s.wg.Add(1)
		go s.worker(inst)
	}
	return s
}

func (s *scheduler) enqueue(r *request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errUnloaded
	}
	// Counted, not just the channel's length: a worker holding requests
	// while a batch forms has taken them off the channel, yet they wait.
	if s.queued.Add(1) > int64(s.limit) {
		s.queued.Add(-1)
		return errQueueFull
	}
	select {
	case s.q <- r: // never blocks: the channel holds at most the counted requests
		return nil
	default:
		s.queued.Add(-1)
		return errQueueFull
	}
}

// close stops new requests; with wait, the workers finish the queue before
// the instances close; without, close returns at once and the workers close
// their instances when their current call returns.
func (s *scheduler) close(wait bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.q)
	s.mu.Unlock()
	if wait {
		s.wg.Wait()
	}
}

func (s *scheduler) worker(inst Instance) {
	defer s.wg.Done()
	defer func() {
		if err := inst.Close(); err != nil {
			s.srv.log.Printf("model %q version %d: closing instance: %v", s.vs.name, s.vs.version, err)
		}
	}()
	// pending are requests taken off the channel, in arrival order, that
	// have not run yet: the head of this worker's queue.
	var pending []*request
	for {
		pending = s.dropDead(pending)
		if len(pending) == 0 {
			r, ok := <-s.q
			if !ok {
				return
			}
			if !s.live(r) {
				continue
			}
			pending = append(pending, r)
		}
		n := 1
		if s.dynamic {
			n = s.gather(&pending)
		}
		if n == 0 {
			continue
		}
		batch := slices.Clone(pending[:n])
		pending = slices.Delete(pending, 0, n)
		s.queued.Add(-int64(n))
		s.run(inst, batch)
	}
}

// live drops a request whose caller has gone.
func (s *scheduler) live(r *request) bool {
	if err := r.ctx.Err(); err != nil {
		s.queued.Add(-1)
		r.done <- execResult{err: status.FromContextError(err).Err()}
		return false
	}
	return true
}

func (s *scheduler) dropDead(rs []*request) []*request {
	return slices.DeleteFunc(rs, func(r *request) bool { return !s.live(r) })
}

// poll takes one queued request without waiting; ok is false when none is
// queued, closed true when the queue has closed.
func (s *scheduler) poll() (r *request, ok, closed bool) {
	for {
		select {
		case r, open := <-s.q:
			if !open {
				return nil, false, true
			}
			if s.live(r) {
				return r, true, false
			}
		default:
			return nil, false, false
		}
	}
}

// gather decides how many of *pending (not empty) form the next batch, as
// Triton's dynamic batcher does. It looks at the requests in arrival order,
// taking more from the queue as long as they fit (same non-batch shapes,
// rows up to max_batch_size), and then
//   - sends the largest preferred batch size it could form, unless the
//     oldest request has waited max_queue_delay, which sends all it looked at;
//   - without one, sends what it has when the next request does not fit, the
//     batch reached the largest preferred size (or max_batch_size), the delay
//     is 0, or the oldest request has waited the delay (counted from its
//     enqueue, not from when this worker took it);
//   - otherwise waits for another request or the end of the delay.
//
// Requests not sent stay in *pending, so they keep their place. It returns 0
// when every pending caller has gone.
func (s *scheduler) gather(pending *[]*request) int {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// Callers that gave up while the batch formed leave the queue now.
		rs := s.dropDead(*pending)
		*pending = rs
		if len(rs) == 0 {
			return 0
		}
		n, rows, best := 0, 0, 0
		full, closed := false, false
		for {
			if n == len(rs) {
				r, ok, c := s.poll()
				if !ok {
					closed = c
					break
				}
				rs = append(rs, r)
				*pending = rs
			}
			r := rs[n]
			if n > 0 {
				if best == 0 && rows+r.rows > s.maxPref {
					best = n // the batch cannot grow to a larger preferred size
				}
				if rows+r.rows > s.maxBatch || !mergeable(rs[0], r) {
					full = true
					break
				}
			}
			rows += r.rows
			n++
			if s.preferred[rows] {
				best = n
			}
		}
		age := time.Since(rs[0].enqueued)
		expired := s.delay > 0 && age >= s.delay
		switch {
		case best > 0 && !expired:
			return best
		case full || closed || expired || s.delay == 0 || rows >= s.maxPref:
			return n
		}
		if timer == nil {
			timer = time.NewTimer(s.delay - age)
		} else {
			timer.Reset(s.delay - age)
		}
		select {
		case r, ok := <-s.q:
			if !ok {
				return n
			}
			if s.live(r) {
				*pending = append(*pending, r)
			}
		case <-timer.C:
		}
	}
}

func mergeable(a, b *request) bool {
	if len(a.inputs) != len(b.inputs) {
		return false
	}
	for i := range a.inputs {
		x, y := a.inputs[i], b.inputs[i]
		if x.Name != y.Name || !slices.Equal(x.Shape[1:], y.Shape[1:]) {
			return false
		}
	}
	return true
}

// run executes one batch on inst and hands each request its share.
func (s *scheduler) run(inst Instance, batch []*request) {
	start := time.Now()
	rows := 0
	for _, r := range batch {
		rows += r.rows
	}
	inputs := batch[0].inputs
	if len(batch) > 1 {
		inputs = make([]*tensor.Tensor, len(batch[0].inputs))
		for i := range inputs {
			parts := make([]*tensor.Tensor, len(batch))
			for j, r := range batch {
				parts[j] = r.inputs[i]
			}
			inputs[i] = concatRows(parts)
		}
	}
	// The batch (or, for one request, its own inputs) is all the backend reads: each request's
	// bytes may go once merged, or once executed.
	for _, r := range batch {
		r.inputs = nil
	}
	t1 := time.Now()
	ctx, release := s.batchContext(batch)
	outs, err := s.execute(ctx, inst, inputs)
	release()
	t2 := time.Now()
	var shares [][]*tensor.Tensor
	if err == nil {
		shares, err = s.split(outs, batch, rows)
	}
	t3 := time.Now()
	// Counted before any caller is answered, so statistics read after a
	// response include the execution that produced it.
	if err == nil {
		s.vs.stats.recordExecution(rows, t1.Sub(start), t2.Sub(t1), t3.Sub(t2))
	}
	for i, r := range batch {
		res := execResult{err: err, queue: start.Sub(r.enqueued),
			computeInput: t1.Sub(start), computeInfer: t2.Sub(t1), computeOutput: t3.Sub(t2)}
		if err == nil {
			res.outputs = shares[i]
		}
		r.done <- res
	}
}

// execute calls the instance, turning a panic into Internal for this batch.
// batchContext is what a batch executes under: it ends when the server stops, or when every request
// of the batch has gone (client cancelled, deadline passed), so a backend that honours it -- an
// ensemble, whose steps are requests of their own -- stops work nobody awaits. release frees it.
func (s *scheduler) batchContext(batch []*request) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancel(s.srv.baseCtx)
	for _, r := range batch {
		if r.ctx == nil {
			return ctx, cancel // a caller that cannot go: the batch runs to its end
		}
	}
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, r := range batch {
		stops[i] = context.AfterFunc(r.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

func (s *scheduler) execute(ctx context.Context, inst Instance, inputs []*tensor.Tensor) (outs []*tensor.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.srv.log.Printf("model %q version %d panicked: %v\n%s", s.vs.name, s.vs.version, p, debug.Stack())
			outs, err = nil, status.Errorf(codes.Internal, "model %q version %d panicked: %v", s.vs.name, s.vs.version, p)
		}
	}()
	outs, err = inst.Execute(ctx, inputs)
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			// The backend chose the code; the client also needs to know which model said it.
			prefix := fmt.Sprintf("model %q version %d: ", s.vs.name, s.vs.version)
			if strings.HasPrefix(st.Message(), prefix) {
				return nil, err
			}
			return nil, status.Error(st.Code(), prefix+st.Message())
		}
		return nil, status.Errorf(codes.Internal, "model %q version %d: %v", s.vs.name, s.vs.version, err)
	}
	return outs, nil
}

// split checks the outputs against the config and cuts them by request.
func (s *scheduler) split(outs []*tensor.Tensor, batch []*request, rows int) ([][]*tensor.Tensor, error) {
	vs := s.vs
	byName := map[string]*tensor.Tensor{}
	for _, t := range outs {
		if t == nil {
			return nil, s.internalf("returned a nil output")
		}
		sp := vs.output(t.Name)
		if sp == nil {
			return nil, s.internalf("returned output %q, which the config does not declare (outputs: %s)", t.Name, specNames(vs.outputs))
		}
		if t.DataType != sp.dt {
			return nil, s.internalf("output %q is %s; the config says %s", t.Name, t.DataType, sp.dt)
		}
		want := sp.dims
		if s.maxBatch > 0 {
			want = append([]int64{int64(rows)}, sp.dims...)
		}
		if !shapeMatches(t.Shape, want) {
			return nil, s.internalf("output %q has shape %v; expected %v", t.Name, t.Shape, want)
		}
		if err := t.Validate(); err != nil {
			return nil, s.internalf("output %v", err)
		}
		byName[t.Name] = t
	}
	shares := make([][]*tensor.Tensor, len(batch))
	var bounds map[string][]int
	if len(batch) > 1 {
		bounds = map[string][]int{}
	}
	row := 0
	for i, r := range batch {
		for _, name := range r.outputs {
			t, ok := byName[name]
			if !ok {
				return nil, s.internalf("did not return output %q", name)
			}
			if bounds == nil {
				shares[i] = append(shares[i], t)
				continue
			}
			b, ok := bounds[name]
			if !ok {
				var err error
				if b, err = rowBounds(t, rows); err != nil {
					return nil, s.internalf("output %v", err)
				}
				bounds[name] = b
			}
			shape := append([]int64{int64(r.rows)}, t.Shape[1:]...)
			shares[i] = append(shares[i], &tensor.Tensor{Name: name, DataType: t.DataType, Shape: shape,
				Raw: t.Raw[b[row]:b[row+r.rows]]})
		}
		row += r.rows
	}
	return shares, nil
}

func (s *scheduler) internalf(format string, args ...any) error {
	return status.Errorf(codes.Internal, "model %q version %d %s", s.vs.name, s.vs.version, fmt.Sprintf(format, args...))
}

// shapeMatches compares a concrete shape with config dims (-1 = any).
func shapeMatches(shape, dims []int64) bool {
	if len(shape) != len(dims) {
		return false
	}
	for i, d := range dims {
		if d != -1 && shape[i] != d {
			return false
		}
	}
	return true
}

// concatRows stacks tensors with equal non-batch shapes along dimension 0.
// Row-major layout makes that a byte concatenation, BYTES included (each
// element carries its own length prefix).
func concatRows(parts []*tensor.Tensor) *tensor.Tensor {
	n, size := int64(0), 0
	for _, p := range parts {
		n += p.Shape[0]
		size += len(p.Raw)
	}
	raw := make([]byte, 0, size)
	for _, p := range parts {
		raw = append(raw, p.Raw...)
	}
	shape := append([]int64{n}, parts[0].Shape[1:]...)
	return &tensor.Tensor{Name: parts[0].Name, DataType: parts[0].DataType, Shape: shape, Raw: raw}
}

// rowBounds gives the byte offset where each of rows rows starts, plus the
// end: fixed-size types divide evenly, BYTES walks the length prefixes.
func rowBounds(t *tensor.Tensor, rows int) ([]int, error) {
	b := make([]int, rows+1)
	if rows == 0 {
		return b, nil
	}
	if t.DataType != tensor.Bytes {
		per := len(t.Raw) / rows
		for i := range b {
			b[i] = i * per
		}
		return b, nil
	}
	n, err := tensor.NumElements(t.Shape)
	if err != nil {
		return nil, err
	}
	perRow := n / int64(rows)
	off := 0
	for i := 0; i < rows; i++ {
		b[i] = off
		for e := int64(0); e < perRow; e++ {
			if len(t.Raw)-off < 4 {
				return nil, fmt.Errorf("%q: BYTES row %d runs past the buffer", t.Name, i)
			}
			l := int(binary.LittleEndian.Uint32(t.Raw[off:]))
			off += 4 + l
			if off > len(t.Raw) {
				return nil, fmt.Errorf("%q: BYTES row %d runs past the buffer", t.Name, i)
			}
		}
	}
	b[rows] = off
	return b, nil
}
