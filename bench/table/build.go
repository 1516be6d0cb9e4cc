package table

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/baselines"
)

// Options control what the builders include.
type Options struct {
	// Paper adds, under each measured row of a model in the paper, the paper's row and a diff row.
	Paper bool
	// Extra lists datasets to show as column groups after the paper's, in this order, even when nothing
	// was measured on them. Measured datasets not listed are appended in name order either way.
	Extra []string
	// Splits maps a dataset to the number of splits a full run on it averages over (a dataset not
	// listed, or 0, means 10, the paper protocol); a cell of that dataset averaged over another number
	// gets an "n=K splits" note. Per dataset: two datasets may be run with different splits files.
	Splits map[string]int
	// Unserved maps a catalogue key to why the model serving its row could not run (not ready: its
	// published parameters are not installed, say). Such a row is shown with that reason instead of
	// silently falling back to the paper's numbers.
	Unserved map[string]string
}

func (o Options) splits(ds string) int {
	if n := o.Splits[ds]; n > 0 {
		return n
	}
	return 10
}

// NotMeasured is the Text of a measured row's cell for a dataset that model was not run on.
const NotMeasured = "\u2013"

// GroupOther holds measured models that are not in the table's part of the catalogue.
const GroupOther = "Other (not in the paper)"

var metrics = []struct{ key, label string }{{"srcc", "SRCC"}, {"plcc", "PLCC"}, {"krcc", "KRCC"}}

// DatasetName is how a dataset is titled in column groups.
func DatasetName(ds string) string {
	switch ds {
	case baselines.AGIQA1k:
		return "AGIQA-1k"
	case baselines.AGIQA3k:
		return "AGIQA-3k"
	}
	return ds
}

// spec describes one of the three tables.
type spec struct {
	id, title string
	table     int
	target    string
	base      []string // the paper's datasets
	switches  bool     // Table 3's switch columns
	other     bool     // show measured models outside this table's catalogue
	legend    []string
}

// Table1 builds the perceptual-quality table: the paper's AGIQA-1k and AGIQA-3k column groups plus one
// per other measured dataset; rows in the paper's groups, then measured models the paper lacks.
func Table1(ms []Measurement, opt Options) *Table {
	return build(spec{
		id: "table1", title: "Table 1. The performance results of perceptual models.",
		table: 1, target: TargetQuality, base: []string{baselines.AGIQA1k, baselines.AGIQA3k}, other: true,
		legend: []string{"The poster lost Table 1's AGIQA-3k KRCC column; only IP-IQA's (0.6844, Table 3) is known."},
	}, ms, opt)
}

// Table2 builds the alignment table (AGIQA-3k alignment MOS, plus other measured datasets).
func Table2(ms []Measurement, opt Options) *Table {
	return build(spec{
		id: "table2", title: "Table 2. The performance results of alignment models.",
		table: 2, target: TargetAlignment, base: []string{baselines.AGIQA3k}, other: true,
	}, ms, opt)
}

// Table3 builds the ablation table: the three switches, then quality correlations on both datasets.
// Only IP-IQA variants appear.
func Table3(ms []Measurement, opt Options) *Table {
	return build(spec{
		id: "table3", title: "Table 3. The ablation results on perceptual quality.",
		table: 3, target: TargetQuality, base: []string{baselines.AGIQA1k, baselines.AGIQA3k}, switches: true,
		legend: []string{"\u2713 the component is used, \u2717 it is not; QA token = trained token embeddings."},
	}, ms, opt)
}

// key identifies a measurement slot.
type key struct{ model, dataset string }

