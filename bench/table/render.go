package table

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/table/ascii"
)

// Formats lists the names Render accepts.
var Formats = []string{"text", "markdown", "csv", "json", "latex"}

// Render writes t in one of Formats.
func Render(w io.Writer, t *Table, format string) error {
	if err := Validate(t); err != nil {
		return err
	}
	switch format {
	case "text":
		return RenderText(w, t)
	case "markdown":
		return RenderMarkdown(w, t)
	case "csv":
		return RenderCSV(w, t)
	case "json":
		return RenderJSON(w, t)
	case "latex":
		return RenderLaTeX(w, t)
	}
	return fmt.Errorf("table: unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// Validate checks that every row has one cell per column and that the column groups span the columns.
func Validate(t *Table) error {
	if t == nil {
		return fmt.Errorf("table: nil table")
	}
	if len(t.ColumnGroups) > 0 {
		span := 0
		for _, g := range t.ColumnGroups {
			if g.Span < 1 {
				return fmt.Errorf("table %s: column group %q spans %d columns", t.ID, g.Name, g.Span)
			}
			span += g.Span
		}
		if span != len(t.Columns) {
			return fmt.Errorf("table %s: column groups span %d columns, table has %d", t.ID, span, len(t.Columns))
		}
	}
	for _, g := range t.RowGroups {
		for _, r := range g.Rows {
			if len(r.Cells) != len(t.Columns) {
				return fmt.Errorf("table %s: row %q (%s) has %d cells, table has %d columns",
					t.ID, r.Label, r.Kind, len(r.Cells), len(t.Columns))
			}
		}
	}
	return nil
}

// plain is a cell's content without marks: the number, else its Text, else "n/a" (unknown).
func plain(r Row, c Cell) string {
	if c.Value != nil {
		s := strconv.FormatFloat(*c.Value, 'f', decimals(c), 64)
		if r.Kind == KindDiff && *c.Value >= 0 { // diffs are signed
			s = "+" + s
		}
		return s
	}
	if c.Text != "" {
		return c.Text
	}
	return "n/a"
}

// decimals is how many decimals a cell's Value is shown with: Decimals, else 4 like the paper.
func decimals(c Cell) int {
	if c.Decimals != nil {
		return *c.Decimals
	}
	return 4
}

// footnotes numbers the distinct cell notes in reading order.
type footnotes struct {
	index map[string]int
	notes []string
}

func newFootnotes(t *Table) *footnotes {
	f := &footnotes{index: map[string]int{}}
	for _, g := range t.RowGroups {
		for _, r := range g.Rows {
			for _, c := range r.Cells {
				if c.Note != "" {
					if _, ok := f.index[c.Note]; !ok {
						f.notes = append(f.notes, c.Note)
						f.index[c.Note] = len(f.notes)
					}
				}
			}
		}
	}
	return f
}

// mark adds a cell's best mark (wrapped by best) and its note number (formatted by noteFmt) to s.
func (f *footnotes) mark(s string, c Cell, best func(string) string, noteFmt string) string {
	if c.Best {
		s = best(s)
	}
	if c.Note != "" {
		s += fmt.Sprintf(noteFmt, f.index[c.Note])
	}
	return s
}

// list writes the numbered notes (number formatted by numFmt) and then the legend lines, each passed
// through esc and ended by eol.
func (f *footnotes) list(b *strings.Builder, legend []string, numFmt, eol string, esc func(string) string) {
	for i, n := range f.notes {
		fmt.Fprintf(b, numFmt, i+1)
		b.WriteString(esc(n) + eol)
	}
	for _, l := range legend {
		b.WriteString(esc(l) + eol)
	}
}

// leadCells returns a row's first cells, passed through esc: with a group column, the group's name on
// its first row (blank on the rows below), then the row's label.
func leadCells(grouped, first bool, group, label string, esc func(string) string) []string {
	var line []string
	if grouped {
		name := ""
		if first {
			name = esc(group)
		}
		line = append(line, name)
	}
	return append(line, esc(label))
}

// noEscape is the escaper of the text format, which takes text as it is.
func noEscape(s string) string { return s }

// hasGroupNames reports whether any row group is named (else the group column is left out).
func hasGroupNames(t *Table) bool {
	for _, g := range t.RowGroups {
		if g.Name != "" {
			return true
		}
	}
	return false
}

// columnGroupOf maps each column index to its group name.
func columnGroupOf(t *Table) []string {
	out := make([]string, len(t.Columns))
	i := 0
	for _, g := range t.ColumnGroups {
		for j := 0; j < g.Span; j++ {
			out[i] = g.Name
			i++
		}
	}
	return out
}

// RenderText writes an ASCII table for terminals: best values carry a trailing '*', notes are
// numbered [k] and listed below.
func RenderText(w io.Writer, t *Table) error {
	fn := newFootnotes(t)
	grouped := hasGroupNames(t)
	cg := columnGroupOf(t)

	var header []string
	if grouped {
		header = append(header, "Group")
	}
	header = append(header, "Method")
	for i, c := range t.Columns {
		if cg[i] != "" {
			header = append(header, cg[i]+"\n"+c.Label)
		} else {
			header = append(header, c.Label)
		}
	}
	tab := ascii.New(w, header, len(header)-len(t.Columns))
	for _, g := range t.RowGroups {
		for i, r := range g.Rows {
			line := leadCells(grouped, i == 0, g.Name, r.Label, noEscape)
			for _, c := range r.Cells {
				line = append(line, fn.mark(plain(r, c), c, func(s string) string { return s + "*" }, "[%d]"))
			}
			if err := tab.Append(line); err != nil {
				return fmt.Errorf("table %s: text row %q: %w", t.ID, r.Label, err)
			}
		}
	}
	if _, err := fmt.Fprintln(w, t.Title); err != nil {
		return err
	}
	if err := tab.Render(); err != nil {
		return fmt.Errorf("table %s: text: %w", t.ID, err)
	}
	var b strings.Builder
	fn.list(&b, t.Legend, "[%d] ", "\n", noEscape)
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscaper also escapes '<' (else "<b>" in a model name is inline HTML) and turns line breaks,
// \r included (a CommonMark line ending, which would end the table row), into spaces.
var mdEscaper = strings.NewReplacer(`\`, `\\`, `|`, `\|`, `*`, `\*`, `_`, `\_`, "`", "\\`", `<`, `\<`,
	"\r\n", " ", "\n", " ", "\r", " ")

// RenderMarkdown writes a GitHub-flavoured Markdown table; best values in bold, notes as [k] below.
func RenderMarkdown(w io.Writer, t *Table) error {
	fn := newFootnotes(t)
	grouped := hasGroupNames(t)
	cg := columnGroupOf(t)
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n\n", mdEscaper.Replace(t.Title))
	var head, rule []string
	if grouped {
		head, rule = append(head, "Group"), append(rule, ":--")
	}
	head, rule = append(head, "Method"), append(rule, ":--")
	for i, c := range t.Columns {
		h := c.Label
		if cg[i] != "" {
			h = cg[i] + " " + h
		}
		head, rule = append(head, mdEscaper.Replace(h)), append(rule, "--:")
	}
	fmt.Fprintf(&b, "| %s |\n| %s |\n", strings.Join(head, " | "), strings.Join(rule, " | "))
	for _, g := range t.RowGroups {
		for i, r := range g.Rows {
			line := leadCells(grouped, i == 0, g.Name, r.Label, mdEscaper.Replace)
			for _, c := range r.Cells {
				line = append(line, fn.mark(mdEscaper.Replace(plain(r, c)), c, func(s string) string { return "**" + s + "**" }, " [%d]"))
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(line, " | "))
		}
	}
	if len(fn.notes) > 0 || len(t.Legend) > 0 {
		b.WriteString("\n")
	}
	fn.list(&b, t.Legend, "[%d] ", "  \n", mdEscaper.Replace)
	_, err := io.WriteString(w, b.String())
	return err
}

// RenderCSV writes one record per row: table id, group, kind, model, label, one field per column
// (full precision; empty when unknown or not measured, else the cell's text such as "NaN"), then the notes
// as "column: note" joined by "; ". Best marks are presentation and are not written.
func RenderCSV(w io.Writer, t *Table) error {
	cw := csv.NewWriter(w)
	cg := columnGroupOf(t)
	head := []string{"table", "group", "kind", "model", "label"}
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = strings.TrimSpace(cg[i] + " " + c.Label)
		head = append(head, names[i])
	}
	head = append(head, "notes")
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("table %s: csv: %w", t.ID, err)
	}
	for _, g := range t.RowGroups {
		for _, r := range g.Rows {
			rec := []string{t.ID, g.Name, string(r.Kind), r.Model, r.Label}
			var notes []string
			for i, c := range r.Cells {
				switch {
				case c.Value != nil:
					rec = append(rec, strconv.FormatFloat(*c.Value, 'f', -1, 64))
				case c.Text == NotMeasured: // empty like unknown, so numeric parsers accept the column
					rec = append(rec, "")
				default:
					rec = append(rec, c.Text)
				}
				if c.Note != "" {
					notes = append(notes, names[i]+": "+c.Note)
				}
			}
			rec = append(rec, strings.Join(notes, "; "))
			if err := cw.Write(rec); err != nil {
				return fmt.Errorf("table %s: csv row %q: %w", t.ID, r.Label, err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("table %s: csv: %w", t.ID, err)
	}
	return nil
}

// RenderJSON writes the table model as indented JSON (fields as documented on Table, Row, Cell);
// unknown values are null.
func RenderJSON(w io.Writer, t *Table) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("table %s: json: %w", t.ID, err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// texEscaper also spells out <, > and |, which LaTeX's default OT1 text font prints as ¡, ¿ and an
// em dash.
var texEscaper = strings.NewReplacer(
	`\`, `\textbackslash{}`, `&`, `\&`, `%`, `\%`, `$`, `\$`, `#`, `\#`, `_`, `\_`,
	`{`, `\{`, `}`, `\}`, `~`, `\textasciitilde{}`, `^`, `\textasciicircum{}`,
	`<`, `\textless{}`, `>`, `\textgreater{}`, `|`, `\textbar{}`,
	"\u2713", `\checkmark{}`, "\u2717", `$\times$`, "\u2013", `--`, "\r\n", " ", "\n", " ", "\r", " ",
)

// RenderLaTeX writes a booktabs table (needs \usepackage{booktabs} and amssymb for \checkmark):
// column groups as \multicolumn with \cmidrule, row groups as italic heading lines, best in \textbf,
// notes as superscript numbers listed under the tabular.
func RenderLaTeX(w io.Writer, t *Table) error {
	fn := newFootnotes(t)
	var b strings.Builder
	ncol := 1 + len(t.Columns)
	fmt.Fprintf(&b, "\\begin{table}[t]\n\\centering\n\\caption{%s}\n\\label{tab:%s}\n", texEscaper.Replace(t.Title), texEscaper.Replace(t.ID))
	fmt.Fprintf(&b, "\\begin{tabular}{l%s}\n\\toprule\n", strings.Repeat("c", len(t.Columns)))
	named := false
	for _, g := range t.ColumnGroups {
		named = named || g.Name != ""
	}
	if named {
		var cells, rules []string
		col := 2
		for _, g := range t.ColumnGroups {
			cells = append(cells, fmt.Sprintf("\\multicolumn{%d}{c}{%s}", g.Span, texEscaper.Replace(g.Name)))
			if g.Name != "" {
				rules = append(rules, fmt.Sprintf("\\cmidrule(lr){%d-%d}", col, col+g.Span-1))
			}
			col += g.Span
		}
		fmt.Fprintf(&b, " & %s \\\\\n%s\n", strings.Join(cells, " & "), strings.Join(rules, " "))
	}
	head := []string{"Method"}
	for _, c := range t.Columns {
		head = append(head, texEscaper.Replace(c.Label))
	}
	fmt.Fprintf(&b, "%s \\\\\n\\midrule\n", strings.Join(head, " & "))
	for gi, g := range t.RowGroups {
		if gi > 0 {
			b.WriteString("\\midrule\n")
		}
		if g.Name != "" {
			fmt.Fprintf(&b, "\\multicolumn{%d}{l}{\\textit{%s}} \\\\\n", ncol, texEscaper.Replace(g.Name))
		}
		for _, r := range g.Rows {
			line := []string{texEscaper.Replace(r.Label)}
			for _, c := range r.Cells {
				s := texEscaper.Replace(plain(r, c))
				switch {
				case c.Value != nil && *c.Value < 0:
					s = "$-$" + s[1:] // a minus sign, not a hyphen
				}
				line = append(line, fn.mark(s, c, func(s string) string { return "\\textbf{" + s + "}" }, "\\textsuperscript{%d}"))
			}
			fmt.Fprintf(&b, "%s \\\\\n", strings.Join(line, " & "))
		}
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n")
	if len(fn.notes) > 0 || len(t.Legend) > 0 {
		b.WriteString("\\par\\smallskip\\footnotesize\n")
	}
	fn.list(&b, t.Legend, "\\textsuperscript{%d} ", "\\\\\n", texEscaper.Replace)
	b.WriteString("\\end{table}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
