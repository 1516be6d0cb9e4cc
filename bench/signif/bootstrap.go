package signif

import (
	"math"
	"runtime"
	"sync"

	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/internal/pyrand"
)

// Sample is one model's predictions on a set of images, in a fixed image order.
type Sample struct {
	Pred []float64 // oriented (negated for lower-is-better models): input to SRCC and KRCC
	Fit  []float64 // input to PLCC: Pred through the table's logistic fit, or Pred without one
	MOS  []float64
}

// Metric names, in the order Correlations and Replicates use.
var Metrics = []string{"srcc", "plcc", "krcc"}

// Correlations are SRCC, PLCC and KRCC of s against its MOS (NaN where undefined).
func Correlations(s Sample) [3]float64 {
	return [3]float64{
		orNaN(metrics.SRCC(s.Pred, s.MOS)),
		orNaN(metrics.PLCC(s.Fit, s.MOS)),
		orNaN(metrics.KRCC(s.Pred, s.MOS)),
	}
}

func orNaN(v float64, err error) float64 {
	if err != nil {
		return math.NaN()
	}
	return v
}

// Indices returns the resample of replicate after replicate: numpy's
// RandomState(seed).randint(0, n, size=n) called reps times (legacy masked rejection on 32-bit draws,
// internal/pyrand), so a numpy script with the same seed resamples the same images.
func Indices(seed uint32, n, reps int) [][]int {
	rs := pyrand.NewRandomState(seed)
	out := make([][]int, reps)
	for r := range out {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = int(rs.Interval(uint64(n - 1)))
		}
		out[r] = idx
	}
	return out
}

// Replicates computes Correlations of s on reps resamples of its images, drawn as Indices(seed, n,
// reps) draws them. Two models resampled with the same seed and image order are resampled on the
// same images, which is what makes the bootstrap of their difference paired. The draws are
// sequential (one stream); the correlations run on GOMAXPROCS goroutines.
func Replicates(s Sample, seed uint32, reps int) [][3]float64 {
	n := len(s.MOS)
	if n == 0 || reps <= 0 {
		return nil
	}
	rs := pyrand.NewRandomState(seed)
	draws := make([]int32, n*reps)
	for i := range draws {
		draws[i] = int32(rs.Interval(uint64(n - 1)))
	}
	out := make([][3]float64, reps)
	workers := min(runtime.GOMAXPROCS(0), reps)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := newResampler(s)
			idx := make([]int, n)
			for k := w; k < reps; k += workers {
				for i, j := range draws[k*n : (k+1)*n] {
					idx[i] = int(j)
				}
				out[k] = res.correlations(idx)
			}
		}()
	}
	wg.Wait()
	return out
}

// Boot is the paired bootstrap of one metric's difference A - B on one split.
type Boot struct {
	N  int     // replicates where both metrics were defined
	Lo float64 // percentile (1-alpha) interval of the difference (numpy.percentile, linear)
	Hi float64
	// P is the two-sided bootstrap p-value 2 min(P(d <= 0), P(d >= 0)), capped at 1: below alpha
	// exactly when the interval excludes 0 (up to the percentile interpolation).
	P float64
}

// BootDiff summarises the replicate differences a[k][m] - b[k][m] of metric m.
func BootDiff(a, b [][3]float64, m int, alpha float64) Boot {
	d := make([]float64, 0, len(a))
	for k := range a {
		if x := a[k][m] - b[k][m]; !math.IsNaN(x) && !math.IsInf(x, 0) {
			d = append(d, x)
		}
	}
	bt := Boot{N: len(d), Lo: math.NaN(), Hi: math.NaN(), P: math.NaN()}
	if len(d) == 0 {
		return bt
	}
	bt.Lo, bt.Hi = Percentile(d, 100*alpha/2), Percentile(d, 100*(1-alpha/2))
	le, ge := 0, 0
	for _, x := range d {
		if x <= 0 {
			le++
		}
		if x >= 0 {
			ge++
		}
	}
	bt.P = math.Min(1, 2*float64(min(le, ge))/float64(len(d)))
	return bt
}

// WilliamsOn runs Williams' test on metric m of two samples on the same images: PLCC as the Pearson
// correlations of the fitted predictions, SRCC as the Pearson correlations of their ranks. KRCC has
// no such test (Reason says so).
func WilliamsOn(a, b Sample, m int) WilliamsT {
	n := len(a.MOS)
	switch Metrics[m] {
	case "plcc":
		return Williams(orNaN(metrics.PLCC(a.Fit, a.MOS)), orNaN(metrics.PLCC(b.Fit, b.MOS)), orNaN(metrics.PLCC(a.Fit, b.Fit)), n)
	case "srcc":
		return Williams(orNaN(metrics.SRCC(a.Pred, a.MOS)), orNaN(metrics.SRCC(b.Pred, b.MOS)), orNaN(metrics.SRCC(a.Pred, b.Pred)), n)
	}
	return WilliamsT{T: math.NaN(), P: math.NaN(), DF: n - 3, Reason: "Williams' test is for Pearson-type correlations, not KRCC"}
}
