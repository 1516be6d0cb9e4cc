package signif

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/table"
)

var metricLabel = map[string]string{"srcc": "SRCC", "plcc": "PLCC", "krcc": "KRCC"}

// Tables expresses rep as bench/table tables, rendered by table.Render in every format: per group,
// one matrix per metric (IDs "signif-<dataset>-<target>-<metric>") and then the pairs' figures
// ("signif-<dataset>-<target>-pairs"). A group with fewer than two models has no table.
func Tables(rep *Report) []*table.Table {
	var out []*table.Table
	for gi := range rep.Groups {
		g := &rep.Groups[gi]
		if len(g.Models) < 2 {
			continue
		}
		for m := range Metrics {
			out = append(out, matrix(rep, g, m))
		}
		out = append(out, pairsTable(rep, g))
	}
	return out
}

func groupID(g *Group) string { return "signif-" + g.Dataset + "-" + g.Target }

func alphaText(a float64) string { return strconv.FormatFloat(a, 'g', -1, 64) }

// matrix is metric m's table: cell (row, column) is the row's difference from the column and the
// decision for the row.
func matrix(rep *Report, g *Group, m int) *table.Table {
	name := metricLabel[Metrics[m]]
	t := &table.Table{
		ID: groupID(g) + "-" + Metrics[m],
		Title: fmt.Sprintf("Significance of %s differences, %s %s (row vs column, alpha = %s)",
			name, table.DatasetName(g.Dataset), g.Target, alphaText(rep.Alpha)),
	}
	at := map[string]int{}
	for i, model := range g.Models {
		at[model] = i
		t.Columns = append(t.Columns, table.Column{Key: model, Label: model})
	}
	cells := make([][]table.Cell, len(g.Models))
	for i := range cells {
		cells[i] = make([]table.Cell, len(g.Models))
		cells[i][i] = table.Cell{Text: table.NotMeasured}
	}
	for _, p := range g.Pairs {
		pm := p.Metrics[m]
		i, j := at[p.A], at[p.B]
		diff := meanDiff(pm)
		note := cellNote(p, pm)
		cells[i][j] = table.Cell{Text: decisionText(pm.Decision, diff), Note: note}
		cells[j][i] = table.Cell{Text: decisionText(Flip(pm.Decision), -diff), Note: note}
	}
	var rows []table.Row
	for i, model := range g.Models {
		rows = append(rows, table.Row{Label: model, Model: model, Kind: table.KindMeasured, Cells: cells[i]})
	}
	t.RowGroups = []table.RowGroup{{Rows: rows}}
	t.Legend = []string{
		fmt.Sprintf("Each cell: the row's %s minus the column's (mean over the paired splits) and whether the row is better, not distinguishable (n.s.) or worse at alpha = %s, by the paired t-test over the splits unless a note names another test.", name, alphaText(rep.Alpha)),
	}
	t.Legend = append(t.Legend, g.Notes...)
	return t
}

// meanDiff is the difference a cell shows: the mean over splits (the one split's when only one).
func meanDiff(pm PairMetric) float64 {
	return float64(pm.OverSplits.Mean)
}

func decisionText(d string, diff float64) string {
	if math.IsNaN(diff) {
		return d
	}
	if diff == 0 {
		diff = 0 // no "-0.0000"
	}
	return fmt.Sprintf("%s %+.4f", d, diff)
}

// cellNote says what a cell rests on when it is not the plain t-test over the same images.
func cellNote(p Pair, pm PairMetric) string {
	var parts []string
	if p.OnlyA+p.OnlyB > 0 {
		parts = append(parts, fmt.Sprintf("compared on the %d images both scored (%d scored by %s only, %d by %s only)", p.Common, p.OnlyA, p.A, p.OnlyB, p.B))
	}
	if p.Note != "" {
		parts = append(parts, p.Note)
	}
	if p.Reason != "" {
		parts = append(parts, p.Reason)
	}
	if !strings.HasPrefix(pm.DecidedBy, "paired t-test") && pm.DecidedBy != "none" {
		parts = append(parts, "decided by the "+pm.DecidedBy)
	}
	if pm.Reason != "" && p.Reason == "" {
		parts = append(parts, pm.Reason)
	}
	return strings.Join(parts, "; ")
}

