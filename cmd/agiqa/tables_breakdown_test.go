package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/sample"
	"github.com/agiqa-bench/agiqa/bench/table"
)

// table1Cell is the value of Table 1's measured row of served model in column key.
func table1Cell(t *testing.T, tb *table.Table, model, key string) float64 {
	t.Helper()
	col := -1
	for i, c := range tb.Columns {
		if c.Key == key {
			col = i
		}
	}
	for _, g := range tb.RowGroups {
		for _, r := range g.Rows {
			if r.Kind == table.KindMeasured && r.Model == model && col >= 0 && r.Cells[col].Value != nil {
				return *r.Cells[col].Value
			}
		}
	}
	t.Fatalf("table %s: no measured %s value for %s", tb.ID, key, model)
	return 0
}

func readResults(t *testing.T, path string) []runner.ModelResult {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rs []runner.ModelResult
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// A breakdown column with one group (every sample prompt has 5-7 words) reproduces Table 1's cells
// exactly: same images, same splits, same protocol; n/split is the splits' test-set size. The --by
// error names the column and the columns the dataset has.
func TestTablesByPromptLengthEqualsTable(t *testing.T) {
	dir := t.TempDir()
	args := []string{"tables", "--cache", filepath.Join(dir, "c"), "--sample-size", "40", "--splits", "2", "--report", filepath.Join(dir, "r.json"),
		"--models", "contrast_rms,sharpness_laplacian", "--tables", "1", "--format", "json", "--by", "prompt-length"}
	out, stderr, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	tabs, prov := jsonDocs(t, out)
	bd := tabs["breakdown-prompt-length-sample-quality"]
	if bd == nil || prov == nil {
		t.Fatalf("%d tables, provenance %v", len(tabs), prov != nil)
	}
	results := readResults(t, filepath.Join(dir, "r.json"))
	rows := 0
	for _, g := range bd.RowGroups {
		for _, r := range g.Rows {
			rows++
			if r.Label != "5-7 words" {
				t.Errorf("group %q", r.Label)
			}
			catalog := ""
			for _, res := range results {
				if res.Model == r.Model {
					catalog = res.Catalog
				}
			}
			for ci, key := range []string{"sample/srcc", "sample/plcc", "sample/krcc"} {
				want := table1Cell(t, tabs["table1"], catalog, key)
				if r.Cells[ci].Value == nil || *r.Cells[ci].Value != want {
					t.Errorf("%s %s: breakdown %v, Table 1 %v", r.Model, key, r.Cells[ci].Value, want)
				}
			}
			sum := 0
			for _, res := range results {
				if res.Model == r.Model {
					for _, s := range res.Splits {
						sum += s.Scores.N
					}
				}
			}
			if n := r.Cells[3].Value; n == nil || math.Abs(*n-float64(sum)/2) > 1e-12 || sum == 0 {
				t.Errorf("%s: n/split %v, the splits scored %d images", r.Model, n, sum)
			}
		}
	}
	if rows != 2 {
		t.Errorf("%d breakdown rows", rows)
	}

	// Provenance: the label file's digest, and for drawn splits the digest of the file `agiqa splits`
	// writes for the same draw.
	sp := filepath.Join(dir, "splits.json")
	if _, stderr, err := runCLI(t, "splits", "--dataset", "sample", "--sample-size", "40", "--n", "2", "--seed", "42", "-o", sp); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	spBytes, err := os.ReadFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	d := prov.Datasets[0]
	lab, err := os.ReadFile(d.LabelFile)
	if err != nil || d.Name != "sample" || d.Images != 40 || d.LabelSHA256 != bytesSHA256(lab) || d.Splits.Source != "drawn" || d.Splits.N != 2 {
		t.Errorf("dataset provenance %+v (%v)", d, err)
	}
	if d.Splits.SHA256 != bytesSHA256(spBytes) {
		t.Errorf("drawn splits sha256 %s, agiqa splits wrote %s", d.Splits.SHA256, bytesSHA256(spBytes))
	}
	if prov.Server.Address != "embedded" || prov.Server.Name == "" || len(prov.Models) != 2 || prov.Models[0].Served != "contrast_rms" ||
		prov.Models[0].Preprocess == "" || prov.Models[0].WeightsNote != noWeightDigest || prov.Agiqa != versionString() {
		t.Errorf("provenance %+v", prov)
	}

	// The same run as text, with the sample's degradation groups: a golden file.
	text, _, err := runCLI(t, append(args[:len(args)-4], "--format", "text", "--by", "degradation,prompt-length")...)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "tables_by_sample_text", []byte(text))

	_, _, err = runCLI(t, append(args[:len(args)-1], "generator")...)
	if err == nil || !strings.Contains(err.Error(), `has no column "generator"; it has: blur, contrast, degradation,`) ||
		!strings.Contains(err.Error(), "prompt-length") {
		t.Errorf("err = %v", err)
	}
}