func build(s spec, ms []Measurement, opt Options) *Table {
	entries := baselines.ForTable(s.table)
	inTable := map[string]bool{}
	for _, e := range entries {
		inTable[e.Key] = true
	}
	// Ablation variants belong to Table 3 only, even though they are measured on quality.
	elsewhere := map[string]bool{}
	if s.table != 3 {
		for _, e := range baselines.ForTable(3) {
			if !inTable[e.Key] {
				elsewhere[e.Key] = true
			}
		}
	}

	got := map[key]Measurement{}
	dups := map[key]int{}
	var otherModels []string
	measuredDS := map[string]bool{}
	for _, m := range ms {
		if m.Target != s.target || (!inTable[m.Model] && (!s.other || elsewhere[m.Model])) {
			continue
		}
		k := key{m.Model, m.Dataset}
		if _, ok := got[k]; ok {
			dups[k]++ // keep the first; the cell says so
			continue
		}
		got[k] = m
		measuredDS[m.Dataset] = true
		if !inTable[m.Model] && !contains(otherModels, m.Model) {
			otherModels = append(otherModels, m.Model)
		}
	}

	datasets := append([]string(nil), s.base...)
	for _, ds := range opt.Extra {
		if !contains(datasets, ds) {
			datasets = append(datasets, ds)
		}
	}
	var rest []string
	for ds := range measuredDS {
		if !contains(datasets, ds) {
			rest = append(rest, ds)
		}
	}
	sort.Strings(rest)
	datasets = append(datasets, rest...)

	t := &Table{ID: s.id, Title: s.title}
	if s.switches {
		t.ColumnGroups = append(t.ColumnGroups, ColumnGroup{Name: "", Span: 3})
		t.Columns = append(t.Columns,
			Column{Key: "switch/image2prompt", Label: "Image2prompt"},
			Column{Key: "switch/integral_prompt", Label: "Integral prompt"},
			Column{Key: "switch/qa_token", Label: "QA token"})
	}
	for _, ds := range datasets {
		t.ColumnGroups = append(t.ColumnGroups, ColumnGroup{Name: DatasetName(ds), Span: len(metrics)})
		for _, mt := range metrics {
			t.Columns = append(t.Columns, Column{Key: ds + "/" + mt.key, Label: mt.label})
		}
	}

	b := builder{s: s, opt: opt, datasets: datasets, got: got, dups: dups}
	var quoted, measuredPaper bool
	for _, e := range entries {
		rows := b.entryRows(e)
		if len(rows) == 0 {
			continue
		}
		if rows[0].Kind == KindQuoted {
			quoted = true
		} else if len(rows) > 1 {
			measuredPaper = true
		}
		name := e.Group
		if s.switches {
			name = "" // Table 3's switches are columns, not headings
		}
		if n := len(t.RowGroups); n > 0 && t.RowGroups[n-1].Name == name {
			t.RowGroups[n-1].Rows = append(t.RowGroups[n-1].Rows, rows...)
		} else {
			t.RowGroups = append(t.RowGroups, RowGroup{Name: name, Rows: rows})
		}
	}
	if len(otherModels) > 0 {
		g := RowGroup{Name: GroupOther}
		for _, m := range otherModels {
			label := m
			if es := baselines.Find(m); len(es) > 0 {
				label = es[0].Label
			}
			g.Rows = append(g.Rows, b.measuredRow(label, m, nil))
		}
		t.RowGroups = append(t.RowGroups, g)
	}

	markBest(t)
	t.Legend = append(t.Legend, "Best value per column is marked (text: trailing *; Markdown, LaTeX: bold); rows labelled (paper) quote the paper; n/a is unknown; \u2013 is not measured.")
	if quoted {
		t.Legend = append(t.Legend, "Rows of models that were not run show the paper's numbers only (kind quoted).")
	}
	if measuredPaper {
		t.Legend = append(t.Legend, "(diff) rows are measured minus paper.")
	}
	t.Legend = append(t.Legend, s.legend...)
	return t
}

type builder struct {
	s        spec
	opt      Options
	datasets []string
	got      map[key]Measurement
	dups     map[key]int
}

// entryRows returns the rows of one catalogue entry: measured (+ paper + diff), quoted, or none.
func (b builder) entryRows(e baselines.Entry) []Row {
	measured := false
	for _, ds := range b.datasets {
		if _, ok := b.got[key{e.Key, ds}]; ok {
			measured = true
		}
	}
	if !measured {
		var rows []Row
		if why := b.opt.Unserved[e.Key]; why != "" {
			rows = append(rows, b.unservedRow(e, why))
		}
		if !e.InPaper {
			return rows
		}
		r := b.paperRow(e)
		r.Kind = KindQuoted
		return append(rows, r)
	}
	m := b.measuredRow(e.Label, e.Key, e.Switches)
	if !b.opt.Paper || !e.InPaper {
		return []Row{m}
	}
	p := b.paperRow(e)
	d := Row{Label: e.Label + " (diff)", Model: e.Key, Kind: KindDiff, Cells: make([]Cell, len(m.Cells))}
	for i := range m.Cells {
		d.Cells[i].Text = m.Cells[i].Text // switch marks; numeric cells are replaced below
		mv, pv := m.Cells[i].Value, p.Cells[i].Value
		if mv != nil && pv != nil {
			// Rounded to 1e-10 so that 0.8123-0.8401 prints as -0.0278, not -0.027800000000000047.
			v := math.Round((*mv-*pv)*1e10) / 1e10
			if v == 0 {
				v = 0 // not -0, which the "+" of non-negative diffs would print as "+-0.0000"
			}
			d.Cells[i] = Cell{Value: &v}
		} else if b.numeric(i) {
			d.Cells[i] = Cell{}
		}
	}
	return []Row{m, p, d}
}

// unservedRow is the measured row of an entry whose model could not run: every cell not measured,
// each carrying the reason (a footnote in text and Markdown, a note column in CSV).
func (b builder) unservedRow(e baselines.Entry, why string) Row {
	r := Row{Label: e.Label, Model: e.Key, Kind: KindMeasured, Cells: b.switchCells(e.Switches)}
	for range b.datasets {
		c := Cell{Text: NotMeasured, Note: "not measured: " + why}
		r.Cells = append(r.Cells, c, c, c)
	}
	return r
}

// numeric reports whether column i holds correlations (not a switch).
func (b builder) numeric(i int) bool { return !b.s.switches || i >= 3 }

