// Package breakdown regroups cached predictions: the same metrics as the paper's tables, per group of
// images (generator, style, adjective, prompt length, any descriptive column of a generic CSV), and the
// cross-dataset table. Nothing here infers: it reads runner.ModelResult's Pred/MOS/Images.
//
// Protocol of a breakdown cell: within each split's scored test images (the block of Pred the result
// holds for that split), the images of the group are correlated with their MOS; the cell is the mean
// over the splits, as in the main tables. A zero-shot target scored over all images
// (--alignment-protocol all) has one block: the group's images in the whole dataset. An image with two
// values of a column (AGIQA-3k's adj1 and adj2) counts in both groups.
package breakdown

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/agiqa-bench/agiqa/baselines"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/runner"
)

// PromptLength is the computed column every dataset has: the prompt's word count, bucketed.
const PromptLength = "prompt-length"

// DefaultMinN is the smallest per-split group size ranked: below it a correlation moves too much from
// split to split (at n = 10 the standard error of a Pearson r near 0.7 is about 0.18) to order models.
const DefaultMinN = 10

// Options control Tables.
type Options struct {
	// MinN: a group with fewer images than this in any split is marked too small to rank (0: DefaultMinN).
	MinN int
}

func (o Options) minN() int {
	if o.MinN > 0 {
		return o.MinN
	}
	return DefaultMinN
}

// Columns lists the breakdown columns a dataset offers: its Item.Attrs keys and PromptLength.
func Columns(ds *dataset.Dataset) []string {
	cols := append(ds.Attributes(), PromptLength)
	sort.Strings(cols)
	return cols
}

// Check returns an error naming column and the columns ds has when ds lacks it.
func Check(ds *dataset.Dataset, column string) error {
	for _, c := range Columns(ds) {
		if c == column {
			return nil
		}
	}
	return fmt.Errorf("--by %s: dataset %s (%s) has no column %q; it has: %s", column, ds.Name, ds.LabelFile, column, strings.Join(Columns(ds), ", "))
}

// promptBuckets are the word-count ranges of PromptLength (AGIQA-3k's prompts run from 3 to 16 words).
var promptBuckets = []struct {
	max  int
	name string
}{{4, "1-4 words"}, {7, "5-7 words"}, {10, "8-10 words"}, {13, "11-13 words"}, {math.MaxInt, "14+ words"}}

// PromptBucket is the PromptLength group of a prompt.
func PromptBucket(prompt string) string {
	n := len(strings.Fields(prompt))
	for _, b := range promptBuckets {
		if n <= b.max {
			return b.name
		}
	}
	return promptBuckets[len(promptBuckets)-1].name
}

// values returns an item's groups in column.
func values(it dataset.Item, column string) []string {
	if column == PromptLength {
		return []string{PromptBucket(it.Prompt)}
	}
	if v, ok := it.Attrs[column]; ok && len(v) > 0 {
		return v
	}
	return []string{dataset.NoValue}
}

// groupOrder lists a dataset's groups in column in natural order, prompt-length buckets by length.
func groupOrder(ds *dataset.Dataset, column string) []string {
	seen := map[string]bool{}
	var gs []string
	for _, it := range ds.Items {
		for _, v := range values(it, column) {
			if !seen[v] {
				seen[v] = true
				gs = append(gs, v)
			}
		}
	}
	rank := map[string]int{}
	for i, b := range promptBuckets {
		rank[b.name] = i + 1
	}
	sort.Slice(gs, func(i, j int) bool {
		if ri, rj := rank[gs[i]], rank[gs[j]]; ri != rj {
			return ri < rj
		}
		return dataset.NaturalLess(gs[i], gs[j])
	})
	return gs
}

// Group is one group's scores for one result and target.
type Group struct {
	Name    string               `json:"name"`
	Summary metrics.SplitSummary `json:"summary"`
	// MinN and MeanN are the group's images per split (smallest and mean over splits).
	MinN  int     `json:"min_n"`
	MeanN float64 `json:"mean_n"`
	// TooSmall: MinN < Options.MinN, so the group is shown but not ranked.
	TooSmall bool `json:"too_small"`
}

// Score regroups one result's target by column. items maps image name to its dataset item.
func Score(r *runner.ModelResult, target string, items map[string]dataset.Item, column string, order []string, opt Options) []Group {
	type acc struct{ pred, mos []float64 }
	fit := metrics.FitNone
	per := map[string][]metrics.Scores{}
	sizes := map[string][]int{}
	pred, mos, names := r.Pred[target], r.MOS[target], r.Images[target]
	off := 0
	for _, sp := range r.Splits {
		if sp.Target != target {
			continue
		}
		fit = sp.Scores.Fit
		blk := map[string]*acc{}
		for i := off; i < off+sp.Scores.N && i < len(names); i++ {
			for _, g := range values(items[names[i]], column) {
				a := blk[g]
				if a == nil {
					a = &acc{}
					blk[g] = a
				}
				a.pred, a.mos = append(a.pred, pred[i]), append(a.mos, mos[i])
			}
		}
		off += sp.Scores.N
		mopt := metrics.Options{HigherIsBetter: r.HigherIsBetter, Fit: fit}
		for _, g := range order {
			a := blk[g]
			if a == nil {
				a = &acc{}
			}
			per[g] = append(per[g], metrics.Score(a.pred, a.mos, mopt))
			sizes[g] = append(sizes[g], len(a.pred))
		}
	}
	var out []Group
	for _, g := range order {
		gr := Group{Name: g, Summary: metrics.SummarizeSplits(per[g])}
		if n := len(sizes[g]); n > 0 {
			gr.MinN = sizes[g][0]
			sum := 0
			for _, s := range sizes[g] {
				gr.MinN = min(gr.MinN, s)
				sum += s
			}
			gr.MeanN = float64(sum) / float64(n)
		}
		gr.TooSmall = gr.MinN < opt.minN()
		out = append(out, gr)
	}
	return out
}

// Label is a result's row-group name: the catalogue row's label (IP-IQA for "Ours") and the served model.
func Label(r *runner.ModelResult) string {
	es := baselines.Find(r.Catalog)
	if len(es) == 0 {
		return r.Model
	}
	name := es[0].Label // as the paper's tables print it
	if name == "Ours" || name == "" {
		name = es[0].Name
	}
	if name == r.Model {
		return name
	}
	return name + " (" + r.Model + ")"
}

func targets(r *runner.ModelResult) []string {
	ts := make([]string, 0, len(r.Summary))
	for t := range r.Summary {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}