// A per-split model trained on the sample (agiqa.dataset) is skipped on another dataset, or with
// --cross-dataset scores every image of it once per version: the cross table's cell is the mean of
// the versions' scores, each over all images, and a second run infers nothing.
func TestTablesCrossDataset(t *testing.T) {
	dir := t.TempDir()
	if _, err := sample.Generate(t.Context(), filepath.Join(dir, "other"), 30); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(dir, "repo")
	writeTree(t, repo, map[string]string{
		"xsplit/config.pbtxt": tablesNativeContract + "version_policy: { all {} }\n" +
			`parameters { key: "agiqa.per_split" value: { string_value: "true" } }` + "\n" +
			`parameters { key: "agiqa.dataset" value: { string_value: "sample" } }` + "\n",
		"xsplit/1/model.native": "laplacian_variance\n",
		"xsplit/2/model.native": "rms_contrast\n",
	})
	args := []string{"tables", "--repo", repo, "--cache", filepath.Join(dir, "c"), "--sample-size", "40", "--splits", "2", "--tables", "1",
		"--dataset", "sample", "--dataset", "csv=" + filepath.Join(dir, "other"), "--format", "json", "--report", filepath.Join(dir, "r.json")}
	_, stderr, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "xsplit on csv: skipped (trained on sample)") {
		t.Errorf("without --cross-dataset the model should be skipped on csv:\n%s", stderr)
	}
	out, stderr, err := runCLI(t, append(args, "--cross-dataset")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	tabs, prov := jsonDocs(t, out)
	cross := tabs["cross-dataset"]
	if cross == nil || len(cross.RowGroups) != 1 || len(cross.RowGroups[0].Rows) != 1 || !strings.Contains(cross.Legend[0], "every image of the other dataset") {
		t.Fatalf("cross table %+v", cross)
	}
	if !prov.Run.CrossDataset || prov.Models[0].TrainedOn != "sample" {
		t.Errorf("provenance %+v", prov)
	}
	row := cross.RowGroups[0].Rows[0]
	var res *runner.ModelResult
	for _, r := range readResults(t, filepath.Join(dir, "r.json")) {
		if r.TrainedOn == "sample" {
			res = &r
		}
	}
	if res == nil || res.Dataset != "csv" || len(res.Splits) != 2 {
		t.Fatalf("cross result %+v", res)
	}
	var srcc float64
	for k, s := range res.Splits {
		if s.Version != []string{"1", "2"}[k] || s.Scores.N != 30 {
			t.Errorf("version %s scored %d images, want all 30", s.Version, s.Scores.N)
		}
		srcc += s.Scores.SRCC / 2
	}
	if row.Cells[3].Value == nil || math.Abs(*row.Cells[3].Value-srcc) > 1e-12 || row.Cells[0].Text != "sample" || row.Cells[1].Text != "csv" {
		t.Errorf("cross row %+v, mean SRCC over versions %v", row, srcc)
	}
	// Table 1 does not count the cross result as a csv measurement of xsplit.
	if _, ok := numericCells(map[string]*table.Table{"t": tabs["table1"]})["t|0.0|csv/srcc"]; ok {
		t.Error("cross result leaked into Table 1")
	}
	_, stderr, err = runCLI(t, append(args, "--cross-dataset")...)
	if err != nil || strings.Contains(stderr, " 0 already cached") || !strings.Contains(stderr, "30 images, 30 already cached") {
		t.Errorf("second run: %v\n%s", err, stderr)
	}
}
