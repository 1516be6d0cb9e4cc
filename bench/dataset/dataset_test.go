package dataset

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// sharedData returns ../shared/data beside the repository root, or skips the test when it is absent
// (fails it under AGIQA_REQUIRE_SHARED=1).
func sharedData(t *testing.T) string {
	t.Helper()
	return testenv.Shared(t, "data")
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestLoadGenericCSV(t *testing.T) {
	ds, err := Load(CSV, "testdata/small.csv", "imgs")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Name != CSV || ds.LabelFile != "testdata/small.csv" || len(ds.Items) != 4 || len(ds.Warnings) != 0 {
		t.Fatalf("got %+v", ds)
	}
	it := ds.Items[2]
	if it.Image != "c_1.png" || it.Prompt != "a cat, sitting" || it.MOS != 1 || !math.IsNaN(it.MOSAlign) ||
		it.Path != filepath.Join("imgs", "c_1.png") || it.Group != "a cat, sitting" {
		t.Errorf("item 2 = %+v", it)
	}
	if ds.Items[0].MOSAlign != 4 || ds.Items[0].Group != ds.Items[1].Group {
		t.Errorf("items 0,1 = %+v %+v", ds.Items[0], ds.Items[1])
	}
	if ds.HasAlign() {
		t.Error("HasAlign true with an empty mos_align cell")
	}
	if g := ds.Groups(); len(g) != 3 {
		t.Errorf("groups %q, want 3", g)
	}
}

func TestLoadGenericCSVGroupColumnAndNoImagesDir(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "l.csv", "\ufeffImage, Prompt ,MOS,Group\nx.jpg,p,1,g1\ny.jpg,q,2,g1\nz.jpg,,3,\n")
	ds, err := Load(CSV, p, "")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Items[0].Group != "g1" || ds.Items[1].Group != "g1" || ds.Items[2].Group != "z.jpg" || ds.Items[0].Path != "" {
		t.Errorf("items %+v", ds.Items)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, dataset, content string
		want                   []string
	}{
		{"missing column", CSV, "image,prompt\na.jpg,p\n", []string{"bad.csv:1", `missing column "mos"`, "image,prompt"}},
		{"non-numeric", CSV, "image,prompt,mos\na.jpg,p,1\nb.jpg,p,high\n", []string{"bad.csv:3", `"mos"`, `"high"`}},
		{"nan", CSV, "image,prompt,mos\na.jpg,p,NaN\n", []string{"bad.csv:2", `"NaN"`, "not a finite number"}},
		{"empty mos", CSV, "image,prompt,mos\na.jpg,p,\n", []string{"bad.csv:2", `value ""`}},
		{"bad align", CSV, "image,prompt,mos,mos_align\na.jpg,p,1,x\n", []string{"bad.csv:2", `"mos_align"`, `"x"`}},
		{"duplicate", CSV, "image,prompt,mos\na.jpg,p,1\nb.jpg,p,1\na.jpg,q,2\n", []string{"bad.csv:4", `"a.jpg" listed twice`, "line 2"}},
		{"path as name", CSV, "image,prompt,mos\nsub/a.jpg,p,1\n", []string{"bad.csv:2", "not a path"}},
		{"header only", CSV, "image,prompt,mos\n", []string{"bad.csv", "no labelled images"}},
		{"empty file", CSV, "", []string{"bad.csv", "header"}},
		{"quote", CSV, "image,prompt,mos\na.jpg,\"p,1\n", []string{"bad.csv"}},
		{"3k column", AGIQA3k, "name,prompt,mos_quality\nx_1.jpg,p,1\n", []string{"bad.csv:1", `"mos_align"`}},
		{"3k index", AGIQA3k, "name,prompt,mos_quality,mos_align\nx_y.jpg,p,1,2\n", []string{"bad.csv:2", `"x_y.jpg"`, "prompt index"}},
		{"3k dup", AGIQA3k, "name,prompt,mos_quality,mos_align\nx_1.jpg,p,1,2\nx_1.jpg,p,1,2\n", []string{"bad.csv:3", "listed twice"}},
		{"1k csv column", AGIQA1k, "Image,MOS\ndeepai_0_0_0_0.jpg,1\n", []string{"bad.csv:1", `"score"`}},
		{"1k csv name", AGIQA1k, "Image,Score\ndeepai_0_0_0_0.jpg,1\nmidjourney_0_0_0_0.jpg,2\n", []string{"bad.csv:3", `unknown generator "midjourney"`}},
		{"1k csv ambiguous repair", AGIQA1k, "Image,Score\ndeepai_0_0_0_.jpg,1\n", []string{"bad.csv:2", `style code ""`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, "bad.csv", c.content)
			_, err := Load(c.dataset, p, "")
			wantErr(t, err, c.want...)
		})
	}
}

