package baselines

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// seedText returns the poster text from ../shared/seed next to the repository root, or skips (fails under
// AGIQA_REQUIRE_SHARED=1).
func seedText(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testenv.Shared(t, "seed"), "*.txt"))
	if len(files) == 0 {
		testenv.SkipOrFail(t, testenv.RequireShared, "poster text ../shared/seed/*.txt not present")
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var tag = regexp.MustCompile(`</?b>`)

// section returns the lines from the one starting with start up to the next "Table " caption.
func section(t *testing.T, text, start string) []string {
	t.Helper()
	i := strings.Index(text, start)
	if i < 0 {
		t.Fatalf("poster text has no %q", start)
	}
	rest := text[i+len(start):]
	if j := strings.Index(rest, "\nTable "); j >= 0 {
		rest = rest[:j]
	}
	return strings.Split(rest, "\n")
}

// numbers parses the tab-separated numeric fields of a poster line (bold tags removed); ok is false
// when a non-empty field is not a number (a header line).
func numbers(fields []string) (out []float64, ok bool) {
	for _, fl := range fields {
		fl = strings.TrimSpace(tag.ReplaceAllString(fl, ""))
		if fl == "" {
			continue
		}
		v, err := strconv.ParseFloat(fl, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

func val(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

// checkScores compares entry e's paper numbers against want (AGIQA-1k then AGIQA-3k, or 3k only).
func checkScores(t *testing.T, e Entry, datasets []string, want []float64) {
	t.Helper()
	var got []*float64
	for _, ds := range datasets {
		s := e.Paper[ds]
		got = append(got, s.SRCC, s.PLCC, s.KRCC)
	}
	for i, w := range want {
		g, ok := val(got[i])
		if !ok || g != w {
			t.Errorf("table %d %s value %d: catalogue %v (known %v), poster %v", e.Table, e.Label, i, g, ok, w)
		}
	}
}

func TestCatalogMatchesPoster(t *testing.T) {
	text := seedText(t)

	t1rows := 0
	for _, line := range section(t, text, "Table 1.") {
		fields := strings.Split(line, "\t")
		for i, fl := range fields {
			e, ok := findLabel(1, strings.TrimSpace(fl))
			if !ok {
				continue
			}
			want, ok := numbers(fields[i+1:])
			if !ok || len(want) != 5 {
				t.Fatalf("Table 1 %s: poster has %d numbers, want 5 (3k KRCC lost)", e.Label, len(want))
			}
			checkScores(t, e, []string{AGIQA1k, AGIQA3k}, want)
			t1rows++
			break
		}
	}
	if t1rows != 13 {
		t.Errorf("matched %d Table 1 rows in the poster, want 13", t1rows)
	}

	t2rows := 0
	for _, line := range section(t, text, "Table 2.") {
		fields := strings.Split(line, "\t")
		if e, ok := findLabel(2, strings.TrimSpace(fields[0])); ok {
			want, ok := numbers(fields[1:])
			if !ok || len(want) != 3 {
				t.Fatalf("Table 2 %s: cannot read 3 numbers from %q", e.Label, line)
			}
			checkScores(t, e, []string{AGIQA3k}, want)
			t2rows++
		}
	}
	if t2rows != 5 {
		t.Errorf("matched %d Table 2 rows in the poster, want 5", t2rows)
	}

	// Table 3 rows are identified by their three switch cells.
	t3rows := 0
	for _, line := range section(t, text, "Table 3.") {
		fields := strings.Split(line, "\t")
		if len(fields) < 9 {
			continue
		}
		want, ok := numbers(fields[3:])
		if !ok || len(want) != 6 {
			continue
		}
		on := func(i int) bool { return strings.TrimSpace(fields[i]) == "✓" }
		sw := Switches{Image2Prompt: on(0), IntegralPrompt: on(1), QAToken: on(2)}
		var found bool
		for _, e := range ForTable(3) {
			if *e.Switches == sw {
				checkScores(t, e, []string{AGIQA1k, AGIQA3k}, want)
				found = true
			}
		}
		if !found {
			t.Errorf("poster Table 3 row %v has no catalogue entry", sw)
		}
		t3rows++
	}
	if t3rows != 5 {
		t.Errorf("matched %d Table 3 rows in the poster, want 5", t3rows)
	}
}

func findLabel(table int, label string) (Entry, bool) {
	for _, e := range ForTable(table) {
		if e.Label == label {
			return e, true
		}
	}
	return Entry{}, false
}

// A handful of numbers checked by hand, so the transcription is guarded even without the seed file.
func TestCatalogSpotValues(t *testing.T) {
	cases := []struct {
		table  int
		key    string
		ds     string
		metric string
		want   float64
	}{
		{1, "niqe", AGIQA1k, "srcc", -0.5490},
		{1, "clipiqa", AGIQA3k, "plcc", 0.8053},
		{1, "resnet50_clip", AGIQA1k, "krcc", 0.6064},
		{1, "ipiqa", AGIQA3k, "krcc", 0.6844},
		{2, "hpsv1", AGIQA3k, "plcc", 0.7000},
		{2, "ipiqa", AGIQA3k, "krcc", 0.5734},
		{3, "ipiqa_prompt", AGIQA1k, "srcc", 0.8317},
		{3, "ipiqa_i2p_prompt", AGIQA3k, "krcc", 0.6798},
	}
	for _, c := range cases {
		e, ok := Lookup(c.table, c.key)
		if !ok {
			t.Fatalf("table %d has no %q", c.table, c.key)
		}
		s := e.Paper[c.ds]
		p := map[string]*float64{"srcc": s.SRCC, "plcc": s.PLCC, "krcc": s.KRCC}[c.metric]
		if g, ok := val(p); !ok || g != c.want {
			t.Errorf("table %d %s %s %s = %v (known %v), want %v", c.table, c.key, c.ds, c.metric, g, ok, c.want)
		}
	}
}

func TestTable1KRCC3kUnknownExceptOurs(t *testing.T) {
	for _, e := range ForTable(1) {
		k := e.Paper[AGIQA3k].KRCC
		if e.Key == "ipiqa" {
			if k == nil || *k != 0.6844 {
				t.Errorf("IP-IQA Table 1 AGIQA-3k KRCC = %v, want 0.6844 (from Table 3)", k)
			}
			continue
		}
		if k != nil {
			t.Errorf("%s: Table 1 AGIQA-3k KRCC = %v, but the poster lost that column", e.Key, *k)
		}
	}
}

func TestCatalogStructure(t *testing.T) {
	seen := map[[2]any]bool{}
	for _, e := range Catalog() {
		id := [2]any{e.Table, e.Key}
		if seen[id] {
			t.Errorf("duplicate key %q in table %d", e.Key, e.Table)
		}
		seen[id] = true
		if e.Label == "" || e.Group == "" && e.Table == 1 {
			t.Errorf("%q: empty label or Table 1 group", e.Key)
		}
		if (e.Table == 3) != (e.Switches != nil) {
			t.Errorf("%q in table %d: switches %v", e.Key, e.Table, e.Switches)
		}
		if !e.InPaper {
			for ds, s := range e.Paper {
				if s.SRCC != nil || s.PLCC != nil || s.KRCC != nil {
					t.Errorf("%q is not in the paper but has %s numbers", e.Key, ds)
				}
			}
		}
	}
	if got := len(ForTable(1)); got != 19 { // 13 paper rows + our sharpness, contrast, BRISQUE, two retrained-SVR and CLIP-IQA+ rows
		t.Errorf("table 1 has %d entries, want 19", got)
	}
	for _, key := range []string{"ceiq_svr", "brisque_svr"} {
		if e, ok := Lookup(1, key); !ok || e.InPaper || e.Group != GroupSVR {
			t.Errorf("%s entry = %+v, want an SVR-based Table 1 row not in the paper", key, e)
		}
	}
	if e, ok := Lookup(1, "brisque"); !ok || e.InPaper || len(e.Paper) != 0 || e.Group != GroupHandcrafted {
		t.Errorf("brisque entry = %+v, want a handcrafted Table 1 row not in the paper", e)
	}
	if got := len(ForTable(2)); got != 8 { // the paper's 5 + HPS v2, HPS v2.1, PickScore
		t.Errorf("table 2 has %d entries, want 8", got)
	}
	for _, key := range []string{"hpsv2", "hpsv21", "pickscore"} {
		if e, ok := Lookup(2, key); !ok || e.InPaper || len(e.Paper) != 0 {
			t.Errorf("%s entry = %+v, want a Table 2 row not in the paper", key, e)
		}
	}
	if got := len(ForTable(3)); got != 8 { // the paper's 5 + the three QA-token combinations it lacks
		t.Errorf("table 3 has %d entries, want 8", got)
	}
	for _, name := range []string{"sharpness_laplacian", "contrast_rms"} {
		sh := ByServed(name)
		if len(sh) != 1 || sh[0].Group != GroupHandcrafted || sh[0].InPaper || len(sh[0].Paper) != 0 {
			t.Errorf("%s entries = %+v", name, sh)
		}
	}
	if got := len(ByServed("ipiqa_agiqa3k")); got != 3 {
		t.Errorf("ipiqa_agiqa3k fills %d rows, want 3 (one per table)", got)
	}
	if got := len(ByServed("ipiqa_agiqa1k")); got != 2 {
		t.Errorf("ipiqa_agiqa1k fills %d rows, want 2 (Table 2 is AGIQA-3k only)", got)
	}
	want := []string{GroupHandcrafted, GroupSVR, GroupDL, GroupOurs}
	if g := Groups(1); strings.Join(g, "|") != strings.Join(want, "|") {
		t.Errorf("Groups(1) = %q, want %q", g, want)
	}
	e, _ := Lookup(1, "ipiqa")
	if !e.NeedsPrompt || e.Label != "Ours" || e.Name != "IP-IQA" {
		t.Errorf("ipiqa entry = %+v", e)
	}
}

func TestCatalogReturnsCopies(t *testing.T) {
	e, _ := Lookup(1, "ceiq")
	*e.Paper[AGIQA1k].SRCC = 42
	e.Served = append(e.Served, "x")
	again, _ := Lookup(1, "ceiq")
	if *again.Paper[AGIQA1k].SRCC != 0.3069 || len(again.Served) != 1 {
		t.Errorf("catalogue was modified through a returned entry: %+v", again)
	}
}

func TestSwitchesString(t *testing.T) {
	if s := (Switches{}).String(); s != "none" {
		t.Errorf("empty switches = %q", s)
	}
	if s := (Switches{Image2Prompt: true, QAToken: true}).String(); s != "Image2prompt + QA token" {
		t.Errorf("switches = %q", s)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current catalogue")

// table3Row is one line of testdata/table3_rows.json.golden, which the export's tests read
// (modelrepo/python/tests/test_export_names.py): the row key a model of these switches is exported under.
type table3Row struct {
	Key string `json:"key"`
	Switches
	InPaper bool `json:"in_paper"`
}

// Table 3 has one row per switch combination, all eight, and the Python export names them from the
// same list: a row added, renamed or re-switched here fails this test until the file is regenerated
// (go test ./baselines -run Table3Rows -update), and then the Python test until the export agrees.
func TestTable3RowsGolden(t *testing.T) {
	var rows []table3Row
	seen := map[Switches]string{}
	for _, e := range ForTable(3) {
		if prev, dup := seen[*e.Switches]; dup {
			t.Errorf("Table 3 rows %q and %q have the same switches %v", prev, e.Key, *e.Switches)
		}
		seen[*e.Switches] = e.Key
		if e.InPaper != (len(e.Paper) > 0) {
			t.Errorf("Table 3 %q: in_paper %v with paper numbers for %d datasets", e.Key, e.InPaper, len(e.Paper))
		}
		rows = append(rows, table3Row{Key: e.Key, Switches: *e.Switches, InPaper: e.InPaper})
	}
	if len(seen) != 8 {
		t.Errorf("Table 3 covers %d of the 8 switch combinations", len(seen))
	}
	if full := seen[Switches{Image2Prompt: true, IntegralPrompt: true, QAToken: true}]; full != "ipiqa" {
		t.Errorf("the full model's Table 3 key is %q, want ipiqa (the key of Tables 1 and 2)", full)
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, "table3_rows.json", append(b, '\n'), *update)
}
