package runner

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/bench/table"
	"github.com/agiqa-bench/agiqa/client"
)

// Target pairs a model output with the MOS it is scored against.
type Target struct {
	Name   string // table.TargetQuality or table.TargetAlignment
	Output string // QUALITY or ALIGNMENT
}

// TargetsFor lists what a model can be scored on for a dataset: quality always
// (from QUALITY), alignment when the model has ALIGNMENT and the dataset has
// alignment MOS.
func TargetsFor(m *Model, ds *dataset.Dataset) []Target {
	var ts []Target
	if m.HasOutput(OutputQuality) {
		ts = append(ts, Target{table.TargetQuality, OutputQuality})
	}
	if m.HasOutput(OutputAlignment) && hasAlignment(ds) {
		ts = append(ts, Target{table.TargetAlignment, OutputAlignment})
	}
	return ts
}

func hasAlignment(ds *dataset.Dataset) bool {
	for _, it := range ds.Items {
		if !math.IsNaN(it.MOSAlign) {
			return true
		}
	}
	return false
}

// SplitScores are one model's scores on one split's test images.
type SplitScores struct {
	Split   int            `json:"split"`
	Version string         `json:"version"`
	Target  string         `json:"target"`
	Scores  metrics.Scores `json:"scores"`
	Missing int            `json:"missing"` // test images without a prediction (failed)
}

// ModelResult is everything measured for one (model, dataset).
//
// JSON fields: model (served name), catalog (paper-table row key), dataset;
// runs (one Report per version run); splits (per-split scores per target);
// summary (target -> metrics.SplitSummary over splits); failed (items recorded
// with an error, all versions); skipped (why the model was not run, if it was not).
type ModelResult struct {
	Model   string                          `json:"model"`
	Catalog string                          `json:"catalog"`
	Dataset string                          `json:"dataset"`
	Runs    []*Report                       `json:"runs"`
	Splits  []SplitScores                   `json:"splits"`
	Summary map[string]metrics.SplitSummary `json:"summary"`
	Failed  int                             `json:"failed"`
	Skipped string                          `json:"skipped,omitempty"`
	// AllImages lists the targets scored by one correlation over every image of the dataset instead of
	// per split (EvalOptions.AlignmentAllImages); their summary has N = 1.
	AllImages []string `json:"all_images,omitempty"`
	// Pred and MOS per target pooled over splits' test sets, for plots.
	Pred map[string][]float64 `json:"-"`
	MOS  map[string][]float64 `json:"-"`
	// Images names the image of each Pred/MOS entry. The entries of a target come split by split in
	// the order of its Splits entries, Scores.N each (significance tests pair rows image by image).
	Images map[string][]string `json:"-"`
	// HigherIsBetter is the model's orientation: when false, Pred is as served and the metrics negate it.
	HigherIsBetter bool `json:"-"`
	// TrainedOn is set on a cross-dataset result (EvalOptions.CrossDataset): the dataset the model's
	// versions were trained on. Each version scored every image of Dataset; Splits[k] is version k's.
	TrainedOn string `json:"trained_on,omitempty"`
}

