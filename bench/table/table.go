// Package table turns correlation results into the paper's Tables 1-3 (a format-free table model) and
// renders that model as text, Markdown, CSV, JSON or LaTeX.
//
// Each measured model shows one row of split-averaged correlations; with Options.Paper the paper's row
// and the difference (measured - paper) follow it. Models in the paper that were not run appear as
// "quoted" rows carrying the paper's numbers, labelled "(paper)". Unknown numbers stay unknown (nil,
// rendered "n/a" or null); nothing is filled in.
package table

import (
	"encoding/json"
	"math"
	"strconv"
)

// Kind says where a row's numbers come from.
type Kind string

const (
	KindMeasured Kind = "measured" // correlations computed by this harness
	KindPaper    Kind = "paper"    // the paper's numbers, under the measured row of the same model
	KindDiff     Kind = "diff"     // measured - paper, cell by cell
	KindQuoted   Kind = "quoted"   // the paper's numbers for a model that was not run
)

// Table is a rendered-format-free table. Columns lists the leaf columns; ColumnGroups (when present)
// span them left to right and their spans sum to len(Columns).
type Table struct {
	ID           string        `json:"id"`    // "table1", "table2", "table3"
	Title        string        `json:"title"` // caption
	ColumnGroups []ColumnGroup `json:"column_groups"`
	Columns      []Column      `json:"columns"`
	RowGroups    []RowGroup    `json:"row_groups"`
	// Legend explains the marks used in the table (one sentence each).
	Legend []string `json:"legend,omitempty"`
}

// ColumnGroup is a header spanning Span adjacent columns (a dataset, or Table 3's switches).
type ColumnGroup struct {
	Name string `json:"name"`
	Span int    `json:"span"`
}

// Column is one leaf column. Key is stable ("agiqa-1k/srcc", "switch/qa_token").
type Column struct {
	Key   string `json:"key"`
	Label string `json:"label"`
}

// RowGroup is a block of rows under one heading ("Handcrafted-based"); Name may be empty.
type RowGroup struct {
	Name string `json:"name"`
	Rows []Row  `json:"rows"`
}

// Row is one line of the table; Cells has one entry per column.
type Row struct {
	Label string `json:"label"`
	// Model is the catalogue key (or the measured model name) the row belongs to.
	Model string `json:"model"`
	Kind  Kind   `json:"kind"`
	Cells []Cell `json:"cells"`
}

// Cell is one value. Value nil means no number: Text then says what is shown instead ("NaN", a switch
// mark); a nil Value with empty Text is unknown.
type Cell struct {
	Value *float64 `json:"value"`
	Text  string   `json:"text,omitempty"`
	Best  bool     `json:"best"`           // the best value of its column
	Note  string   `json:"note,omitempty"` // "n=3 splits", "failed: 2 images", "NaN: constant predictions"
	// Stat is the split statistic behind a measured cell.
	Stat *Stat `json:"stat,omitempty"`
	// Decimals shown for Value in text, Markdown and LaTeX; nil means 4, like the paper
	// (timing tables show counts with 0 and milliseconds with 2).
	Decimals *int `json:"-"`
}

// Stat summarises one metric over the splits of one (model, dataset).
type Stat struct {
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	Std    float64 `json:"std"`
	Lo     float64 `json:"lo"` // lower end of the reported interval (e.g. min or a percentile)
	Hi     float64 `json:"hi"`
	N      int     `json:"n"` // splits that produced a finite value
	// AllImages: one correlation over every image of the dataset (a zero-shot model scored as the
	// AGIQA-3k authors did), not a mean over splits.
	AllImages bool `json:"all_images,omitempty"`
	// Reason explains a NaN Mean or a partial result ("constant predictions", "failed: 2 images").
	Reason string `json:"reason,omitempty"`
}

// MarshalJSON writes NaN and infinite fields as null, which encoding/json cannot represent otherwise.
func (s Stat) MarshalJSON() ([]byte, error) {
	num := func(v float64) json.RawMessage {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return json.RawMessage("null")
		}
		return json.RawMessage(strconv.FormatFloat(v, 'g', -1, 64))
	}
	return json.Marshal(struct {
		Mean   json.RawMessage `json:"mean"`
		Median json.RawMessage `json:"median"`
		Std    json.RawMessage `json:"std"`
		Lo     json.RawMessage `json:"lo"`
		Hi     json.RawMessage `json:"hi"`
		N      int             `json:"n"`
		Reason string          `json:"reason,omitempty"`
	}{num(s.Mean), num(s.Median), num(s.Std), num(s.Lo), num(s.Hi), s.N, s.Reason})
}

// Measurement is one model's correlations on one dataset for one target.
type Measurement struct {
	Model   string // catalogue key ("ipiqa", "clipiqa"); unknown keys land in an "Other" group
	Dataset string // "agiqa-1k", "agiqa-3k", or any other name (e.g. "sample")
	Target  string // TargetQuality or TargetAlignment
	SRCC    Stat
	PLCC    Stat
	KRCC    Stat
}

// Targets of a Measurement.
const (
	TargetQuality   = "quality"
	TargetAlignment = "alignment"
)
