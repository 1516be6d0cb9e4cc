package metrics

import "sync"

// Pairs accumulates (prediction, MOS) pairs as they arrive, e.g. from the
// streaming runner's response handlers. It is safe for concurrent use; the
// zero value is ready to use. Pairs must not be copied after first use.
type Pairs struct {
	mu   sync.Mutex
	pred []float64
	mos  []float64
}

// NewPairs returns Pairs with room for n pairs (a hint; it grows as needed).
func NewPairs(n int) *Pairs {
	return &Pairs{pred: make([]float64, 0, n), mos: make([]float64, 0, n)}
}

// Add appends one pair. NaN or Inf values are kept and make Scores report
// the metrics as undefined, naming the offending index.
func (p *Pairs) Add(pred, mos float64) {
	p.mu.Lock()
	p.pred = append(p.pred, pred)
	p.mos = append(p.mos, mos)
	p.mu.Unlock()
}

// Len returns the number of pairs added so far.
func (p *Pairs) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pred)
}

// Reset drops every pair, keeping the storage.
func (p *Pairs) Reset() {
	p.mu.Lock()
	p.pred, p.mos = p.pred[:0], p.mos[:0]
	p.mu.Unlock()
}

// Scores scores the pairs added so far. Arrival order does not matter beyond
// floating-point rounding. Adding may continue afterwards.
func (p *Pairs) Scores(opt Options) Scores {
	p.mu.Lock()
	pred := append([]float64(nil), p.pred...)
	mos := append([]float64(nil), p.mos...)
	p.mu.Unlock()
	return Score(pred, mos, opt)
}
