package table

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"math"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func st(mean float64, n int) Stat {
	return Stat{Mean: mean, Median: mean, Std: 0.01, Lo: mean - 0.02, Hi: mean + 0.02, N: n}
}

func meas(model, ds, target string, srcc, plcc, krcc float64, n int) Measurement {
	return Measurement{Model: model, Dataset: ds, Target: target, SRCC: st(srcc, n), PLCC: st(plcc, n), KRCC: st(krcc, n)}
}

// fixture covers: full measured rows, a partial split count, a failure note, a NaN metric, a dataset
// the paper lacks, a model the catalogue lacks, Table 2 and Table 3 rows.
func fixture() []Measurement {
	ms := []Measurement{
		meas("ipiqa", "agiqa-1k", TargetQuality, 0.8123, 0.8700, 0.6400, 10),
		meas("ipiqa", "agiqa-3k", TargetQuality, 0.8500, 0.9000, 0.6700, 10),
		meas("ipiqa", "agiqa-3k", TargetAlignment, 0.7400, 0.8300, 0.5600, 10),
		meas("clipiqa", "agiqa-1k", TargetQuality, 0.8300, 0.8500, 0.6450, 10),
		meas("clipiqa", "agiqa-3k", TargetQuality, 0.8400, 0.8100, 0.6500, 3),
		meas("resnet50", "agiqa-1k", TargetQuality, 0.7000, 0.7400, 0.5100, 10),
		meas("sharpness", "sample", TargetQuality, 0.4100, 0.3900, 0.2900, 1),
		meas("mymodel", "agiqa-3k", TargetQuality, 0.6000, 0.6100, 0.4300, 10),
		meas("clipscore", "agiqa-3k", TargetAlignment, 0.6000, 0.6900, 0.4600, 10),
		meas("ipiqa_base", "agiqa-3k", TargetQuality, 0.8300, 0.8900, 0.6500, 10),
	}
	ms[5].PLCC.Reason = "failed: 2 images"
	ms = append(ms, Measurement{Model: "niqe", Dataset: "agiqa-1k", Target: TargetQuality,
		SRCC: Stat{Mean: math.NaN(), Median: math.NaN(), Std: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Reason: "constant predictions"},
		PLCC: st(-0.5, 10), KRCC: st(-0.36, 10)})
	return ms
}

func builders() map[string]*Table {
	ms, opt := fixture(), Options{Paper: true}
	return map[string]*Table{"table1": Table1(ms, opt), "table2": Table2(ms, opt), "table3": Table3(ms, opt)}
}

// checkGolden compares got with testdata/<name>.golden, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testenv.Golden(t, name, got, *update)
}

func TestGolden(t *testing.T) {
	for id, tab := range builders() {
		for _, format := range Formats {
			t.Run(id+"."+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, tab, format); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, id+"."+format, buf.Bytes())
			})
		}
	}
	// Without paper rows: measured rows and quoted rows only.
	var buf bytes.Buffer
	if err := Render(&buf, Table1(fixture(), Options{}), "text"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "table1_nopaper.text", buf.Bytes())
}

// find returns the row of a model and kind, failing the test when absent.
func find(t *testing.T, tab *Table, model string, kind Kind) (RowGroup, Row) {
	t.Helper()
	for _, g := range tab.RowGroups {
		for _, r := range g.Rows {
			if r.Model == model && r.Kind == kind {
				return g, r
			}
		}
	}
	t.Fatalf("%s has no %s row for %q", tab.ID, kind, model)
	return RowGroup{}, Row{}
}

func col(t *testing.T, tab *Table, key string) int {
	t.Helper()
	for i, c := range tab.Columns {
		if c.Key == key {
			return i
		}
	}
	t.Fatalf("%s has no column %q", tab.ID, key)
	return -1
}

func approx(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-12 }