func TestLoadUnknownName(t *testing.T) {
	_, err := Load("agiqa-9k", "x.csv", "")
	wantErr(t, err, `unknown dataset "agiqa-9k"`, "agiqa-1k, agiqa-3k, csv, sample")
	_, err = Load(AGIQA1k, "x.txt", "")
	wantErr(t, err, "x.txt", ".xlsx")
	_, err = Load(CSV, filepath.Join(t.TempDir(), "none.csv"), "")
	wantErr(t, err, "none.csv", "no such file")
	// A file named .xlsx that is not a workbook says so, not just "zip: ...".
	_, err = Load(AGIQA1k, writeFile(t, t.TempDir(), "AIGC_MOS_Zscore.xlsx", "Image,Prompt,MOS\n"), "")
	wantErr(t, err, "AIGC_MOS_Zscore.xlsx: not an Excel .xlsx workbook")
}

func TestDecodeAGIQA1kPrompt(t *testing.T) {
	cases := []struct{ name, prompt, group string }{
		{"deepai_0_0_0_0.jpg", "bird, driving aircraft, city, anime style", "0,0"},
		{"deepai_11_14_1_1.jpg", "witch, wearing shirt, wild, realistic style", "11,14"},
		{"dreamStudio_5_0_0_1.jpg", "teddy bear, having pizza, city, realistic style", "5,5"},
		{"dreamStudio_6_2_0_1.jpg", "man, playing football, city, realistic style", "7,7"},
		{"/some/dir/dreamStudio_8_9_1_0.jpg", "alien, wearing shirt, wild, anime style", "9,14"},
	}
	for _, c := range cases {
		p, g, err := DecodeAGIQA1kPrompt(c.name)
		if err != nil || p != c.prompt || g != c.group {
			t.Errorf("%s: got %q %q %v, want %q %q", c.name, p, g, err, c.prompt, c.group)
		}
	}
	for name, want := range map[string]string{
		"deepai_12_0_0_0.jpg":      `object code "12" is not in 0..11`,
		"dreamStudio_0_10_0_0.jpg": `action code "10" is not in 0..9`,
		"deepai_0_0_2_0.jpg":       `place code "2"`,
		"deepai_0_0_0.jpg":         "want <generator>_<object>",
		"DALLE_0_0_0_0.jpg":        `unknown generator "DALLE"`,
		"deepai_0_x_0_0.jpg":       `action code "x"`,
	} {
		_, _, err := DecodeAGIQA1kPrompt(name)
		wantErr(t, err, name, want)
	}
}

