package runner

import (
	"context"
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/splits"
)

// spearman is Pearson's r of the ranks, for distinct values: written here so the test does not lean on
// the metrics package it checks the wiring of.
func spearman(x, y []float64) float64 {
	rank := func(v []float64) []float64 {
		idx := make([]int, len(v))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
		r := make([]float64, len(v))
		for k, i := range idx {
			r[i] = float64(k)
		}
		return r
	}
	rx, ry := rank(x), rank(y)
	var mx, my float64
	for i := range rx {
		mx += rx[i] / float64(len(rx))
		my += ry[i] / float64(len(ry))
	}
	var sxy, sxx, syy float64
	for i := range rx {
		sxy += (rx[i] - mx) * (ry[i] - my)
		sxx += (rx[i] - mx) * (rx[i] - mx)
		syy += (ry[i] - my) * (ry[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

// TestEvaluateAlignmentAllImages: with AlignmentAllImages a zero-shot model's alignment is one
// correlation over every image (summary N = 1, marked in the measurements), its quality stays a mean
// over splits, and a per-split model is untouched.
func TestEvaluateAlignmentAllImages(t *testing.T) {
	c, _ := startServer(t)
	ctx := context.Background()
	items := makeItems(t, 12)
	// The model's alignment is -mean grey = -10 i; a zigzag alignment MOS makes the correlation < 1 and
	// different on each split's test set than on all images.
	pred, mos := make([]float64, len(items)), make([]float64, len(items))
	for i := range items {
		items[i].MOSAlign = -float64(i) + 1.3*float64(i%3) // distinct values: no ties
		pred[i], mos[i] = -10*float64(i), items[i].MOSAlign
	}
	ds := &dataset.Dataset{Name: "toy", Items: items}
	sp, err := splits.Make(ds, splits.Paper, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Describe(ctx, c, "mean")
	if err != nil {
		t.Fatal(err)
	}
	all, err := Evaluate(ctx, c, m, ds, sp, EvalOptions{CacheDir: t.TempDir(), AlignmentAllImages: true})
	if err != nil {
		t.Fatal(err)
	}
	want := spearman(pred, mos)
	got := all.Summary["alignment"]
	if got.Splits != 1 || math.Abs(got.SRCC.Mean-want) > 1e-12 {
		t.Errorf("all-images alignment %+v; want one value, SRCC %.15g", got, want)
	}
	if !slices.Equal(all.AllImages, []string{"alignment"}) || all.Summary["quality"].Splits != 3 {
		t.Errorf("all_images %v, quality over %d splits; want [alignment] and 3", all.AllImages, all.Summary["quality"].Splits)
	}
	for _, ms := range Measurements([]*ModelResult{all}) {
		if ms.SRCC.AllImages != (ms.Target == "alignment") {
			t.Errorf("measurement %s: all_images %v", ms.Target, ms.SRCC.AllImages)
		}
	}

	per, err := Evaluate(ctx, c, m, ds, sp, EvalOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var mean float64
	for _, s := range sp.Splits {
		var p, y []float64
		for _, name := range s.Test {
			i := slices.IndexFunc(items, func(it dataset.Item) bool { return it.Image == name })
			p, y = append(p, pred[i]), append(y, mos[i])
		}
		mean += spearman(p, y) / float64(len(sp.Splits))
	}
	if ps := per.Summary["alignment"]; ps.Splits != 3 || math.Abs(ps.SRCC.Mean-mean) > 1e-12 || len(per.AllImages) != 0 {
		t.Errorf("per-split alignment %+v (all_images %v); want mean SRCC %.15g over 3 splits", ps, per.AllImages, mean)
	}
	if math.Abs(mean-want) < 1e-6 {
		t.Fatalf("test data does not tell the protocols apart: both give %.6f", want)
	}

	ps, _ := Describe(ctx, c, "persplit")
	sp2, _ := splits.Make(ds, splits.Paper, 2, 1)
	res, err := Evaluate(ctx, c, ps, ds, sp2, EvalOptions{CacheDir: t.TempDir(), AlignmentAllImages: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.AllImages) != 0 || res.Summary["alignment"].Splits != 2 {
		t.Errorf("per-split model under AlignmentAllImages: all_images %v, %d splits", res.AllImages, res.Summary["alignment"].Splits)
	}
}