func TestTable1Semantics(t *testing.T) {
	tab := Table1(fixture(), Options{Paper: true})
	if err := Validate(tab); err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, g := range tab.ColumnGroups {
		groups = append(groups, g.Name)
	}
	if strings.Join(groups, ",") != "AGIQA-1k,AGIQA-3k,sample" {
		t.Errorf("column groups = %q, want the paper's two plus the measured sample dataset", groups)
	}

	srcc1k, plcc1k, krcc3k := col(t, tab, "agiqa-1k/srcc"), col(t, tab, "agiqa-1k/plcc"), col(t, tab, "agiqa-3k/krcc")

	_, m := find(t, tab, "ipiqa", KindMeasured)
	_, p := find(t, tab, "ipiqa", KindPaper)
	_, d := find(t, tab, "ipiqa", KindDiff)
	if !approx(m.Cells[srcc1k].Value, 0.8123) || !approx(p.Cells[srcc1k].Value, 0.8401) || !approx(d.Cells[srcc1k].Value, -0.0278) {
		t.Errorf("ipiqa 1k SRCC measured/paper/diff = %v/%v/%v", m.Cells[srcc1k].Value, p.Cells[srcc1k].Value, d.Cells[srcc1k].Value)
	}
	if !approx(p.Cells[krcc3k].Value, 0.6844) {
		t.Errorf("IP-IQA paper 3k KRCC = %v, want 0.6844", p.Cells[krcc3k].Value)
	}

	// Quoted rows carry the paper's numbers, and the lost 3k KRCC stays unknown.
	g, q := find(t, tab, "ceiq", KindQuoted)
	if g.Name != "Handcrafted-based" || !strings.Contains(q.Label, "(paper)") || !approx(q.Cells[srcc1k].Value, 0.3069) {
		t.Errorf("CEIQ quoted row = %+v in group %q", q, g.Name)
	}
	for _, gr := range tab.RowGroups {
		for _, r := range gr.Rows {
			if r.Model != "ipiqa" && r.Kind != KindMeasured && r.Cells[krcc3k].Value != nil {
				t.Errorf("%s %s row has a 3k KRCC %v; the poster lost it", r.Model, r.Kind, *r.Cells[krcc3k].Value)
			}
		}
	}

	// Best: CLIP-IQA's measured 0.8411 < paper IP-IQA 0.8922 in 1k PLCC; 1k SRCC best is paper IP-IQA 0.8401.
	if !p.Cells[srcc1k].Best || m.Cells[srcc1k].Best || d.Cells[srcc1k].Best {
		t.Errorf("1k SRCC best marks: paper %v measured %v diff %v", p.Cells[srcc1k].Best, m.Cells[srcc1k].Best, d.Cells[srcc1k].Best)
	}
	bestCount := 0
	for _, gr := range tab.RowGroups {
		for _, r := range gr.Rows {
			if r.Cells[plcc1k].Best {
				bestCount++
			}
		}
	}
	if bestCount != 1 {
		t.Errorf("%d best cells in 1k PLCC, want 1", bestCount)
	}

	// Notes: partial splits, failures, NaN.
	_, c := find(t, tab, "clipiqa", KindMeasured)
	if n := c.Cells[col(t, tab, "agiqa-3k/srcc")].Note; n != "n=3 splits" {
		t.Errorf("clipiqa 3k note = %q", n)
	}
	_, r := find(t, tab, "resnet50", KindMeasured)
	if n := r.Cells[plcc1k].Note; n != "failed: 2 images" {
		t.Errorf("resnet50 note = %q", n)
	}
	_, n := find(t, tab, "niqe", KindMeasured)
	if cell := n.Cells[srcc1k]; cell.Value != nil || cell.Text != "NaN" || cell.Note != "NaN: constant predictions" {
		t.Errorf("niqe NaN cell = %+v", cell)
	}

	// Our non-paper baseline renders in its group, without paper/diff rows; the unknown model in Other.
	g, s := find(t, tab, "sharpness", KindMeasured)
	if g.Name != "Handcrafted-based" || !approx(s.Cells[col(t, tab, "sample/srcc")].Value, 0.41) {
		t.Errorf("sharpness row = %+v in %q", s, g.Name)
	}
	for _, gr := range tab.RowGroups {
		for _, r := range gr.Rows {
			if r.Model == "sharpness" && r.Kind != KindMeasured {
				t.Errorf("sharpness has a %s row although it is not in the paper", r.Kind)
			}
			if r.Model == "ipiqa_base" {
				t.Errorf("ablation variant leaked into Table 1")
			}
		}
	}
	g, _ = find(t, tab, "mymodel", KindMeasured)
	if g.Name != GroupOther {
		t.Errorf("mymodel in group %q", g.Name)
	}
}