// Every prompt in the published xlsx must be what the file name encodes,
// read here straight from the sheet (not through the loader).
func TestDecodeAGIQA1kPromptMatchesXLSX(t *testing.T) {
	path := filepath.Join(sharedData(t), "agiqa-1k", "AIGC_MOS_Zscore.xlsx")
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetList()[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1081 {
		t.Fatalf("%d rows, want header + 1080", len(rows))
	}
	for i, r := range rows[1:] {
		p, _, err := DecodeAGIQA1kPrompt(r[0])
		if err != nil || p != r[1] {
			t.Errorf("row %d %s: decoded %q (%v), sheet says %q", i+2, r[0], p, err, r[1])
		}
	}
}

func TestLoadAGIQA3kReal(t *testing.T) {
	ds, err := Load(AGIQA3k, filepath.Join(sharedData(t), "agiqa-3k", "data.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 2982 || len(ds.Warnings) != 0 || len(ds.Groups()) != 300 || !ds.HasAlign() {
		t.Fatalf("%d items, %d warnings, %d groups", len(ds.Items), len(ds.Warnings), len(ds.Groups()))
	}
	first := ds.Items[0]
	if first.Image != "AttnGAN_normal_000.jpg" || first.Prompt != "statue of a man" || first.Group != "0" ||
		math.Abs(first.MOS-0.965602553) > 1e-12 || math.Abs(first.MOSAlign-0.40889324) > 1e-12 {
		t.Errorf("first item %+v", first)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, it := range ds.Items {
		lo, hi = math.Min(lo, it.MOS), math.Max(hi, it.MOS)
	}
	if lo != 0 || math.Abs(hi-4.488740784) > 1e-12 {
		t.Errorf("quality MOS range %g..%g, want 0..4.4887", lo, hi)
	}
}

func TestLoadAGIQA1kXLSXReal(t *testing.T) {
	path := filepath.Join(sharedData(t), "agiqa-1k", "AIGC_MOS_Zscore.xlsx")
	ds, err := Load(AGIQA1k, path, "")
	if err != nil {
		t.Fatal(err)
	}
	// 1080 rows (sheet rows 2..1081), the repeat on row 1081 dropped.
	if len(ds.Items) != 1079 || ds.HasAlign() {
		t.Fatalf("%d items, want 1079", len(ds.Items))
	}
	if len(ds.Warnings) != 1 {
		t.Fatalf("warnings %v, want exactly the repeated dreamStudio_8_9_1_1.jpg", ds.Warnings)
	}
	w := ds.Warnings[0]
	if w.File != path || w.Line != 1081 || !strings.Contains(w.Message, "dreamStudio_8_9_1_1.jpg") {
		t.Errorf("warning %v", w)
	}
	last := ds.Items[len(ds.Items)-1]
	if last.Image != "dreamStudio_8_9_1_1.jpg" || math.Abs(last.MOS-0.4414155439958131) > 1e-15 || last.Group != "9,14" {
		t.Errorf("kept %+v, want the first row (MOS 0.44141554399581)", last)
	}
	// deepai covers all 12x15 (object, action) pairs; dreamStudio's map into them.
	if g := len(ds.Groups()); g != 180 {
		t.Errorf("%d groups, want 180", g)
	}
}

func TestLoadAGIQA1kCSVReal(t *testing.T) {
	path := filepath.Join(sharedData(t), "agiqa-1k", "AIGC_all.csv")
	ds, err := Load(AGIQA1k, path, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 1080 || len(ds.Warnings) != 1 {
		t.Fatalf("%d items, warnings %v", len(ds.Items), ds.Warnings)
	}
	w := ds.Warnings[0]
	if !strings.Contains(w.Message, `"dreamStudio_8_9_1_.jpg" read as "dreamStudio_8_9_1_1.jpg"`) || w.File != path {
		t.Errorf("warning %v", w)
	}
	for _, it := range ds.Items {
		if it.Image == "dreamStudio_8_9_1_1.jpg" {
			if it.MOS != 2.045454545 || it.Prompt != "alien, wearing shirt, wild, realistic style" {
				t.Errorf("repaired item %+v", it)
			}
			return
		}
	}
	t.Error("repaired name not among the items")
}

func TestLoadAGIQA1kCSVRepairPathFallback(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "AIGC_all.csv", "Image,Score\ndeepai_0_0_0_.jpg,1\ndeepai_0_0_0_0.jpg,2\n")
	imgs := filepath.Join(dir, "images")
	if err := os.Mkdir(imgs, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, imgs, "deepai_0_0_0_.jpg", "x") // only the broken spelling is on disk
	ds, err := Load(AGIQA1k, p, imgs)
	if err != nil {
		t.Fatal(err)
	}
	it := ds.Items[0]
	if it.Image != "deepai_0_0_0_1.jpg" || it.Path != filepath.Join(imgs, "deepai_0_0_0_.jpg") || it.Group != "0,0" {
		t.Errorf("item %+v", it)
	}
	if len(ds.Warnings) != 1 || ds.Warnings[0].Line != 2 {
		t.Errorf("warnings %v", ds.Warnings)
	}
}

func writeXLSX(t *testing.T, path string, rows [][]any) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

func TestLoadAGIQA1kXLSXSynthetic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "AIGC_MOS_Zscore.xlsx")
	writeXLSX(t, p, [][]any{
		{"Image", "Prompt", "MOS"},
		{"deepai_0_0_0_0.jpg", "bird, driving aircraft, city, anime style", 2.5},
		{"deepai_0_0_0_0.jpg", "bird, driving aircraft, city, anime style", 1.25},
		{"dreamStudio_0_0_0_0.jpg", "a different prompt", 3},
	})
	ds, err := Load(AGIQA1k, p, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 2 || ds.Items[0].MOS != 2.5 || ds.Items[1].Prompt != "a different prompt" || ds.Items[1].Group != "0,5" {
		t.Errorf("items %+v", ds.Items)
	}
	if len(ds.Warnings) != 2 || ds.Warnings[0].Line != 3 || ds.Warnings[1].Line != 4 ||
		!strings.Contains(ds.Warnings[0].Message, "kept the first row (MOS 2.5)") {
		t.Errorf("warnings %v", ds.Warnings)
	}

	writeXLSX(t, p, [][]any{{"Image", "Prompt", "MOS"}, {"deepai_0_0_0_0.jpg", "p", "n/a"}})
	_, err = Load(AGIQA1k, p, "")
	wantErr(t, err, "AIGC_MOS_Zscore.xlsx:2", `"MOS"`, `"n/a"`)

	writeXLSX(t, p, [][]any{{"Image", "MOS"}, {"deepai_0_0_0_0.jpg", 1}})
	_, err = Load(AGIQA1k, p, "")
	wantErr(t, err, "AIGC_MOS_Zscore.xlsx:1", `missing column "prompt"`)
}

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "data.csv", "name,prompt,mos_quality,mos_align\n")
	for _, sub := range []string{"aaa", "images"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	labels, images, err := Locate(AGIQA3k, dir)
	if err != nil || labels != filepath.Join(dir, "data.csv") || images != "" {
		t.Errorf("no images yet: %q %q %v", labels, images, err)
	}
	writeFile(t, filepath.Join(dir, "aaa"), "x.JPG", "")
	if _, images, _ = Locate(AGIQA3k, dir); images != filepath.Join(dir, "aaa") {
		t.Errorf("images %q, want the only folder with images", images)
	}
	writeFile(t, filepath.Join(dir, "images"), "y.png", "")
	if _, images, _ = Locate(AGIQA3k, dir); images != filepath.Join(dir, "images") {
		t.Errorf("images %q, want images/ preferred", images)
	}
	if got := FindImages(dir); got != filepath.Join(dir, "images") {
		t.Errorf("FindImages = %q, want images/ as Locate found", got)
	}
	if got := FindImages(filepath.Join(dir, "nothing")); got != "" {
		t.Errorf("FindImages of a missing folder = %q", got)
	}
	_, _, err = Locate(AGIQA1k, dir)
	wantErr(t, err, "no agiqa-1k label file", "AIGC_MOS_Zscore.xlsx, AIGC_all.csv")
	writeFile(t, dir, "AIGC_all.csv", "")
	if labels, _, _ = Locate(AGIQA1k, dir); labels != filepath.Join(dir, "AIGC_all.csv") {
		t.Errorf("1k labels %q", labels)
	}
	if labels, _, _ = Locate(CSV, dir); labels != "" {
		// two csv files and no labels.csv: ambiguous
		t.Errorf("generic labels %q, want none", labels)
	}
	_, _, err = Locate("nope", dir)
	wantErr(t, err, `unknown dataset "nope"`)
	_, _, err = Locate(CSV, filepath.Join(dir, "data.csv"))
	wantErr(t, err, "not a directory")
}

func TestLocateReal(t *testing.T) {
	data := sharedData(t)
	labels, images, err := Locate(AGIQA1k, filepath.Join(data, "agiqa-1k"))
	if err != nil || filepath.Base(labels) != "AIGC_MOS_Zscore.xlsx" || images != "" {
		t.Errorf("%q %q %v", labels, images, err)
	}
}

func TestNaturalLess(t *testing.T) {
	in := []string{"10", "9,14", "2", "9,2", "a10", "a9", "b", "02", "0"}
	sort.Slice(in, func(i, j int) bool { return NaturalLess(in[i], in[j]) })
	want := "0 2 02 9,2 9,14 10 a9 a10 b"
	if got := strings.Join(in, " "); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestItemJSON(t *testing.T) {
	b, err := Item{Image: "a.jpg", Prompt: "p", MOS: 1.5, MOSAlign: math.NaN(), Group: "g"}.MarshalJSON()
	if err != nil || string(b) != `{"image":"a.jpg","prompt":"p","mos":1.5,"group":"g","mos_align":null}` {
		t.Errorf("%s %v", b, err)
	}
	b, _ = Item{Image: "a.jpg", MOS: 1, MOSAlign: 2, Path: "x/a.jpg"}.MarshalJSON()
	if string(b) != `{"image":"a.jpg","path":"x/a.jpg","prompt":"","mos":1,"group":"","mos_align":2}` {
		t.Errorf("%s", b)
	}
}

// Label files as spreadsheets and editors write them: a byte-order mark
// before a quoted header, CRLF line ends, quoted fields holding commas and
// trailing blank lines.
func TestLoadCSVQuotedHeaderAfterBOM(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "l.csv", "\ufeff\"image\",\"prompt\",\"mos\"\r\n\"a.jpg\",\"a cat, sitting\",\"1.5\"\r\nb.jpg,p,2\r\n\r\n\r\n")
	ds, err := Load(CSV, p, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 2 || ds.Items[0].Image != "a.jpg" || ds.Items[0].Prompt != "a cat, sitting" || ds.Items[0].MOS != 1.5 || ds.Items[1].MOS != 2 {
		t.Errorf("items %+v", ds.Items)
	}
	p = writeFile(t, dir, "d.csv", "\ufeff\"name\",\"prompt\",\"adj1\",\"adj2\",\"style\",\"mos_quality\",\"std_quality\",\"mos_align\",\"std_align\"\r\nAttnGAN_normal_000.jpg,p,a,b,c,1,0.1,2,0.2\r\n")
	if _, err := Load(AGIQA3k, p, ""); err != nil {
		t.Fatal(err)
	}
}

// A row with more fields than the header (an unquoted comma in a prompt)
// shifts every later column: AGIQA-3k's mos_quality would silently be read
// from another column. It must be an error naming the file and line.
func TestLoadCSVRowWiderThanHeader(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "data.csv", "name,prompt,adj1,adj2,style,mos_quality,std_quality,mos_align,std_align\n"+
		"AttnGAN_normal_000.jpg,a cat,a,b,c,1,0.1,2,0.2\n"+
		"AttnGAN_normal_001.jpg,a dog, running,a,b,c,1,0.1,2,0.2\n")
	_, err := Load(AGIQA3k, p, "")
	wantErr(t, err, "data.csv:3", "10 fields", "header has 9")
	// Empty trailing cells (spreadsheet exports) are not a shifted row.
	p = writeFile(t, dir, "l.csv", "image,prompt,mos\na.jpg,p,1,,\n")
	if _, err := Load(CSV, p, ""); err != nil {
		t.Errorf("empty trailing cells: %v", err)
	}
}

// A header naming a column twice leaves which one holds the MOS to chance.
func TestLoadCSVDuplicateColumn(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "l.csv", "image,prompt,mos,MOS\na.jpg,p,1,2\n")
	_, err := Load(CSV, p, "")
	wantErr(t, err, "l.csv:1", `"mos"`, "twice")
}
