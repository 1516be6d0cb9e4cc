package breakdown

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/table"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// fixture is testdata/breakdown.json, written by testdata/gen_breakdown.py (scipy.stats).
type fixture struct {
	Items []struct {
		Image, Generator, Prompt string
		Adjective                []string
		MOS                      float64
	}
	Splits [][]struct {
		Image     string
		Pred, MOS float64
	}
	Expected map[string]map[string]struct {
		SRCC, PLCC, KRCC *float64
		MinN             int     `json:"min_n"`
		MeanN            float64 `json:"mean_n"`
	}
}

func load(t *testing.T) (*fixture, *dataset.Dataset, *runner.ModelResult) {
	b, err := os.ReadFile("testdata/breakdown.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	ds := &dataset.Dataset{Name: "synthetic", LabelFile: "synthetic.csv"}
	for _, it := range fx.Items {
		ds.Items = append(ds.Items, dataset.Item{Image: it.Image, Prompt: it.Prompt, MOS: it.MOS, MOSAlign: math.NaN(),
			Attrs: map[string][]string{"generator": {it.Generator}, "adjective": it.Adjective}})
	}
	q := table.TargetQuality
	r := &runner.ModelResult{Model: "m", Catalog: "m", Dataset: ds.Name, HigherIsBetter: true,
		Pred: map[string][]float64{}, MOS: map[string][]float64{}, Images: map[string][]string{}, Summary: map[string]metrics.SplitSummary{}}
	var per []metrics.Scores
	for k, sp := range fx.Splits {
		var pred, mos []float64
		for _, p := range sp {
			pred, mos = append(pred, p.Pred), append(mos, p.MOS)
			r.Images[q] = append(r.Images[q], p.Image)
		}
		sc := metrics.Score(pred, mos, metrics.Options{HigherIsBetter: true})
		per = append(per, sc)
		r.Splits = append(r.Splits, runner.SplitScores{Split: k, Target: q, Scores: sc})
		r.Pred[q], r.MOS[q] = append(r.Pred[q], pred...), append(r.MOS[q], mos...)
	}
	r.Summary[q] = metrics.SummarizeSplits(per)
	return &fx, ds, r
}

// Every group's mean SRCC/PLCC/KRCC over splits and its n per split match scipy's on the same pairs.
func TestTablesMatchScipy(t *testing.T) {
	fx, ds, r := load(t)
	const tol = 1e-12
	maxErr := 0.0
	defer func() { t.Logf("max |error| vs scipy %.3g (tolerance %g)", maxErr, tol) }()
	for col, groups := range fx.Expected {
		ts, err := Tables([]*runner.ModelResult{r}, []*dataset.Dataset{ds}, col, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != 1 || len(ts[0].RowGroups) != 1 {
			t.Fatalf("%s: %d tables", col, len(ts))
		}
		rows := ts[0].RowGroups[0].Rows
		if len(rows) != len(groups) {
			t.Fatalf("%s: %d rows, scipy has %d groups", col, len(rows), len(groups))
		}
		for _, row := range rows {
			want, ok := groups[row.Label]
			if !ok {
				t.Fatalf("%s: group %q not in the fixture", col, row.Label)
			}
			for i, w := range []*float64{want.SRCC, want.PLCC, want.KRCC} {
				c := row.Cells[i]
				if w == nil {
					if c.Value != nil {
						t.Errorf("%s/%s col %d: %v, scipy has no value", col, row.Label, i, *c.Value)
					}
					continue
				}
				if c.Value != nil {
					maxErr = math.Max(maxErr, math.Abs(*c.Value-*w))
				}
				if c.Value == nil || math.Abs(*c.Value-*w) > tol {
					t.Errorf("%s/%s col %d: got %v, scipy %v", col, row.Label, i, c.Value, *w)
				}
			}
			if n := row.Cells[3].Value; n == nil || math.Abs(*n-want.MeanN) > 1e-12 {
				t.Errorf("%s/%s: n/split %v, want %v", col, row.Label, n, want.MeanN)
			}
			small := want.MinN < DefaultMinN
			if marked := strings.Contains(row.Cells[0].Note, "too small"); marked != small && want.SRCC != nil {
				t.Errorf("%s/%s: min n %d, too-small mark %v", col, row.Label, want.MinN, marked)
			}
		}
	}
}

func TestCheckNamesColumns(t *testing.T) {
	_, ds, _ := load(t)
	err := Check(ds, "style")
	if err == nil || !strings.Contains(err.Error(), `"style"`) || !strings.Contains(err.Error(), "adjective, generator, prompt-length") {
		t.Fatalf("got %v", err)
	}
	if err := Check(ds, PromptLength); err != nil {
		t.Fatal(err)
	}
}

func TestPromptBucket(t *testing.T) {
	for p, want := range map[string]string{"a cat": "1-4 words", "a b c d e": "5-7 words", "1 2 3 4 5 6 7 8 9 10": "8-10 words", strings.Repeat("w ", 20): "14+ words"} {
		if got := PromptBucket(p); got != want {
			t.Errorf("%q: %s, want %s", p, got, want)
		}
	}
}

// AGIQA-1k has generators and styles but no adjective column: the error lists what it has.
func TestCheckAGIQA1k(t *testing.T) {
	ds, err := dataset.Load(dataset.AGIQA1k, testenv.Shared(t, "data", "agiqa-1k", "AIGC_MOS_Zscore.xlsx"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{dataset.AttrGenerator, dataset.AttrStyle, PromptLength} {
		if err := Check(ds, col); err != nil {
			t.Error(err)
		}
	}
	err = Check(ds, dataset.AttrAdjective)
	if err == nil || !strings.Contains(err.Error(), `no column "adjective"; it has: action, generator, object, place, prompt-length, style`) {
		t.Errorf("got %v", err)
	}
	if got := groupOrder(ds, dataset.AttrGenerator); strings.Join(got, ",") != "deepai,dreamStudio" {
		t.Errorf("generators %v", got)
	}
}

// On AGIQA-3k's labels, with the alignment MOS as the "prediction" of the quality MOS over all images
// (one block, as the all-images protocol scores), every group of every column matches scipy on the same
// columns (testdata/gen_agiqa3k.py), n included.
func TestAGIQA3kGroupsMatchScipy(t *testing.T) {
	ds, err := dataset.Load(dataset.AGIQA3k, testenv.Shared(t, "data", "agiqa-3k", "data.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/agiqa3k_by.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]struct {
		N                int
		SRCC, PLCC, KRCC float64
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	q := table.TargetQuality
	r := &runner.ModelResult{Model: "align_as_quality", Dataset: ds.Name, HigherIsBetter: true,
		Pred: map[string][]float64{}, MOS: map[string][]float64{}, Images: map[string][]string{}, Summary: map[string]metrics.SplitSummary{}}
	for _, it := range ds.Items {
		r.Pred[q], r.MOS[q], r.Images[q] = append(r.Pred[q], it.MOSAlign), append(r.MOS[q], it.MOS), append(r.Images[q], it.Image)
	}
	sc := metrics.Score(r.Pred[q], r.MOS[q], metrics.Options{HigherIsBetter: true})
	r.Splits = []runner.SplitScores{{Split: -1, Target: q, Scores: sc}}
	r.Summary[q] = metrics.SummarizeSplits([]metrics.Scores{sc})
	const tol = 1e-12
	maxErr := 0.0
	defer func() { t.Logf("max |error| vs scipy %.3g (tolerance %g)", maxErr, tol) }()
	for col, groups := range want {
		ts, err := Tables([]*runner.ModelResult{r}, []*dataset.Dataset{ds}, col, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rows := ts[0].RowGroups[0].Rows
		if len(rows) != len(groups) {
			t.Fatalf("%s: %d groups, scipy %d", col, len(rows), len(groups))
		}
		for _, row := range rows {
			w := groups[row.Label]
			for i, v := range []float64{w.SRCC, w.PLCC, w.KRCC} {
				if c := row.Cells[i].Value; c != nil {
					maxErr = math.Max(maxErr, math.Abs(*c-v))
				}
				if c := row.Cells[i].Value; c == nil || math.Abs(*c-v) > tol {
					t.Errorf("%s/%s metric %d: %v, scipy %v", col, row.Label, i, c, v)
				}
			}
			if n := row.Cells[3].Value; n == nil || *n != float64(w.N) {
				t.Errorf("%s/%s: n %v, want %d", col, row.Label, n, w.N)
			}
		}
	}
}