func (b builder) switchCells(sw *baselines.Switches) []Cell {
	if !b.s.switches {
		return nil
	}
	var on baselines.Switches
	if sw != nil {
		on = *sw
	}
	mark := func(v bool) Cell {
		if v {
			return Cell{Text: "\u2713"}
		}
		return Cell{Text: "\u2717"}
	}
	return []Cell{mark(on.Image2Prompt), mark(on.IntegralPrompt), mark(on.QAToken)}
}

func (b builder) paperRow(e baselines.Entry) Row {
	r := Row{Label: e.Label + " (paper)", Model: e.Key, Kind: KindPaper, Cells: b.switchCells(e.Switches)}
	for _, ds := range b.datasets {
		s := e.Paper[ds]
		for _, p := range []*float64{s.SRCC, s.PLCC, s.KRCC} {
			r.Cells = append(r.Cells, Cell{Value: p})
		}
	}
	return r
}

func (b builder) measuredRow(label, model string, sw *baselines.Switches) Row {
	r := Row{Label: label, Model: model, Kind: KindMeasured, Cells: b.switchCells(sw)}
	for _, ds := range b.datasets {
		m, ok := b.got[key{model, ds}]
		if !ok {
			nm := Cell{Text: NotMeasured}
			r.Cells = append(r.Cells, nm, nm, nm)
			continue
		}
		for _, st := range []Stat{m.SRCC, m.PLCC, m.KRCC} {
			c := b.measuredCell(ds, st)
			if n := b.dups[key{model, ds}]; n > 0 {
				c.Note = joinNote(c.Note, fmt.Sprintf("%d duplicate measurement(s) ignored", n))
			}
			r.Cells = append(r.Cells, c)
		}
	}
	return r
}

func (b builder) measuredCell(ds string, st Stat) Cell {
	stat := st
	c := Cell{Stat: &stat}
	if st.N == 0 || math.IsNaN(st.Mean) || math.IsInf(st.Mean, 0) {
		reason := st.Reason
		if reason == "" {
			reason = "no split produced a value"
		}
		c.Text = "NaN"
		c.Note = "NaN: " + reason
		return c
	}
	v := st.Mean
	c.Value = &v
	c.Note = st.Reason
	if st.AllImages {
		return withNote(c, AllImagesNote)
	}
	if st.N != b.opt.splits(ds) {
		unit := "splits"
		if st.N == 1 {
			unit = "split"
		}
		c.Note = joinNote(c.Note, fmt.Sprintf("n=%d %s", st.N, unit))
	}
	return c
}

// AllImagesNote marks a cell computed by one correlation over all of a dataset's images.
const AllImagesNote = "all images, one correlation (zero-shot, as the AGIQA-3k authors scored it)"

func withNote(c Cell, note string) Cell {
	c.Note = joinNote(c.Note, note)
	return c
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// markBest marks the largest value of each column among measured, paper and quoted rows (diff rows
// never). A column needs two values or more: a lone number is not "best" of anything. Values are
// compared as shown (rounded to the cell's decimals), so cells that print the same number are marked
// alike.
func markBest(t *Table) {
	for c := range t.Columns {
		var cells []*Cell
		var shown []float64
		best := math.Inf(-1)
		for g := range t.RowGroups {
			for r := range t.RowGroups[g].Rows {
				row := &t.RowGroups[g].Rows[r]
				if row.Kind == KindDiff || c >= len(row.Cells) || row.Cells[c].Value == nil || math.IsNaN(*row.Cells[c].Value) {
					continue
				}
				cell := &row.Cells[c]
				v := shownValue(*cell)
				cells, shown = append(cells, cell), append(shown, v)
				best = math.Max(best, v)
			}
		}
		if len(cells) < 2 {
			continue
		}
		for i, cell := range cells {
			cell.Best = shown[i] == best
		}
	}
}

// shownValue is a cell's Value rounded as the renderers print it.
func shownValue(c Cell) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(*c.Value, 'f', decimals(c), 64), 64)
	if err != nil {
		return *c.Value
	}
	return v
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Check reports measurements the builders would ignore or collapse: an empty model or dataset, an
// unknown target, and duplicates of one (model, dataset, target).
func Check(ms []Measurement) error {
	var errs []string
	seen := map[[3]string]int{}
	for i, m := range ms {
		switch {
		case m.Model == "":
			errs = append(errs, fmt.Sprintf("measurement %d: empty model", i))
		case m.Dataset == "":
			errs = append(errs, fmt.Sprintf("measurement %d (%s): empty dataset", i, m.Model))
		case m.Target != TargetQuality && m.Target != TargetAlignment:
			errs = append(errs, fmt.Sprintf("measurement %d (%s on %s): target %q is neither %q nor %q",
				i, m.Model, m.Dataset, m.Target, TargetQuality, TargetAlignment))
		}
		k := [3]string{m.Model, m.Dataset, m.Target}
		if j, ok := seen[k]; ok {
			errs = append(errs, fmt.Sprintf("measurement %d duplicates %d (%s, %s, %s)", i, j, m.Model, m.Dataset, m.Target))
		} else {
			seen[k] = i
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("table: %s", strings.Join(errs, "; "))
	}
	return nil
}
