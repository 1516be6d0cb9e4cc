package metrics

import (
	"math/rand/v2"
	"testing"
)

// tiedPairs returns n correlated pairs on a 0.1 grid (about 1000 distinct
// values each), so every value is tied with ~1000 others, as MOS data is.
func tiedPairs(n int) (x, y []float64) {
	r := rand.New(rand.NewPCG(7, 8))
	x, y = make([]float64, n), make([]float64, n)
	for i := range x {
		q := r.IntN(1000)
		x[i] = float64(q) / 10
		y[i] = float64(q+r.IntN(300)) / 10
	}
	return x, y
}

func BenchmarkKRCC1e6(b *testing.B) {
	x, y := tiedPairs(1_000_000)
	for b.Loop() {
		if _, err := KRCC(x, y); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSRCC1e6(b *testing.B) {
	x, y := tiedPairs(1_000_000)
	for b.Loop() {
		if _, err := SRCC(x, y); err != nil {
			b.Fatal(err)
		}
	}
}
