package signif

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"

	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/runner"
)

// block is one model's scored images on one split (split -1: every image, scored once).
type block struct {
	split int
	names []string
	at    map[string]int // image -> index into names, pred, fit, mos
	pred  []float64      // oriented
	fit   []float64
	mos   []float64
}

// blocks cuts r's pooled predictions for target into its splits (runner.ModelResult.Images documents
// the layout). ok is false with a reason when r carries no per-image predictions for target.
func blocks(r *runner.ModelResult, target string) ([]block, string) {
	pred, mos, names := r.Pred[target], r.MOS[target], r.Images[target]
	if len(names) != len(pred) || len(mos) != len(pred) {
		return nil, fmt.Sprintf("%s: no per-image predictions for %s (%d predictions, %d image names)", r.Model, target, len(pred), len(names))
	}
	var out []block
	off := 0
	for _, s := range r.Splits {
		if s.Target != target {
			continue
		}
		n := s.Scores.N
		if off+n > len(pred) {
			return nil, fmt.Sprintf("%s: split %d of %s claims %d images beyond the %d predictions", r.Model, s.Split, target, n, len(pred))
		}
		b := block{split: s.Split, names: names[off : off+n], mos: mos[off : off+n], at: make(map[string]int, n)}
		b.pred = make([]float64, n)
		for i, v := range pred[off : off+n] {
			if !r.HigherIsBetter {
				v = -v
			}
			b.pred[i] = v
			b.at[b.names[i]] = i
		}
		b.fit = b.pred
		if s.Scores.Fit != metrics.FitNone {
			// PLCC as the table computed it: through the split's fitted logistic, or undefined.
			b.fit = make([]float64, n)
			l := metrics.Logistic{Kind: s.Scores.Fit, Params: s.Scores.FitParams}
			for i, v := range b.pred {
				b.fit[i] = math.NaN()
				if len(l.Params) > 0 {
					b.fit[i] = l.Apply(v)
				}
			}
		}
		out = append(out, b)
		off += n
	}
	if off != len(pred) {
		return nil, fmt.Sprintf("%s: its splits of %s cover %d of %d predictions", r.Model, target, off, len(pred))
	}
	return out, ""
}

// pairBlocks matches a's blocks with b's: by split index, or a model scored once on every image
// (split -1) with each split of the other.
func pairBlocks(a, b []block) [][2]*block {
	var out [][2]*block
	all := func(bs []block) bool { return len(bs) == 1 && bs[0].split == -1 }
	switch {
	case all(a) && !all(b):
		for i := range b {
			out = append(out, [2]*block{&a[0], &b[i]})
		}
	case all(b) && !all(a):
		for i := range a {
			out = append(out, [2]*block{&a[i], &b[0]})
		}
	default:
		for i := range a {
			for j := range b {
				if a[i].split == b[j].split {
					out = append(out, [2]*block{&a[i], &b[j]})
				}
			}
		}
	}
	return out
}

type entry struct {
	name   string
	blocks []block
}

// computer holds the bootstrap draws and replicates shared by every pair of a group: two pairs that
// resample the same image set with the same model reuse its replicates.
type computer struct {
	opt     Options
	dataset string
	target  string
	reps    map[string][][3]float64
}

// Compute tests every pair of rows of results that share a dataset and target. Skipped results are
// left out; a result without per-image predictions is named in its group's Notes.
func Compute(results []*runner.ModelResult, opt Options) (*Report, error) {
	if !(opt.Alpha > 0 && opt.Alpha < 1) {
		return nil, fmt.Errorf("signif: alpha %v: want a level between 0 and 1", opt.Alpha)
	}
	if opt.Bootstrap < 0 {
		return nil, fmt.Errorf("signif: %d bootstrap replicates: want 0 (none) or more", opt.Bootstrap)
	}
	rep := &Report{Alpha: opt.Alpha, Bootstrap: opt.Bootstrap, Seed: opt.Seed}
	type key struct{ dataset, target string }
	var order []key
	groups := map[key]*Group{}
	entries := map[key][]entry{}
	for _, r := range results {
		if r == nil || r.Skipped != "" || r.TrainedOn != "" {
			continue // cross-dataset rows: their splits mean something else than the in-domain rows'
		}
		targets := make([]string, 0, len(r.Summary))
		for t := range r.Summary {
			targets = append(targets, t)
		}
		sort.Strings(targets)
		for _, t := range targets {
			k := key{r.Dataset, t}
			g := groups[k]
			if g == nil {
				g = &Group{Dataset: r.Dataset, Target: t}
				groups[k] = g
				order = append(order, k)
			}
			if slices.Contains(g.Models, r.Model) {
				return nil, fmt.Errorf("signif: model %s appears twice on %s (%s)", r.Model, r.Dataset, t)
			}
			bs, why := blocks(r, t)
			if why != "" {
				g.Notes = append(g.Notes, why+": left out")
				continue
			}
			g.Models = append(g.Models, r.Model)
			entries[k] = append(entries[k], entry{r.Model, bs})
		}
	}
	for _, k := range order {
		g := groups[k]
		c := &computer{opt: opt, dataset: k.dataset, target: k.target, reps: map[string][][3]float64{}}
		es := entries[k]
		for i := range es {
			for j := i + 1; j < len(es); j++ {
				p, err := c.pair(es[i], es[j])
				if err != nil {
					return nil, err
				}
				g.Pairs = append(g.Pairs, p)
			}
		}
		rep.Groups = append(rep.Groups, *g)
	}
	return rep, nil
}

