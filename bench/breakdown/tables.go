package breakdown

import (
	"fmt"
	"math"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/table"
)

// Column keys of a breakdown table.
const (
	KeySRCC  = "srcc"
	KeyPLCC  = "plcc"
	KeyKRCC  = "krcc"
	KeyMeanN = "n"
)

// TooSmallNote marks a group shown but not ranked.
func TooSmallNote(minN int) string {
	return fmt.Sprintf("too small to rank: fewer than %d images in a split", minN)
}

// Tables builds one table per (dataset, target) measured on: row groups are models, rows their groups
// in column. Every dataset must have column (Check); results skipped or cross-dataset are left out.
func Tables(results []*runner.ModelResult, datasets []*dataset.Dataset, column string, opt Options) ([]*table.Table, error) {
	var out []*table.Table
	for _, ds := range datasets {
		if err := Check(ds, column); err != nil {
			return nil, err
		}
		items := make(map[string]dataset.Item, len(ds.Items))
		for _, it := range ds.Items {
			items[it.Image] = it
		}
		order := groupOrder(ds, column)
		for _, target := range []string{table.TargetQuality, table.TargetAlignment} {
			t := newTable(ds.Name, target, column, opt)
			for _, r := range results {
				if r.Dataset != ds.Name || r.Skipped != "" || r.TrainedOn != "" {
					continue
				}
				if _, ok := r.Summary[target]; !ok {
					continue
				}
				rg := table.RowGroup{Name: Label(r)}
				for _, g := range Score(r, target, items, column, order, opt) {
					rg.Rows = append(rg.Rows, groupRow(r, g, opt))
				}
				t.RowGroups = append(t.RowGroups, rg)
			}
			if len(t.RowGroups) > 0 {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

func newTable(ds, target, column string, opt Options) *table.Table {
	return &table.Table{
		ID:    fmt.Sprintf("breakdown-%s-%s-%s", column, ds, target),
		Title: fmt.Sprintf("%s by %s on %s", titleTarget(target), column, table.DatasetName(ds)),
		Columns: []table.Column{
			{Key: KeySRCC, Label: "SRCC"}, {Key: KeyPLCC, Label: "PLCC"}, {Key: KeyKRCC, Label: "KRCC"}, {Key: KeyMeanN, Label: "n/split"},
		},
		Legend: []string{
			"Each split's scored test images of the group correlated with their MOS, then the mean over splits (one block of all images for zero-shot all-images targets); an image with two values of the column counts in both groups.",
			fmt.Sprintf("n/split: the group's images per split (mean). Groups with fewer than %d images in some split are marked and not ranked.", opt.minN()),
		},
	}
}

func titleTarget(target string) string {
	if target == table.TargetAlignment {
		return "Alignment"
	}
	return "Perceptual quality"
}

func groupRow(r *runner.ModelResult, g Group, opt Options) table.Row {
	row := table.Row{Label: g.Name, Model: r.Model, Kind: table.KindMeasured}
	for _, s := range []metrics.Summary{g.Summary.SRCC, g.Summary.PLCC, g.Summary.KRCC} {
		row.Cells = append(row.Cells, statCell(s, g, opt))
	}
	n, dec := g.MeanN, 1
	row.Cells = append(row.Cells, table.Cell{Value: &n, Decimals: &dec})
	return row
}

// statCell is a metric's mean over splits with its spread, NaN with the reason when no split had a value.
func statCell(s metrics.Summary, g Group, opt Options) table.Cell {
	st := table.Stat{Mean: s.Mean, Median: s.Median, Std: s.Std, Lo: s.CI95Low, Hi: s.CI95High, N: s.N}
	c := table.Cell{Stat: &st}
	if s.N == 0 || math.IsNaN(s.Mean) {
		c.Text = "NaN"
		c.Note = "NaN: " + s.Reasons["mean"]
		if g.MinN < 2 {
			c.Note = fmt.Sprintf("NaN: the group has %d image(s) in a split", g.MinN)
		}
		st.Reason = c.Note
		return c
	}
	v := s.Mean
	c.Value = &v
	if g.TooSmall {
		c.Note = TooSmallNote(opt.minN())
	}
	return c
}

// CrossTable is the cross-dataset table: one row per result with TrainedOn set, its scores on every
// image of the other dataset averaged over the model's versions; nil when there is none.
func CrossTable(results []*runner.ModelResult) *table.Table {
	t := &table.Table{
		ID:    "cross-dataset",
		Title: "Cross-dataset: per-split models scored on another dataset",
		Columns: []table.Column{
			{Key: "trained_on", Label: "trained on"}, {Key: "scored_on", Label: "scored on"}, {Key: "target", Label: "target"},
			{Key: KeySRCC, Label: "SRCC"}, {Key: KeyPLCC, Label: "PLCC"}, {Key: KeyKRCC, Label: "KRCC"}, {Key: "versions", Label: "versions"},
		},
		Legend: []string{"Protocol: a model trained on one dataset's splits (one version per split) scores every image of the other dataset with each version; the cell is the mean over versions (spread in the JSON stat). No image of the scored dataset was seen in training, so its splits play no part."},
	}
	var rows []table.Row
	for _, r := range results {
		if r.TrainedOn == "" || r.Skipped != "" {
			continue
		}
		for _, target := range targets(r) {
			s := r.Summary[target]
			g := Group{MinN: 2}
			row := table.Row{Label: Label(r), Model: r.Model, Kind: table.KindMeasured, Cells: []table.Cell{
				{Text: table.DatasetName(r.TrainedOn)}, {Text: table.DatasetName(r.Dataset)}, {Text: target},
				statCell(s.SRCC, g, Options{}), statCell(s.PLCC, g, Options{}), statCell(s.KRCC, g, Options{}),
			}}
			n, dec := float64(s.Splits), 0
			row.Cells = append(row.Cells, table.Cell{Value: &n, Decimals: &dec})
			if r.Failed > 0 {
				for i := 3; i < 6; i++ {
					row.Cells[i].Note = fmt.Sprintf("failed: %d images", r.Failed)
				}
			}
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	t.RowGroups = []table.RowGroup{{Rows: rows}}
	return t
}
