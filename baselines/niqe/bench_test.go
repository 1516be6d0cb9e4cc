package niqe

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

func benchImage(n int) *matlab.RGB8 {
	r := rand.New(rand.NewPCG(1, 2))
	im := &matlab.RGB8{H: n, W: n, Pix: make([]uint8, 3*n*n)}
	for c := 0; c < 3; c++ {
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				v := 128 + 0.05*float64((x*x+y*y*(c+1))%2000) + 20*r.NormFloat64()
				im.Pix[c*n*n+y*n+x] = uint8(max(0, min(255, v)))
			}
		}
	}
	return im
}

// BenchmarkScore1024 is NIQE of one 1024x1024 image (10x10 blocks) against
// the published model, on one core (go test -bench Score1024 -cpu 1).
func BenchmarkScore1024(b *testing.B) {
	m := pristine(b)
	im := benchImage(1024)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Score(ctx, im); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}