func TestTable1WithoutMeasurementsQuotesThePaper(t *testing.T) {
	tab := Table1(nil, Options{Paper: true})
	rows := 0
	for _, g := range tab.RowGroups {
		for _, r := range g.Rows {
			rows++
			if r.Kind != KindQuoted {
				t.Errorf("%s is %s with nothing measured", r.Label, r.Kind)
			}
		}
	}
	if rows != 13 || len(tab.Columns) != 6 {
		t.Errorf("%d rows, %d columns; want 13 quoted rows over 6 columns", rows, len(tab.Columns))
	}
}

func TestTables2And3(t *testing.T) {
	t2 := Table2(fixture(), Options{Paper: true})
	if len(t2.Columns) != 3 {
		t.Errorf("table 2 has %d columns, want 3", len(t2.Columns))
	}
	_, d := find(t, t2, "clipscore", KindDiff)
	if !approx(d.Cells[0].Value, 0.6-0.5972) {
		t.Errorf("clipscore diff = %v", d.Cells[0].Value)
	}
	find(t, t2, "stairreward", KindQuoted)

	t3 := Table3(fixture(), Options{Paper: true})
	if len(t3.Columns) != 9 {
		t.Errorf("table 3 has %d columns, want 3 switches + 6", len(t3.Columns))
	}
	_, m := find(t, t3, "ipiqa_base", KindMeasured)
	if m.Cells[0].Text != "\u2717" || m.Cells[1].Text != "\u2717" || m.Cells[2].Text != "\u2717" {
		t.Errorf("ipiqa_base switches = %+v", m.Cells[:3])
	}
	if m.Cells[3].Value != nil || m.Cells[3].Text != NotMeasured {
		t.Errorf("ipiqa_base 1k SRCC was not measured, got %+v", m.Cells[3])
	}
	_, full := find(t, t3, "ipiqa", KindMeasured)
	if full.Cells[2].Text != "\u2713" {
		t.Errorf("ipiqa QA token switch = %q", full.Cells[2].Text)
	}
	for _, g := range t3.RowGroups {
		for _, r := range g.Rows {
			if r.Model == "clipiqa" || r.Model == "mymodel" {
				t.Errorf("%s leaked into Table 3", r.Model)
			}
		}
	}
}

func TestExtraDatasetsAndDuplicates(t *testing.T) {
	ms := []Measurement{
		meas("ipiqa", "zeta", TargetQuality, 0.5, 0.5, 0.4, 10),
		meas("ipiqa", "zeta", TargetQuality, 0.9, 0.9, 0.9, 10),
	}
	tab := Table1(ms, Options{Extra: []string{"custom"}})
	var groups []string
	for _, g := range tab.ColumnGroups {
		groups = append(groups, g.Name)
	}
	if strings.Join(groups, ",") != "AGIQA-1k,AGIQA-3k,custom,zeta" {
		t.Errorf("column groups = %q", groups)
	}
	_, r := find(t, tab, "ipiqa", KindMeasured)
	c := r.Cells[col(t, tab, "zeta/srcc")]
	if !approx(c.Value, 0.5) || !strings.Contains(c.Note, "duplicate") {
		t.Errorf("duplicate measurement cell = %+v", c)
	}
	if err := Check(ms); err == nil || !strings.Contains(err.Error(), "duplicates") {
		t.Errorf("Check = %v, want a duplicate error", err)
	}
	if err := Check([]Measurement{{Model: "x", Dataset: "d", Target: "beauty"}}); err == nil || !strings.Contains(err.Error(), `"beauty"`) {
		t.Errorf("Check = %v, want an unknown-target error", err)
	}
	if err := Check(fixture()); err != nil {
		t.Errorf("Check(fixture) = %v", err)
	}
}

