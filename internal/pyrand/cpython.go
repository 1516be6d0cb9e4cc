package pyrand

// Random is CPython's random.Random (the module-level random.random and
// random.seed), restricted to integer seeding and random().
type Random struct {
	mt mt19937
}

// NewRandom returns the state random.seed(seed) leaves for a non-negative
// integer seed: init_by_array on the seed's 32-bit words, least significant
// first, at least one word (CPython uses the absolute value of any int; a
// uint64 covers every seed the split tools accept).
func NewRandom(seed uint64) *Random {
	key := []uint32{uint32(seed)}
	if hi := uint32(seed >> 32); hi != 0 {
		key = append(key, hi)
	}
	r := &Random{}
	r.mt.initByArray(key)
	return r
}

// Uint32 returns the next raw 32-bit output (random.getrandbits(32)).
func (r *Random) Uint32() uint32 { return r.mt.uint32() }

// Float64 is random.random(): 53 random bits from two outputs (the top 27
// bits of the first, the top 26 of the second) scaled into [0, 1).
func (r *Random) Float64() float64 {
	a := r.mt.uint32() >> 5
	b := r.mt.uint32() >> 6
	return (float64(a)*67108864.0 + float64(b)) * (1.0 / 9007199254740992.0)
}