// Warnings are the runs' warnings, each once (the versions of a per-split model see the same prompts).
func (r *ModelResult) Warnings() []string {
	var out []string
	for _, rep := range r.Runs {
		for _, w := range rep.Warnings {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out
}

// EvalOptions control Evaluate.
type EvalOptions struct {
	Run      Options
	CacheDir string
	Fit      metrics.FitKind
	// AlignmentAllImages scores the alignment target of single-version (zero-shot) models by one
	// correlation over all images, as the AGIQA-3k authors benchmarked CLIPScore, ImageReward and HPS,
	// instead of averaging over the splits' test sets (comparable with per-split models).
	AlignmentAllImages bool
	// CrossDataset scores a per-split model trained on another dataset (agiqa.dataset) on every image
	// of this one with each of its versions (evaluateCross) instead of skipping it.
	CrossDataset bool
}

// Evaluate scores a model on every split of a dataset: split k's test images
// with version k for per-split models, all images once with the single version
// otherwise. A model trained on another dataset is skipped with the reason.
func Evaluate(ctx context.Context, c *client.Client, m *Model, ds *dataset.Dataset, sp *splits.File, opt EvalOptions) (res *ModelResult, err error) {
	res = &ModelResult{Model: m.Name, Catalog: m.Catalog, Dataset: ds.Name, Summary: map[string]metrics.SplitSummary{},
		Pred: map[string][]float64{}, MOS: map[string][]float64{}, Images: map[string][]string{}, HigherIsBetter: m.HigherIsBetter}
	if m.Dataset != "" && m.Dataset != ds.Name && opt.CrossDataset && m.PerSplit {
		return evaluateCross(ctx, c, m, ds, opt, res)
	}
	if m.Dataset != "" && m.Dataset != ds.Name {
		res.Skipped = fmt.Sprintf("trained on %s", m.Dataset)
		return res, nil
	}
	targets := TargetsFor(m, ds)
	if len(targets) == 0 {
		res.Skipped = "no output matches this dataset's scores"
		return res, nil
	}
	byName := make(map[string]dataset.Item, len(ds.Items))
	for _, it := range ds.Items {
		byName[it.Image] = it
	}
	// Which images each version scores.
	type job struct {
		version string
		images  []string
	}
	var jobs []job
	if m.PerSplit {
		for k, s := range sp.Splits {
			jobs = append(jobs, job{m.VersionForSplit(k), s.Test})
		}
	} else {
		all := make([]string, 0, len(ds.Items))
		for _, it := range ds.Items {
			all = append(all, it.Image)
		}
		jobs = append(jobs, job{"", all})
	}
	caches := map[string]*CacheFile{}
	defer closeCaches(caches, &err)
	for _, j := range jobs {
		if m.PerSplit && !hasVersion(m, j.version) {
			return res, fmt.Errorf("model %s: per-split model has no version %s (versions %v); export one version per split", m.Name, j.version, m.Versions)
		}
		items := make([]dataset.Item, 0, len(j.images))
		for _, name := range j.images {
			it, ok := byName[name]
			if !ok {
				return res, fmt.Errorf("splits file names image %s, which %s does not have", name, ds.LabelFile)
			}
			items = append(items, it)
		}
		if err := res.runVersion(ctx, c, m, j.version, ds.Name, items, caches, opt); err != nil {
			return res, err
		}
	}
	mopt := metrics.Options{HigherIsBetter: m.HigherIsBetter, Fit: opt.Fit}
	for _, t := range targets {
		if opt.AlignmentAllImages && !m.PerSplit && t.Name == table.TargetAlignment {
			res.scoreAllImages(t, ds, caches[""], mopt)
			continue
		}
		var per []metrics.Scores
		for k, s := range sp.Splits {
			items := make([]dataset.Item, len(s.Test))
			for i, name := range s.Test {
				items[i] = byName[name]
			}
			per = append(per, res.score(t, k, versionLabel(m.VersionForSplit(k)), items, caches[m.VersionForSplit(k)], mopt))
		}
		res.Summary[t.Name] = metrics.SummarizeSplits(per)
	}
	return res, nil
}

// runVersion scores items (of dataset dsName) with one version of m through its prediction cache,
// which it opens into caches (the caller scores from them and closes them), and records the run.
func (res *ModelResult) runVersion(ctx context.Context, c *client.Client, m *Model, version, dsName string,
	items []dataset.Item, caches map[string]*CacheFile, opt EvalOptions) error {
	cf, err := OpenCache(opt.CacheDir, dsName, m, version)
	if err != nil {
		return err
	}
	caches[version] = cf
	rep, err := Run(ctx, c, m, version, items, cf, opt.Run)
	if rep != nil {
		res.Runs = append(res.Runs, rep)
		res.Failed += rep.Failed
	}
	return err
}

// closeCaches closes every cache of an evaluation. A cache that cannot be flushed loses predictions:
// its error becomes *err unless a run error already explains the stop.
func closeCaches(caches map[string]*CacheFile, err *error) {
	for _, cf := range caches {
		if cerr := cf.Close(); cerr != nil && *err == nil {
			*err = cerr
		}
	}
}

// scoreAllImages correlates a single-version model's predictions with the MOS over every image of ds:
// one "split" (index -1) whose summary has N = 1.
func (res *ModelResult) scoreAllImages(t Target, ds *dataset.Dataset, cf *CacheFile, mopt metrics.Options) {
	sc := res.score(t, -1, versionLabel(""), ds.Items, cf, mopt)
	res.Summary[t.Name] = metrics.SummarizeSplits([]metrics.Scores{sc})
	res.AllImages = append(res.AllImages, t.Name)
}

// score correlates the cached predictions of items (one split's test images, or all of a dataset's)
// with their MOS for target t, records them as split k under version, and returns the scores. Items
// without a MOS for t are left out (a generic CSV's empty mos_align); items without a usable
// prediction are counted as missing.
func (res *ModelResult) score(t Target, k int, version string, items []dataset.Item, cf *CacheFile, mopt metrics.Options) metrics.Scores {
	var pred, mos []float64
	var names []string
	missing := 0
	for _, it := range items {
		y := it.MOS
		if t.Name == table.TargetAlignment {
			y = it.MOSAlign
		}
		if math.IsNaN(y) {
			continue
		}
		p, ok := cf.Lookup(it.Image)
		v := p.Value(t.Output)
		if !ok || p.Error != "" || math.IsNaN(v) {
			missing++
			continue
		}
		pred, mos, names = append(pred, v), append(mos, y), append(names, it.Image)
	}
	sc := metrics.Score(pred, mos, mopt)
	res.Splits = append(res.Splits, SplitScores{Split: k, Version: version, Target: t.Name, Scores: sc, Missing: missing})
	res.Pred[t.Name] = append(res.Pred[t.Name], pred...)
	res.MOS[t.Name] = append(res.MOS[t.Name], mos...)
	res.Images[t.Name] = append(res.Images[t.Name], names...)
	return sc
}

func hasVersion(m *Model, v string) bool {
	for _, have := range m.Versions {
		if have == v {
			return true
		}
	}
	return false
}

// Measurements maps results to the table model's input.
func Measurements(results []*ModelResult) []table.Measurement {
	var ms []table.Measurement
	for _, r := range results {
		if r.Skipped != "" || r.TrainedOn != "" { // cross-dataset results have their own table
			continue
		}
		targets := make([]string, 0, len(r.Summary))
		for t := range r.Summary {
			targets = append(targets, t)
		}
		sort.Strings(targets)
		for _, t := range targets {
			s := r.Summary[t]
			note := ""
			if r.Failed > 0 {
				note = fmt.Sprintf("failed: %d images", r.Failed)
			}
			m := table.Measurement{
				Model: r.Catalog, Dataset: r.Dataset, Target: t,
				SRCC: stat(s.SRCC, note), PLCC: stat(s.PLCC, note), KRCC: stat(s.KRCC, note),
			}
			if slices.Contains(r.AllImages, t) {
				m.SRCC.AllImages, m.PLCC.AllImages, m.KRCC.AllImages = true, true, true
			}
			ms = append(ms, m)
		}
	}
	return ms
}

func stat(s metrics.Summary, note string) table.Stat {
	st := table.Stat{Mean: s.Mean, Median: s.Median, Std: s.Std, Lo: s.CI95Low, Hi: s.CI95High, N: s.N}
	var reasons []string
	if note != "" {
		reasons = append(reasons, note)
	}
	if r, ok := s.Reasons["mean"]; ok {
		reasons = append(reasons, r)
	}
	st.Reason = strings.Join(reasons, "; ")
	return st
}
