package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/table"
)

// tables --significance on the sample: the matrices follow the tables, from the same predictions
// (the second run, in every other format, infers nothing).
func TestTablesSignificanceGolden(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "predictions")
	args := []string{"tables", "--cache", cache, "--sample-size", "100", "--splits", "5", "--seed", "7",
		"--models", "contrast_rms,sharpness_laplacian", "--tables", "1", "--significance", "--bootstrap", "200", "--bootstrap-seed", "5"}
	out, stderr, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	checkGolden(t, "tables_significance_text", []byte(out))
	if i, j := strings.Index(out, "Table 1."), strings.Index(out, "Significance of SRCC differences"); i < 0 || j < i {
		t.Errorf("the matrices should follow Table 1:\n%s", out)
	}

	for _, format := range []string{"markdown", "csv", "latex", "json"} {
		out, stderr, err := runCLI(t, append(args, "--format", format)...)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if !strings.Contains(stderr, "100 images, 100 already cached") {
			t.Errorf("%s: --significance re-inferred; stderr:\n%s", format, stderr)
		}
		switch format {
		case "markdown":
			checkGolden(t, "tables_significance_markdown", []byte(out))
		case "json":
			// One document per table: Table 1, three matrices, the pairs.
			dec := json.NewDecoder(strings.NewReader(out))
			var ids []string
			for dec.More() {
				var tab table.Table
				if err := dec.Decode(&tab); err != nil {
					t.Fatalf("json: %v", err)
				}
				ids = append(ids, tab.ID)
			}
			// (Documents other flags add after them are not this test's business.)
			want := "table1 signif-sample-quality-srcc signif-sample-quality-plcc signif-sample-quality-krcc signif-sample-quality-pairs"
			if !strings.HasPrefix(strings.Join(ids, " "), want) {
				t.Errorf("json tables %v, want %s", ids, want)
			}
		case "csv":
			if !strings.Contains(out, "signif-sample-quality-srcc,,measured,contrast_rms,contrast_rms,,worse -0.3389,") {
				t.Errorf("csv matrix row:\n%s", out)
			}
		default:
			if !strings.Contains(out, "signif-sample-quality-pairs") && !strings.Contains(out, "tab:signif-sample-quality-pairs") {
				t.Errorf("%s output has no pairs table:\n%s", format, out)
			}
		}
	}
}

func TestTablesSignificanceBadFlags(t *testing.T) {
	for _, c := range []struct{ flag, value, want string }{
		{"--alpha", "1.5", `invalid value "1.5" for flag -alpha: "1.5": want a level between 0 and 1`},
		{"--alpha", "x", "want a level between 0 and 1"},
		{"--bootstrap", "-3", `"-3": want a number of replicates, 0 or more`},
	} {
		_, _, err := runCLI(t, "tables", "--significance", c.flag, c.value)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want a usage error containing %q", c.flag, c.value, err, c.want)
		}
	}
	// One split: the bootstrap decides, and the matrix says so.
	out, stderr, err := runCLI(t, "tables", "--cache", filepath.Join(t.TempDir(), "p"), "--sample-size", "40", "--splits", "1",
		"--models", "contrast_rms,sharpness_laplacian", "--tables", "1", "--significance", "--bootstrap", "100")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "decided by the paired bootstrap (100 replicates, 1 split)") {
		t.Errorf("one split: no note naming the bootstrap:\n%s", out)
	}
	// One row: nothing to compare, said after the tables.
	out, _, err = runCLI(t, "tables", "--cache", filepath.Join(t.TempDir(), "p"), "--sample-size", "40", "--splits", "2",
		"--models", "contrast_rms", "--tables", "1", "--significance")
	if err == nil || !strings.Contains(err.Error(), "--significance: no dataset and target has two measured rows") || !strings.Contains(out, "Table 1.") {
		t.Errorf("one model: %v\n%s", err, out)
	}
}