func TestRenderErrors(t *testing.T) {
	tab := Table2(nil, Options{})
	if err := Render(&bytes.Buffer{}, tab, "html"); err == nil || !strings.Contains(err.Error(), `"html"`) {
		t.Errorf("unknown format error = %v", err)
	}
	tab.RowGroups[0].Rows[0].Cells = tab.RowGroups[0].Rows[0].Cells[:2]
	if err := Render(&bytes.Buffer{}, tab, "text"); err == nil || !strings.Contains(err.Error(), "CLIPScore") {
		t.Errorf("short row error = %v", err)
	}
}

// The machine-readable formats round-trip: JSON nulls for unknowns, CSV one record per row.
func TestJSONAndCSVParse(t *testing.T) {
	tab := Table1(fixture(), Options{Paper: true})
	var buf bytes.Buffer
	if err := RenderJSON(&buf, tab); err != nil {
		t.Fatal(err)
	}
	var back Table
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	_, q := find(t, &back, "ceiq", KindQuoted)
	if q.Cells[col(t, &back, "agiqa-3k/krcc")].Value != nil || !approx(q.Cells[0].Value, 0.3069) {
		t.Errorf("JSON round trip of CEIQ = %+v", q.Cells)
	}
	if !strings.Contains(buf.String(), `"value": null`) {
		t.Error("JSON has no null value for unknown cells")
	}

	buf.Reset()
	if err := RenderCSV(&buf, tab); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, g := range tab.RowGroups {
		rows += len(g.Rows)
	}
	if len(recs) != rows+1 || len(recs[0]) != 5+len(tab.Columns)+1 {
		t.Errorf("CSV has %d records of %d fields, want %d of %d", len(recs), len(recs[0]), rows+1, 5+len(tab.Columns)+1)
	}
}

func TestCellDecimals(t *testing.T) {
	v, zero, two := 782.51713, 0, 2
	tb := &Table{ID: "timing", Title: "t", Columns: []Column{{Key: "a", Label: "A"}, {Key: "b", Label: "B"}, {Key: "c", Label: "C"}},
		RowGroups: []RowGroup{{Rows: []Row{{Label: "m", Kind: KindMeasured, Cells: []Cell{{Value: &v, Decimals: &zero}, {Value: &v, Decimals: &two}, {Value: &v}}}}}}}
	var b strings.Builder
	if err := Render(&b, tb, "markdown"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| m | 783 | 782.52 | 782.5171 |") {
		t.Errorf("decimals not honoured:\n%s", b.String())
	}
}

// A measured mean a hair under the paper's gives a diff that rounds to -0; diff rows prefix
// non-negative values with "+", and -0 >= 0, so the cell printed "+-0.0000".
func TestDiffOfEqualValuesHasOneSign(t *testing.T) {
	ms := []Measurement{meas("ipiqa", "agiqa-1k", TargetQuality, 0.8401-1e-13, 0.8922+1e-13, 0.6635, 10)}
	tab := Table1(ms, Options{Paper: true})
	for _, format := range Formats {
		var buf bytes.Buffer
		if err := Render(&buf, tab, format); err != nil {
			t.Fatal(err)
		}
		if s := buf.String(); strings.Contains(s, "+-0") || strings.Contains(s, "+$-$") {
			t.Errorf("%s output has a doubly signed zero diff:\n%s", format, s)
		}
	}
	_, d := find(t, tab, "ipiqa", KindDiff)
	if v := d.Cells[col(t, tab, "agiqa-1k/srcc")].Value; v == nil || *v != 0 || math.Signbit(*v) {
		t.Errorf("diff of 0.8401-1e-13 and 0.8401 = %+v, want +0", d.Cells[col(t, tab, "agiqa-1k/srcc")])
	}
}

