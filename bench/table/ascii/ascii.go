// Package ascii builds the plain-ASCII tablewriter tables that the harness prints on terminals (the
// paper tables of bench/table and the latency tables of bench/perf), so that all of them look alike.
// It is its own package so that bench/perf need not import bench/table and the baseline catalog.
package ascii

import (
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// New returns a table writing to w with the given header (centred, taken as written: no auto-format,
// no wrapping); the first left columns are left-aligned, the rest right-aligned.
func New(w io.Writer, header []string, left int) *tablewriter.Table {
	align := make(tw.Alignment, len(header))
	for i := range align {
		align[i] = tw.AlignRight
		if i < left {
			align[i] = tw.AlignLeft
		}
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignCenter),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	t.Header(header)
	return t
}
