package main

import (
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/table"
)

// The report is one HTML file that needs nothing else: CSS and the error probe are inline, plots are
// inline SVG, and the Content-Security-Policy forbids every fetch, so a page that tried one would
// say so in the console instead of silently depending on the network.
const reportHead = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<script>
// Records script errors on <html data-errors>, and that the page finished loading, for headless checks.
(function () {
  var root = document.documentElement;
  function note(msg) { root.setAttribute('data-errors', (root.getAttribute('data-errors') || '') + msg + '\n'); }
  window.addEventListener('error', function (e) { note('error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || 'resource')); }, true);
  window.addEventListener('unhandledrejection', function (e) { note('rejection: ' + e.reason); });
  document.addEventListener('securitypolicyviolation', function (e) { note('csp: ' + e.blockedURI); });
  window.addEventListener('load', function () { root.setAttribute('data-loaded', '1'); });
})();
</script>
<title>%s</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; } h3 { margin-bottom: .3em; }
table.t { border-collapse: collapse; margin: .6em 0 .3em; font-variant-numeric: tabular-nums; }
table.t caption { text-align: left; font-weight: 600; padding-bottom: .3em; }
table.t th, table.t td { border-bottom: 1px solid #e3e3e3; padding: 2px 8px; text-align: right; }
table.t th.label, table.t td.text { text-align: left; }
table.t thead th { border-bottom: 2px solid #999; }
table.t tr.grp th { text-align: left; font-style: italic; background: #f4f4f4; }
table.t tr.paper { color: #666; } table.t tr.diff { color: #666; font-size: .9em; }
table.t td.best { font-weight: 700; }
table.t td.better { background: #d9f2d9; } table.t td.worse { background: #f6d6d6; }
p.legend, ol.notes { color: #555; font-size: .9em; margin: .2em 0; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-size: .85em; color: #444; max-width: 340px; }
dl.kv { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; } dl.kv dt { font-weight: 600; }
code { font-size: .9em; word-break: break-all; }
.err { color: #a00; }
</style>
</head>
<body>
`

// htmlDoc accumulates the report's body.
type htmlDoc struct{ b strings.Builder }

func esc(s string) string { return html.EscapeString(s) }

func (d *htmlDoc) printf(format string, args ...any) { fmt.Fprintf(&d.b, format, args...) }

// dataValue is a number as the data-value attribute carries it: the shortest text that reads back
// as the same float64, so a test can compare it with the JSON output exactly.
func dataValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// cellText is a cell as the text renderers show it (table's plain): the rounded number (signed in
// diff rows), else its Text, else "n/a".
func cellText(r table.Row, c table.Cell) string {
	if c.Value != nil {
		dec := 4
		if c.Decimals != nil {
			dec = *c.Decimals
		}
		s := strconv.FormatFloat(*c.Value, 'f', dec, 64)
		if r.Kind == table.KindDiff && *c.Value >= 0 {
			s = "+" + s
		}
		return s
	}
	if c.Text != "" {
		return c.Text
	}
	return "n/a"
}

// table writes t as an HTML table. Every numeric cell carries data-table, data-row ("group.row"
// indexes), data-col (the column key) and data-value; notes become numbered footnotes.
func (d *htmlDoc) table(t *table.Table) {
	if err := table.Validate(t); err != nil {
		d.printf("<p class=\"err\">%s</p>\n", esc(err.Error()))
		return
	}
	notes := map[string]int{}
	var order []string
	d.printf("<table class=\"t\" id=\"%s\" data-table=\"%s\">\n<caption>%s</caption>\n<thead>\n", esc(t.ID), esc(t.ID), esc(t.Title))
	if len(t.ColumnGroups) > 0 {
		d.printf("<tr><th></th>")
		for _, g := range t.ColumnGroups {
			d.printf("<th colspan=\"%d\">%s</th>", g.Span, esc(g.Name))
		}
		d.printf("</tr>\n")
	}
	d.printf("<tr><th></th>")
	for _, c := range t.Columns {
		d.printf("<th>%s</th>", esc(c.Label))
	}
	d.printf("</tr>\n</thead>\n<tbody>\n")
	for gi, g := range t.RowGroups {
		if g.Name != "" {
			d.printf("<tr class=\"grp\"><th colspan=\"%d\">%s</th></tr>\n", len(t.Columns)+1, esc(g.Name))
		}
		for ri, r := range g.Rows {
			d.printf("<tr class=\"%s\" data-model=\"%s\"><th class=\"label\">%s</th>", esc(string(r.Kind)), esc(r.Model), esc(r.Label))
			for ci, c := range r.Cells {
				class := cellClass(c)
				text := esc(cellText(r, c))
				if c.Note != "" {
					n, ok := notes[c.Note]
					if !ok {
						order = append(order, c.Note)
						n = len(order)
						notes[c.Note] = n
					}
					text += fmt.Sprintf("<sup>%d</sup>", n)
				}
				attrs := fmt.Sprintf(" data-row=\"%d.%d\" data-col=\"%s\"", gi, ri, esc(t.Columns[ci].Key))
				if c.Value != nil {
					attrs += fmt.Sprintf(" data-table=\"%s\" data-value=\"%s\"", esc(t.ID), dataValue(*c.Value))
				}
				if c.Note != "" {
					attrs += fmt.Sprintf(" title=\"%s\"", esc(c.Note))
				}
				d.printf("<td class=\"%s\"%s>%s</td>", class, attrs, text)
			}
			d.printf("</tr>\n")
		}
	}
	d.printf("</tbody>\n</table>\n")
	if len(order) > 0 {
		d.printf("<ol class=\"notes\">")
		for _, n := range order {
			d.printf("<li>%s</li>", esc(n))
		}
		d.printf("</ol>\n")
	}
	for _, l := range t.Legend {
		d.printf("<p class=\"legend\">%s</p>\n", esc(l))
	}
}

// cellClass marks best cells, and significance decisions by their text.
func cellClass(c table.Cell) string {
	var cls []string
	if c.Best {
		cls = append(cls, "best")
	}
	switch {
	case strings.HasPrefix(c.Text, "better"):
		cls = append(cls, "better")
	case strings.HasPrefix(c.Text, "worse"):
		cls = append(cls, "worse")
	}
	return strings.Join(cls, " ")
}

// kv writes a definition list; values are shown as code.
func (d *htmlDoc) kv(pairs [][2]string) {
	d.printf("<dl class=\"kv\">")
	for _, p := range pairs {
		d.printf("<dt>%s</dt><dd><code>%s</code></dd>", esc(p[0]), esc(p[1]))
	}
	d.printf("</dl>\n")
}
