package signif

import (
	"cmp"
	"math"
	"slices"

	"github.com/agiqa-bench/agiqa/bench/metrics"
)

// resampler computes a sample's correlations on bootstrap resamples without sorting each one: a
// resample is a multiset of the original images (a count per image), so walking the images in an
// order sorted once gives the resample's average ranks in O(n) and its Kendall tau-b in O(n log n)
// with a Fenwick tree over MOS ranks. The result equals Correlations on the materialised resample
// up to rounding (resample_test.go compares them).
type resampler struct {
	s       Sample
	byPred  []int   // image indices sorted by Pred
	byMOS   []int   // sorted by MOS
	byBoth  []int   // sorted by (Pred, MOS)
	mosRank []int   // dense rank of each image's MOS, 1-based (the Fenwick index)
	nRanks  int     // distinct MOS values
	count   []int64 // per replicate: how often each image was drawn
	rankP   []float64
	rankM   []float64
	bit     []int64
	// the resample, in draw order
	rp, rm, rf, ry []float64
}

func newResampler(s Sample) *resampler {
	n := len(s.MOS)
	r := &resampler{s: s, count: make([]int64, n), rankP: make([]float64, n), rankM: make([]float64, n),
		rp: make([]float64, n), rm: make([]float64, n), rf: make([]float64, n), ry: make([]float64, n)}
	sorted := func(less func(a, b int) int) []int {
		ix := make([]int, n)
		for i := range ix {
			ix[i] = i
		}
		slices.SortStableFunc(ix, less)
		return ix
	}
	r.byPred = sorted(func(a, b int) int { return cmp.Compare(s.Pred[a], s.Pred[b]) })
	r.byMOS = sorted(func(a, b int) int { return cmp.Compare(s.MOS[a], s.MOS[b]) })
	r.byBoth = sorted(func(a, b int) int {
		if c := cmp.Compare(s.Pred[a], s.Pred[b]); c != 0 {
			return c
		}
		return cmp.Compare(s.MOS[a], s.MOS[b])
	})
	r.mosRank = make([]int, n)
	for i, j := range r.byMOS {
		if i == 0 || s.MOS[j] != s.MOS[r.byMOS[i-1]] {
			r.nRanks++
		}
		r.mosRank[j] = r.nRanks
	}
	r.bit = make([]int64, r.nRanks+1)
	return r
}

// correlations returns SRCC, PLCC and KRCC of the resample idx (image indices, with repeats).
func (r *resampler) correlations(idx []int) [3]float64 {
	clear(r.count)
	for _, j := range idx {
		r.count[j]++
	}
	averageRanks(r.byPred, r.s.Pred, r.count, r.rankP)
	averageRanks(r.byMOS, r.s.MOS, r.count, r.rankM)
	for i, j := range idx {
		r.rp[i], r.rm[i], r.rf[i], r.ry[i] = r.rankP[j], r.rankM[j], r.s.Fit[j], r.s.MOS[j]
	}
	// Pearson on the average ranks is SRCC (metrics.SRCC); constant ranks are constant values.
	return [3]float64{orNaN(metrics.PLCC(r.rp, r.rm)), orNaN(metrics.PLCC(r.rf, r.ry)), r.kendall()}
}

// averageRanks sets rank[j], for each image j drawn, to the average 1-based rank its value takes in
// the resample (ties share the mean of the ranks they span, as scipy's rankdata "average").
func averageRanks(order []int, v []float64, count []int64, rank []float64) {
	var below int64
	for i := 0; i < len(order); {
		k := i
		var w int64
		for k < len(order) && v[order[k]] == v[order[i]] {
			w += count[order[k]]
			k++
		}
		// Ranks below+1 .. below+w: mean (2 below + w + 1) / 2, exact in float64.
		avg := float64(2*below+w+1) / 2
		for _, j := range order[i:k] {
			rank[j] = avg
		}
		below += w
		i = k
	}
}

// kendall is tau-b of the resample: C - D from the discordant pairs D (walking (Pred, MOS) order,
// each drawn copy against the earlier copies with a strictly higher MOS), all pairs, and the pairs
// tied in Pred, in MOS and in both (metrics.KRCC's identity).
func (r *resampler) kendall() float64 {
	clear(r.bit)
	pairs := func(w int64) int64 { return w * (w - 1) / 2 }
	var total, dis, xTies, yTies, joint int64
	for _, j := range r.byBoth {
		total += r.count[j]
	}
	var seen int64
	o := r.byBoth
	for i := 0; i < len(o); {
		k := i
		var wx int64
		for k < len(o) && r.s.Pred[o[k]] == r.s.Pred[o[i]] {
			// A run of equal (Pred, MOS) inside the Pred tie.
			m := k
			var wj int64
			for m < len(o) && r.s.Pred[o[m]] == r.s.Pred[o[k]] && r.s.MOS[o[m]] == r.s.MOS[o[k]] {
				wj += r.count[o[m]]
				m++
			}
			joint += pairs(wj)
			wx += wj
			if wj > 0 {
				rank := r.mosRank[o[k]]
				dis += wj * (seen - r.prefix(rank))
				r.add(rank, wj)
				seen += wj
			}
			k = m
		}
		xTies += pairs(wx)
		i = k
	}
	for i := 0; i < len(r.byMOS); {
		k := i
		var w int64
		for k < len(r.byMOS) && r.s.MOS[r.byMOS[k]] == r.s.MOS[r.byMOS[i]] {
			w += r.count[r.byMOS[k]]
			k++
		}
		yTies += pairs(w)
		i = k
	}
	tot := pairs(total)
	if total < 2 || tot == xTies || tot == yTies {
		return math.NaN() // a constant resample: tau-b undefined, as metrics.KRCC says
	}
	cd := tot - xTies - yTies + joint - 2*dis
	tau := float64(cd) / math.Sqrt(float64(tot-xTies)) / math.Sqrt(float64(tot-yTies))
	return max(-1, min(1, tau))
}

// prefix is the weight added so far at MOS ranks 1..rank (earlier copies with MOS <= this one's).
func (r *resampler) prefix(rank int) int64 {
	var s int64
	for i := rank; i > 0; i -= i & -i {
		s += r.bit[i]
	}
	return s
}

func (r *resampler) add(rank int, w int64) {
	for i := rank; i < len(r.bit); i += i & -i {
		r.bit[i] += w
	}
}