// pairsTable lists every pair's figures, one row group per metric.
func pairsTable(rep *Report, g *Group) *table.Table {
	lvl := alphaText(100 * (1 - rep.Alpha))
	t := &table.Table{
		ID:    groupID(g) + "-pairs",
		Title: fmt.Sprintf("Differences between rows, %s %s (A - B)", table.DatasetName(g.Dataset), g.Target),
		Columns: []table.Column{
			{Key: "images", Label: "images"}, {Key: "splits", Label: "splits"},
			{Key: "mean", Label: "mean diff"}, {Key: "lo", Label: lvl + "% lo"}, {Key: "hi", Label: lvl + "% hi"},
			{Key: "t_p", Label: "t-test p"}, {Key: "sign_p", Label: "sign p"},
			{Key: "boot", Label: "bootstrap sig."}, {Key: "williams", Label: "Williams sig."},
			{Key: "decision", Label: "A vs B"},
		},
	}
	for m := range Metrics {
		rg := table.RowGroup{Name: metricLabel[Metrics[m]]}
		for _, p := range g.Pairs {
			pm := p.Metrics[m]
			o := pm.OverSplits
			row := table.Row{Label: p.A + " vs " + p.B, Model: p.A + "|" + p.B, Kind: table.KindMeasured}
			row.Cells = []table.Cell{
				count(p.Common), count(len(p.Splits)),
				num(o.Mean), num(o.Lo), num(o.Hi), num(o.P), num(o.SignP),
				{Text: sigCount(pm, rep.Alpha, func(s SplitTest) (Num, bool) { return s.BootP, s.BootN > 0 })},
				{Text: sigCount(pm, rep.Alpha, func(s SplitTest) (Num, bool) { return s.WilliamsP, s.WilliamsReason == "" })},
				{Text: pm.Decision, Note: cellNote(p, pm)},
			}
			rg.Rows = append(rg.Rows, row)
		}
		t.RowGroups = append(t.RowGroups, rg)
	}
	boot := "no bootstrap"
	if rep.Bootstrap > 0 {
		boot = fmt.Sprintf("paired bootstrap, %d replicates per split, seed %d", rep.Bootstrap, rep.Seed)
	}
	t.Legend = []string{
		fmt.Sprintf("mean diff, %s%% lo/hi: mean of the per-split differences and its t interval; t-test p: paired t-test over the splits; sign p: exact two-sided sign test over them.", lvl),
		fmt.Sprintf("bootstrap sig., Williams sig.: splits where the %s (two-sided p < %s), or Williams' test for dependent correlations sharing the MOS (SRCC as the Pearson correlation of ranks; none for KRCC), separates the rows, of the splits it ran on.", boot, alphaText(rep.Alpha)),
	}
	t.Legend = append(t.Legend, g.Notes...)
	return t
}

func num(v Num) table.Cell {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return table.Cell{Text: "NaN"}
	}
	return table.Cell{Value: &f}
}

func count(n int) table.Cell {
	f, d := float64(n), 0
	return table.Cell{Value: &f, Decimals: &d}
}

// sigCount is "k/n": of the n splits where the test ran, k had p < alpha; "–" when it ran on none.
func sigCount(pm PairMetric, alpha float64, p func(SplitTest) (Num, bool)) string {
	k, n := 0, 0
	for _, s := range pm.PerSplit {
		v, ran := p(s)
		if !ran || math.IsNaN(float64(v)) {
			continue
		}
		n++
		if float64(v) < alpha {
			k++
		}
	}
	if n == 0 {
		return table.NotMeasured
	}
	return fmt.Sprintf("%d/%d", k, n)
}