// Best marks follow the numbers as shown: two cells that both print 0.8401 are both best, not
// only the one that is larger in the fifth decimal.
func TestBestMarksTiesAtShownPrecision(t *testing.T) {
	ms := []Measurement{meas("ipiqa", "agiqa-1k", TargetQuality, 0.84012, 0.8922, 0.6635, 10)}
	tab := Table1(ms, Options{Paper: true})
	c := col(t, tab, "agiqa-1k/srcc")
	_, m := find(t, tab, "ipiqa", KindMeasured)
	_, p := find(t, tab, "ipiqa", KindPaper)
	if !m.Cells[c].Best || !p.Cells[c].Best {
		t.Errorf("measured 0.84012 and paper 0.8401 both show 0.8401; best marks measured %v, paper %v",
			m.Cells[c].Best, p.Cells[c].Best)
	}
}

// The legend says "n/a is unknown; – is not measured", so LaTeX must keep the two apart too (it
// printed "--" for both).
func TestLaTeXKeepsUnknownApartFromNotMeasured(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, Table1(fixture(), Options{Paper: true}), "latex"); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		// CEIQ's paper row: AGIQA-3k KRCC unknown (lost by the poster), the sample dataset unknown.
		if strings.HasPrefix(line, "CEIQ (paper) &") {
			if !strings.HasSuffix(line, "& n/a & n/a & n/a & n/a \\\\") || strings.Contains(line, "--") {
				t.Errorf("CEIQ's unknown cells are not n/a: %q", line)
			}
			return
		}
	}
	t.Errorf("no CEIQ (paper) row in:\n%s", buf.String())
}

// Model names are user text: characters LaTeX's default OT1 text font prints as other glyphs
// (< as ¡, > as ¿, | as an em dash) are escaped, and so are Markdown's inline-HTML '<' and a carriage
// return, which ends a Markdown table row.
func TestNamesEscaped(t *testing.T) {
	name := "a<b>|c_d\re"
	tab := Table1([]Measurement{meas(name, "agiqa-3k", TargetQuality, 0.5, 0.5, 0.4, 10)}, Options{})
	var tex, md bytes.Buffer
	if err := Render(&tex, tab, "latex"); err != nil {
		t.Fatal(err)
	}
	if err := Render(&md, tab, "markdown"); err != nil {
		t.Fatal(err)
	}
	if want := `a\textless{}b\textgreater{}\textbar{}c\_d e &`; !strings.Contains(tex.String(), want) {
		t.Errorf("LaTeX lacks %q:\n%s", want, tex.String())
	}
	if want := `| a\<b>\|c\_d e |`; !strings.Contains(md.String(), want) {
		t.Errorf("Markdown lacks %q:\n%s", want, md.String())
	}
}

