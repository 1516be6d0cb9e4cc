package signif

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The resampler's counts-based ranks and tau-b equal metrics' sort-based SRCC, PLCC and KRCC on the
// materialised resample, with heavy ties in both variables and in neither.
func TestResamplerMatchesMaterialisedResample(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	worst := 0.0
	for trial := range 60 {
		n := 2 + rng.IntN(80)
		levels := []int{3, 10, 1 << 30}[trial%3] // few distinct values .. all distinct
		s := Sample{Pred: make([]float64, n), Fit: make([]float64, n), MOS: make([]float64, n)}
		for i := range n {
			s.MOS[i] = float64(rng.IntN(levels))
			s.Pred[i] = s.MOS[i] + float64(rng.IntN(levels))
			s.Fit[i] = s.Pred[i] * 0.5
		}
		r := newResampler(s)
		for range 20 {
			idx := make([]int, n)
			m := Sample{Pred: make([]float64, n), Fit: make([]float64, n), MOS: make([]float64, n)}
			for i := range idx {
				idx[i] = rng.IntN(n)
				m.Pred[i], m.Fit[i], m.MOS[i] = s.Pred[idx[i]], s.Fit[idx[i]], s.MOS[idx[i]]
			}
			got, want := r.correlations(idx), Correlations(m)
			for k := range got {
				if math.IsNaN(want[k]) != math.IsNaN(got[k]) || math.Abs(got[k]-want[k]) > 1e-12 {
					t.Fatalf("n=%d levels %d %s: resampler %v, metrics %v (resample %v)", n, levels, Metrics[k], got[k], want[k], idx)
				}
				if !math.IsNaN(want[k]) {
					worst = math.Max(worst, math.Abs(got[k]-want[k]))
				}
			}
		}
	}
	t.Logf("max |resampler - metrics| = %.3g (tolerance 1e-12)", worst)
}
