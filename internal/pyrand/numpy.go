package pyrand

// RandomState is numpy's legacy generator (numpy.random.RandomState, the one
// behind np.random.seed and np.random.permutation), restricted to what
// reproducing a permutation needs. numpy keeps this stream frozen across
// versions (NEP 19), which is what makes reproducing it meaningful.
type RandomState struct {
	mt mt19937
}

// NewRandomState returns the state np.random.seed(seed) leaves: numpy's
// legacy seeding runs init_genrand on an integer seed, which must lie in
// 0..2**32-1 (hence uint32).
func NewRandomState(seed uint32) *RandomState {
	r := &RandomState{}
	r.mt.initGenrand(seed)
	return r
}

// Uint32 returns the next raw 32-bit output (what
// RandomState._bit_generator.random_raw() returns).
func (r *RandomState) Uint32() uint32 { return r.mt.uint32() }

// uint64 is numpy's next_uint64 for MT19937: two outputs, the first one high.
func (r *RandomState) uint64() uint64 {
	hi := uint64(r.mt.uint32())
	return hi<<32 | uint64(r.mt.uint32())
}

// Interval is numpy's random_interval: a uniform integer in 0..max by masked
// rejection (draw, keep the bits up to max's highest, retry while above
// max), with 32-bit draws while max fits in 32 bits. The legacy shuffle
// draws its swap indices this way.
func (r *RandomState) Interval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	mask := max
	for s := uint(1); s < 64; s <<= 1 {
		mask |= mask >> s
	}
	if max <= 0xffffffff {
		for {
			if v := uint64(r.mt.uint32()) & mask; v <= max {
				return v
			}
		}
	}
	for {
		if v := r.uint64() & mask; v <= max {
			return v
		}
	}
}

// Shuffle is the legacy RandomState.shuffle of a one-dimensional array of n
// items: Fisher-Yates from the last index down, swap index i with
// Interval(i).
func (r *RandomState) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, int(r.Interval(uint64(i))))
	}
}

// Permutation is RandomState.permutation(n): arange(n), shuffled.
func (r *RandomState) Permutation(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}
