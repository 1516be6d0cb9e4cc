package runner

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/client"
)

// evaluateCross scores a per-split model trained on another dataset on every image of ds, once per
// served version (version k was trained on split k-1 of m.Dataset), and summarises over versions. No
// split of ds is involved: none of its images was seen in training. Predictions go through the same
// cache as any run, keyed by (ds, model, version), so a second run infers nothing.
func evaluateCross(ctx context.Context, c *client.Client, m *Model, ds *dataset.Dataset, opt EvalOptions, res *ModelResult) (_ *ModelResult, err error) {
	res.TrainedOn = m.Dataset
	targets := TargetsFor(m, ds)
	if len(targets) == 0 {
		res.Skipped = "no output matches this dataset's scores"
		return res, nil
	}
	versions := crossVersions(m.Versions)
	if len(versions) == 0 {
		res.Skipped = "no numbered version served"
		return res, nil
	}
	caches := map[string]*CacheFile{}
	defer closeCaches(caches, &err)
	for _, v := range versions {
		if err := res.runVersion(ctx, c, m, v, ds.Name, ds.Items, caches, opt); err != nil {
			return res, err
		}
	}
	mopt := metrics.Options{HigherIsBetter: m.HigherIsBetter, Fit: opt.Fit}
	for _, t := range targets {
		var per []metrics.Scores
		for k, v := range versions {
			per = append(per, res.score(t, k, v, ds.Items, caches[v], mopt))
		}
		res.Summary[t.Name] = metrics.SummarizeSplits(per)
	}
	return res, nil
}

// crossVersions are the served versions that are split numbers (1, 2, ...), in numeric order.
func crossVersions(served []string) []string {
	var nums []int
	for _, v := range served {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && strconv.Itoa(n) == v {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	out := make([]string, 0, len(nums))
	for _, n := range slices.Compact(nums) {
		out = append(out, strconv.Itoa(n))
	}
	return out
}

// CrossProtocol states how cross-dataset rows were scored, for table captions and reports.
func CrossProtocol(r *ModelResult) string {
	n := 0
	for _, s := range r.Splits {
		if s.Split+1 > n {
			n = s.Split + 1
		}
	}
	return fmt.Sprintf("trained on %s (one version per split), each of its %d versions scored on every image of %s, then averaged over versions", r.TrainedOn, n, r.Dataset)
}
