package dataset

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strings"
)

// table is a label file read into memory: the header and the data rows with
// the line (CSV) or row (spreadsheet) number each came from.
type table struct {
	file   string
	header []string
	col    map[string]int // lower-cased, trimmed header name -> index
	dup    map[string]int // header name -> index of its second occurrence
	rows   [][]string
	lines  []int
}

// readCSV reads a whole CSV file: a regular file within lim's cap, UTF-8 text without NUL
// (checkText). Blank lines are skipped by encoding/csv;
// a UTF-8 byte-order mark before the header is dropped (before parsing, so a
// quoted first header field still parses). A row with more fields than the
// header, extra ones not empty, is an error: it is what an unquoted comma in
// a prompt does, and every later column would be read shifted.
func readCSV(file string, lim Limits) (*table, error) {
	data, err := readLabelFile(file, lim)
	if err != nil {
		return nil, err
	}
	if err := checkText(file, data); err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.FieldsPerRecord = -1 // row lengths are checked against the header below, with a clearer message
	t := &table{file: file}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		line, _ := r.FieldPos(0)
		if t.header == nil {
			t.setHeader(rec)
			continue
		}
		if len(rec) > len(t.header) && strings.TrimSpace(strings.Join(rec[len(t.header):], "")) != "" {
			return nil, fmt.Errorf("%s:%d: %d fields, the header has %d (a comma inside a field that is not quoted?)", file, line, len(rec), len(t.header))
		}
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, line)
	}
	if t.header == nil {
		return nil, fmt.Errorf("%s: empty file, want a header line", file)
	}
	return t, nil
}

func (t *table) setHeader(h []string) {
	t.header = h
	t.col = map[string]int{}
	t.dup = map[string]int{}
	for i, name := range h {
		key := strings.ToLower(strings.TrimSpace(name))
		if _, dup := t.col[key]; !dup {
			t.col[key] = i
		} else if _, seen := t.dup[key]; !seen {
			t.dup[key] = i
		}
	}
}

// unique checks that none of the named columns appears twice in the header:
// which copy holds the score would be left to chance.
func (t *table) unique(names ...string) error {
	for _, n := range names {
		if j, ok := t.dup[n]; ok {
			return fmt.Errorf("%s:1: column %q appears twice (columns %d and %d)", t.file, n, t.col[n]+1, j+1)
		}
	}
	return nil
}

// need returns the column indexes of the named columns or an error naming
// the first one that is missing and the columns that are there.
func (t *table) need(names ...string) ([]int, error) {
	if err := t.unique(names...); err != nil {
		return nil, err
	}
	idx := make([]int, len(names))
	for i, n := range names {
		j, ok := t.col[n]
		if !ok {
			return nil, fmt.Errorf("%s:1: missing column %q (header has: %s)", t.file, n, strings.Join(t.header, ","))
		}
		idx[i] = j
	}
	return idx, nil
}

// optional returns the column index of name, or -1.
func (t *table) optional(name string) int {
	if j, ok := t.col[name]; ok {
		return j
	}
	return -1
}

// cell returns row r's value in column c ("" when the row is short).
func (t *table) cell(r, c int) string {
	if c < 0 || c >= len(t.rows[r]) {
		return ""
	}
	return strings.TrimSpace(t.rows[r][c])
}

// mos parses a score cell: it must be a finite number.
func (t *table) mos(r, c int) (float64, error) {
	s := t.cell(r, c)
	v, ok := parseDecimal(s)
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s:%d: column %q: value %q is not a finite number written in decimal", t.file, t.lines[r], t.header[c], s)
	}
	return v, nil
}

// nameCell returns row r's image name, which must be a plain file name.
func (t *table) nameCell(r, c int) (string, error) {
	s := t.cell(r, c)
	if s == "" {
		return "", fmt.Errorf("%s:%d: column %q: empty image name", t.file, t.lines[r], t.header[c])
	}
	if strings.ContainsAny(s, `/\`) || s == "." || s == ".." {
		return "", fmt.Errorf("%s:%d: column %q: image name %q must be a file name, not a path", t.file, t.lines[r], t.header[c], s)
	}
	return s, nil
}

// once records that row r lists image name in seen (name -> line), or returns an error naming both
// lines when an earlier row listed it already.
func (t *table) once(seen map[string]int, r int, name string) error {
	if first, dup := seen[name]; dup {
		return fmt.Errorf("%s:%d: image %q listed twice (first on line %d)", t.file, t.lines[r], name, first)
	}
	seen[name] = t.lines[r]
	return nil
}

// stem is a file name without folder and extension.
func stem(name string) string {
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	return strings.TrimSuffix(base, path.Ext(base))
}

// loadGenericCSV reads image,prompt,mos[,mos_align][,group]. A row without a
// group belongs to the group of its prompt, so images sharing a prompt stay
// on one side of a split (an image with neither is a group of its own). An
// empty mos_align cell means "no alignment score".
func loadGenericCSV(file string, lim Limits) (*Dataset, error) {
	t, err := readCSV(file, lim)
	if err != nil {
		return nil, err
	}
	idx, err := t.need("image", "prompt", "mos")
	if err != nil {
		return nil, err
	}
	ci, cp, cm := idx[0], idx[1], idx[2]
	if err := t.unique("mos_align", "group"); err != nil {
		return nil, err
	}
	ca, cg := t.optional("mos_align"), t.optional("group")
	ds := &Dataset{}
	seen := map[string]int{}
	for r := range t.rows {
		name, err := t.nameCell(r, ci)
		if err != nil {
			return nil, err
		}
		if err := t.once(seen, r, name); err != nil {
			return nil, err
		}
		mos, err := t.mos(r, cm)
		if err != nil {
			return nil, err
		}
		it := Item{Image: name, Prompt: t.cell(r, cp), MOS: mos, MOSAlign: math.NaN()}
		if ca >= 0 && t.cell(r, ca) != "" {
			if it.MOSAlign, err = t.mos(r, ca); err != nil {
				return nil, err
			}
		}
		it.Group = t.cell(r, cg)
		it.Attrs = attrsGeneric(t, r)
		if it.Group == "" {
			it.Group = it.Prompt
		}
		if it.Group == "" {
			it.Group = name
		}
		ds.Items = append(ds.Items, it)
	}
	return ds, nil
}