// pair compares a with b split by split, on the images both scored.
func (c *computer) pair(a, b entry) (Pair, error) {
	p := Pair{A: a.name, B: b.name, Metrics: make([]PairMetric, len(Metrics))}
	for m := range p.Metrics {
		p.Metrics[m].Metric = Metrics[m]
	}
	for _, bb := range pairBlocks(a.blocks, b.blocks) {
		x, y := bb[0], bb[1]
		common := commonImages(x, y)
		split := max(x.split, y.split)
		p.Splits = append(p.Splits, split)
		p.Common += len(common)
		// A model scored on every image is taken on the other's split: only the other's images count.
		if x.split != -1 || y.split == -1 {
			p.OnlyA += len(x.names) - len(common)
		}
		if y.split != -1 || x.split == -1 {
			p.OnlyB += len(y.names) - len(common)
		}
		switch {
		case x.split == -1 && y.split != -1:
			p.Note = allImagesNote(a.name, b.name)
		case y.split == -1 && x.split != -1:
			p.Note = allImagesNote(b.name, a.name)
		}
		sa, sb, err := samples(x, y, common, a.name, b.name)
		if err != nil {
			return p, err
		}
		ca, cb := Correlations(sa), Correlations(sb)
		var ra, rb [][3]float64
		if c.opt.Bootstrap > 0 && len(common) > 0 {
			ra = c.replicates(a.name, x.split, common, sa)
			rb = c.replicates(b.name, y.split, common, sb)
		}
		for m := range p.Metrics {
			st := SplitTest{Split: split, N: len(common), A: Num(ca[m]), B: Num(cb[m]), Diff: Num(ca[m] - cb[m]),
				BootLo: Num(math.NaN()), BootHi: Num(math.NaN()), BootP: Num(math.NaN())}
			if ra != nil {
				bt := BootDiff(ra, rb, m, c.opt.Alpha)
				st.BootN, st.BootLo, st.BootHi, st.BootP = bt.N, Num(bt.Lo), Num(bt.Hi), Num(bt.P)
			}
			w := WilliamsOn(sa, sb, m)
			st.WilliamsT, st.WilliamsP, st.WilliamsReason = Num(w.T), Num(w.P), w.Reason
			p.Metrics[m].PerSplit = append(p.Metrics[m].PerSplit, st)
		}
	}
	if p.Common == 0 {
		p.Reason = "no image scored by both"
		if len(p.Splits) == 0 {
			p.Reason = "no split scored by both"
		}
	}
	for m := range p.Metrics {
		pm := &p.Metrics[m]
		d := make([]float64, len(pm.PerSplit))
		for i, st := range pm.PerSplit {
			d[i] = float64(st.Diff)
		}
		t, s := PairedTTest(d, c.opt.Alpha), SignTest(d)
		pm.OverSplits = OverSplits{N: t.N, Mean: Num(t.Mean), Lo: Num(t.Lo), Hi: Num(t.Hi), T: Num(t.T), P: Num(t.P),
			Pos: s.Pos, Neg: s.Neg, SignP: Num(s.P)}
		Decide(pm, c.opt.Alpha)
	}
	return p, nil
}

func allImagesNote(all, per string) string {
	return all + " (scored once on every image) is compared on " + per + "'s test images of each split"
}

// commonImages are the images of x also in y, sorted by name: the order the bootstrap draws from.
func commonImages(x, y *block) []string {
	var out []string
	for _, n := range x.names {
		if _, ok := y.at[n]; ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// samples gathers both models' predictions on the common images; the MOS must agree.
func samples(x, y *block, common []string, an, bn string) (Sample, Sample, error) {
	n := len(common)
	sa := Sample{Pred: make([]float64, n), Fit: make([]float64, n), MOS: make([]float64, n)}
	sb := Sample{Pred: make([]float64, n), Fit: make([]float64, n), MOS: make([]float64, n)}
	for k, name := range common {
		i, j := x.at[name], y.at[name]
		sa.Pred[k], sa.Fit[k], sa.MOS[k] = x.pred[i], x.fit[i], x.mos[i]
		sb.Pred[k], sb.Fit[k], sb.MOS[k] = y.pred[j], y.fit[j], y.mos[j]
		if x.mos[i] != y.mos[j] {
			return sa, sb, fmt.Errorf("signif: image %s has MOS %v for %s and %v for %s", name, x.mos[i], an, y.mos[j], bn)
		}
	}
	return sa, sb, nil
}

// imageSetHash identifies an image set (sorted names).
func imageSetHash(names []string) uint64 {
	h := fnv.New64a()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// seedFor seeds the bootstrap stream of an image set from the options' seed, the dataset, the
// target and the set: rerunning with the same seed redraws the same resamples, and both models of
// a pair (every pair resampling that set) are resampled on the same images.
func (c *computer) seedFor(set uint64) uint32 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%d", c.opt.Seed, c.dataset, c.target, set)
	s := h.Sum64()
	return uint32(s ^ s>>32)
}

// replicates are one model's bootstrap correlations on an image set, computed once per group.
func (c *computer) replicates(model string, split int, common []string, s Sample) [][3]float64 {
	set := imageSetHash(common)
	k := fmt.Sprintf("%s\x00%d\x00%d", model, split, set)
	if r, ok := c.reps[k]; ok {
		return r
	}
	r := Replicates(s, c.seedFor(set), c.opt.Bootstrap)
	c.reps[k] = r
	return r
}