// The "n=K splits" note compares each cell with its own dataset's split
// count: AGIQA-1k run over 10 splits and AGIQA-3k over 3 need no note, a
// 3k cell with 2 finite splits does.
func TestSplitNotePerDataset(t *testing.T) {
	ms := []Measurement{
		meas("ipiqa", "agiqa-1k", TargetQuality, 0.81, 0.87, 0.64, 10),
		meas("ipiqa", "agiqa-3k", TargetQuality, 0.85, 0.90, 0.67, 3),
		meas("clipiqa", "agiqa-3k", TargetQuality, 0.84, 0.81, 0.65, 2),
	}
	tab := Table1(ms, Options{Splits: map[string]int{"agiqa-1k": 10, "agiqa-3k": 3}})
	note := func(model, key string) string {
		_, r := find(t, tab, model, KindMeasured)
		return r.Cells[col(t, tab, key)].Note
	}
	for _, key := range []string{"agiqa-1k/srcc", "agiqa-3k/srcc"} {
		if n := note("ipiqa", key); n != "" {
			t.Errorf("ipiqa %s: note %q, want none (averaged over all its dataset's splits)", key, n)
		}
	}
	if n := note("clipiqa", "agiqa-3k/krcc"); n != "n=2 splits" {
		t.Errorf("clipiqa agiqa-3k/krcc: note %q, want n=2 splits", n)
	}
	// A dataset not listed keeps the paper's 10.
	tab = Table1(ms[:1], Options{Splits: map[string]int{"agiqa-3k": 3}})
	if _, r := find(t, tab, "ipiqa", KindMeasured); r.Cells[col(t, tab, "agiqa-1k/srcc")].Note != "" {
		t.Errorf("agiqa-1k over 10 splits with no count given: note %q", r.Cells[col(t, tab, "agiqa-1k/srcc")].Note)
	}
}

// A paper row whose model could not run says why, in its own row, above the quoted paper numbers; a
// row the paper lacks (BRISQUE) appears only with its reason.
func TestUnservedRowSaysWhy(t *testing.T) {
	why := "niqe-params is not installed (run agiqa fetch niqe-params)"
	tb := Table1(nil, Options{Unserved: map[string]string{"niqe": why, "brisque": "brisque-model missing"}})
	var niqe, brisque []Row
	for _, g := range tb.RowGroups {
		for _, r := range g.Rows {
			switch r.Model {
			case "niqe":
				niqe = append(niqe, r)
			case "brisque":
				brisque = append(brisque, r)
			}
		}
	}
	if len(niqe) != 2 || niqe[0].Kind != KindMeasured || niqe[1].Kind != KindQuoted {
		t.Fatalf("niqe rows %+v, want a not-measured row then the quoted paper row", niqe)
	}
	for _, c := range niqe[0].Cells {
		if c.Value != nil || c.Text != NotMeasured || c.Note != "not measured: "+why {
			t.Errorf("niqe cell %+v", c)
		}
	}
	if niqe[1].Cells[0].Value == nil || *niqe[1].Cells[0].Value != -0.5490 {
		t.Errorf("the quoted NIQE row lost the paper's AGIQA-1k SRCC: %+v", niqe[1].Cells[0])
	}
	if len(brisque) != 1 || brisque[0].Cells[0].Note != "not measured: brisque-model missing" {
		t.Errorf("brisque rows %+v", brisque)
	}
	var buf bytes.Buffer
	if err := Render(&buf, tb, "text"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), why) {
		t.Errorf("the text table does not show the reason:\n%s", buf.String())
	}
}

// A zero-shot row scored by one correlation over all images says so instead of "n=1 split".
func TestAllImagesNote(t *testing.T) {
	m := meas("clipscore", "agiqa-3k", TargetAlignment, 0.60, 0.68, 0.46, 1)
	m.SRCC.AllImages, m.PLCC.AllImages, m.KRCC.AllImages = true, true, true
	tab := Table2([]Measurement{m, meas("ipiqa", "agiqa-3k", TargetAlignment, 0.80, 0.85, 0.61, 10)}, Options{})
	_, r := find(t, tab, "clipscore", KindMeasured)
	if n := r.Cells[col(t, tab, "agiqa-3k/srcc")].Note; n != AllImagesNote {
		t.Errorf("clipscore note %q, want %q", n, AllImagesNote)
	}
	if _, r := find(t, tab, "ipiqa", KindMeasured); r.Cells[col(t, tab, "agiqa-3k/srcc")].Note != "" {
		t.Errorf("ipiqa (per split, 10 splits) note %q, want none", r.Cells[col(t, tab, "agiqa-3k/srcc")].Note)
	}
}
