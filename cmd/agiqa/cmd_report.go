package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/breakdown"
	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/signif"
	"github.com/agiqa-bench/agiqa/bench/table"
)

func init() {
	register(command{name: "report", summary: "run what tables runs and write everything into one self-contained HTML file", run: runReport})
}

const reportUsage = `
Usage: agiqa report -o report.html [tables flags]

Runs what 'agiqa tables' runs (the same flags choose servers, datasets, models
and splits; cached predictions are reused, so after a tables run nothing is
inferred) and writes one HTML file that opens offline: no network, no external
script or style, plots as inline SVG. It holds Tables 1-3 with the paper's rows
and the differences (--tables, --paper default to 1,2,3 and true here), the
significance matrices (--alpha, --bootstrap), breakdowns (--by; default every
one of generator, style, adjective, prompt-length and degradation a dataset
has), the cross-dataset table (--cross-dataset), prediction-vs-MOS scatter plots
with a 4-parameter logistic fit, the spread over splits, the serving speed when
requests were timed (images were inferred in this run), and the provenance
block 'tables --format json' ends with.

Example:
  agiqa report -o report.html
  agiqa report --server localhost:8001 --dataset agiqa-3k=~/data/AGIQA-3k --dataset agiqa-1k=~/data/AGIQA-1k --cross-dataset -o report.html`

// reportCmd is the report's side of runTablesAs.
type reportCmd struct{}

func runReport(ctx context.Context, io cmdIO, args []string) error {
	return runTablesAs(ctx, io, args, &reportCmd{})
}

// flagSet re-registers the tables flags under the report's name and usage, with the report's
// defaults, and installs the hook that writes the page.
func (*reportCmd) flagSet(io cmdIO, tfs *flag.FlagSet, f *tablesFlags) *flag.FlagSet {
	fs := newFlags(io, "report", reportUsage)
	f.tables, f.paper = "1,2,3", true
	tfs.VisitAll(func(fl *flag.Flag) {
		usage := fl.Usage
		switch fl.Name {
		case "o":
			usage = "write the HTML report to `file` (required)"
		case "format":
			usage = "ignored by report (the report is HTML)"
		}
		fs.Var(fl.Value, fl.Name, usage)
		fs.Lookup(fl.Name).DefValue = fl.Value.String()
	})
	f.extra.report = writeReport
	return fs
}

// reportColumns are the breakdowns the report shows for ds without --by.
var reportColumns = []string{dataset.AttrGenerator, dataset.AttrStyle, dataset.AttrAdjective, breakdown.PromptLength, dataset.AttrDegradation}

// writeReport renders the run as one page into -o; --report and --plots are written as tables writes
// them (a run that stopped leaves -o as it was and writes the page beside it as .partial).
func writeReport(_ context.Context, io cmdIO, run *tablesRun) error {
	f := run.f
	var d htmlDoc
	d.printf("<h1>agiqa report</h1>\n<p>agiqa %s; server %s; datasets: %s.</p>\n", esc(run.prov.Agiqa), esc(run.prov.Server.Address), esc(datasetNames(run.datasets)))
	if err := errors.Join(append([]error{run.runErr}, run.allFailed...)...); err != nil {
		d.printf("<p class=\"err\">The run reported errors: %s. What was measured is shown.</p>\n", esc(err.Error()))
	}
	inDomain := make([]*runner.ModelResult, 0, len(run.results))
	for _, r := range run.results {
		if r.TrainedOn == "" {
			inDomain = append(inDomain, r)
		}
	}
	ms := runner.Measurements(run.results)
	topt := table.Options{Paper: f.paper, Splits: run.nsplits, Unserved: run.unserved}
	d.printf("<h2 id=\"tables\">Paper tables</h2>\n")
	for _, n := range run.which {
		d.table([]func([]table.Measurement, table.Options) *table.Table{table.Table1, table.Table2, table.Table3}[n-1](ms, topt))
	}
	reportSignificance(&d, f, inDomain)
	reportBreakdowns(&d, f, run)
	if t := breakdown.CrossTable(run.results); t != nil {
		d.printf("<h2 id=\"cross\">Cross-dataset</h2>\n")
		d.table(t)
	}
	reportScatter(&d, run.results)
	reportSpread(&d, run.results)
	if timed(run.results) {
		d.printf("<h2 id=\"speed\">Serving speed</h2>\n")
		d.table(timingTable(run.results))
	} else {
		d.printf("<h2 id=\"speed\">Serving speed</h2>\n<p>Not recorded: every prediction came from the cache, so no request of this run was timed.</p>\n")
	}
	reportProvenance(&d, run.prov)
	page := fmt.Sprintf(reportHead, esc("agiqa report")) + d.b.String() + "</body>\n</html>\n"

	errs := append([]error{run.runErr}, run.allFailed...)
	if f.report != "" {
		errs = append(errs, writeOutputJSON("--report", f.report, run.results, run.runErr))
	}
	if f.plots != "" {
		if err := writePlots(f.plots, run.results, io.stderr); err != nil {
			errs = append(errs, fmt.Errorf("--plots %s: %w", f.plots, err))
		}
	}
	if err := writeOutput("-o", f.out, []byte(page), run.runErr); err != nil {
		errs = append(errs, err)
	} else {
		fmt.Fprintf(io.stderr, "wrote %s\n", f.out)
	}
	return errors.Join(errs...)
}

func datasetNames(ds []evalDataset) string {
	var names []string
	for _, d := range ds {
		names = append(names, fmt.Sprintf("%s (%d images, %d splits)", d.ds.Name, len(d.ds.Items), len(d.splits.Splits)))
	}
	return strings.Join(names, ", ")
}

func reportSignificance(d *htmlDoc, f *tablesFlags, results []*runner.ModelResult) {
	d.printf("<h2 id=\"significance\">Significance between rows</h2>\n")
	opt := signif.DefaultOptions()
	if f.signif != nil {
		opt = f.signif.opt
	}
	rep, err := signif.Compute(results, opt)
	if err != nil {
		d.printf("<p class=\"err\">%s</p>\n", esc(err.Error()))
		return
	}
	tabs := signif.Tables(rep)
	if len(tabs) == 0 {
		d.printf("<p>No dataset and target has two measured rows to compare.</p>\n")
	}
	for _, t := range tabs {
		d.table(t)
	}
}

func reportBreakdowns(d *htmlDoc, f *tablesFlags, run *tablesRun) {
	d.printf("<h2 id=\"breakdowns\">Breakdowns</h2>\n")
	opt := breakdown.Options{MinN: f.extra.minN}
	for _, ed := range run.datasets {
		cols := f.extra.byColumns()
		if len(cols) == 0 {
			have := breakdown.Columns(ed.ds)
			for _, c := range reportColumns {
				if contains(have, c) {
					cols = append(cols, c)
				}
			}
		}
		for _, col := range cols {
			ts, err := breakdown.Tables(run.results, []*dataset.Dataset{ed.ds}, col, opt)
			if err != nil {
				d.printf("<p class=\"err\">%s</p>\n", esc(err.Error()))
				continue
			}
			for _, t := range ts {
				d.table(t)
			}
		}
	}
}

// scored lists a run's results with something to plot, targets sorted.
func scored(results []*runner.ModelResult, each func(r *runner.ModelResult, target string)) {
	for _, r := range results {
		if r.Skipped != "" {
			continue
		}
		ts := make([]string, 0, len(r.Summary))
		for t := range r.Summary {
			ts = append(ts, t)
		}
		sort.Strings(ts)
		for _, t := range ts {
			each(r, t)
		}
	}
}

func resultTitle(r *runner.ModelResult, target string) string {
	s := fmt.Sprintf("%s on %s, %s", breakdown.Label(r), table.DatasetName(r.Dataset), target)
	if r.TrainedOn != "" {
		s += " (trained on " + table.DatasetName(r.TrainedOn) + ")"
	}
	return s
}

func reportScatter(d *htmlDoc, results []*runner.ModelResult) {
	d.printf("<h2 id=\"scatter\">Prediction vs MOS</h2>\n<p class=\"legend\">Every scored (prediction, MOS) pair pooled over the splits' test sets (an image tested in several splits appears once per split), predictions as served.</p>\n<div class=\"plots\">\n")
	scored(results, func(r *runner.ModelResult, t string) {
		if len(r.Pred[t]) == 0 {
			return
		}
		svg, note := scatterSVG(r.Pred[t], r.MOS[t], "prediction ("+t+")")
		d.printf("<figure>%s<figcaption>%s: %s</figcaption></figure>\n", svg, esc(resultTitle(r, t)), esc(note))
	})
	d.printf("</div>\n")
}

func reportSpread(d *htmlDoc, results []*runner.ModelResult) {
	d.printf("<h2 id=\"spread\">Spread over splits</h2>\n<p class=\"legend\">Blue: one split's (or one version's) value; red: the mean the tables report.</p>\n<div class=\"plots\">\n")
	scored(results, func(r *runner.ModelResult, t string) {
		per := map[string][]float64{}
		for _, s := range r.Splits {
			if s.Target == t {
				per["srcc"] = append(per["srcc"], s.Scores.SRCC)
				per["plcc"] = append(per["plcc"], s.Scores.PLCC)
				per["krcc"] = append(per["krcc"], s.Scores.KRCC)
			}
		}
		sum := r.Summary[t]
		d.printf("<figure>%s<figcaption>%s: %d splits; SRCC std %s</figcaption></figure>\n", spreadSVG(per), esc(resultTitle(r, t)), sum.Splits, esc(tick(sum.SRCC.Std)))
	})
	d.printf("</div>\n")
}

// timed reports whether any request of the run was timed (some image was inferred).
func timed(results []*runner.ModelResult) bool {
	for _, r := range results {
		for _, rep := range r.Runs {
			if len(rep.RequestLatencyMS) > 0 {
				return true
			}
		}
	}
	return false
}

func reportProvenance(d *htmlDoc, p *Provenance) {
	d.printf("<h2 id=\"provenance\">Provenance</h2>\n")
	srv := fmt.Sprintf("%s %s", p.Server.Name, p.Server.Version)
	if p.Server.Error != "" {
		srv = "ServerMetadata failed: " + p.Server.Error
	}
	d.kv([][2]string{{"agiqa", p.Agiqa}, {"Go", p.Go}, {"server address", p.Server.Address}, {"model repository", p.Server.Repo},
		{"server", srv}, {"alignment protocol", p.Run.AlignmentProtocol}, {"PLCC fit", p.Run.PLCCFit}, {"cross-dataset", fmt.Sprint(p.Run.CrossDataset)}})
	d.printf("<table class=\"t\" id=\"provenance-datasets\"><caption>Datasets and splits</caption><thead><tr><th class=\"label\">dataset</th><th>label file</th><th>label sha256</th><th>splits</th><th>splits sha256</th></tr></thead><tbody>\n")
	for _, ds := range p.Datasets {
		src := fmt.Sprintf("%s, %d, %s, seed %d", ds.Splits.Source, ds.Splits.N, ds.Splits.Protocol, ds.Splits.Seed)
		if ds.Splits.Path != "" {
			src += ", " + ds.Splits.Path
		}
		d.printf("<tr><th class=\"label\">%s</th><td class=\"text\"><code>%s</code></td><td class=\"text\"><code data-prov=\"label_sha256\" data-dataset=\"%s\">%s</code></td><td class=\"text\">%s</td><td class=\"text\"><code data-prov=\"splits_sha256\" data-dataset=\"%s\">%s</code></td></tr>\n",
			esc(ds.Name), esc(ds.LabelFile), esc(ds.Name), esc(ds.LabelSHA256), esc(src), esc(ds.Name), esc(ds.Splits.SHA256))
	}
	d.printf("</tbody></table>\n")
	d.printf("<table class=\"t\" id=\"provenance-models\"><caption>Models as served</caption><thead><tr><th class=\"label\">model</th><th>versions</th><th>trained on</th><th>preprocessing</th><th>tokenizer</th><th>outputs</th><th>weights sha256</th></tr></thead><tbody>\n")
	for _, m := range p.Models {
		pre := m.Preprocess
		if m.ImageSize > 0 {
			pre += fmt.Sprintf(" %d", m.ImageSize)
		}
		tok := "none (no prompt)"
		if m.Tokenizer != "" {
			tok = fmt.Sprintf("%s [%d]", m.Tokenizer, m.TokenLength)
			if m.PromptPrefix != "" {
				tok += fmt.Sprintf(", prefix %q", m.PromptPrefix)
			}
		}
		w := m.WeightsNote
		if len(m.WeightsSHA256) > 0 {
			var kv []string
			for k, v := range m.WeightsSHA256 {
				kv = append(kv, k+"="+v)
			}
			sort.Strings(kv)
			w = strings.Join(kv, "; ")
		}
		d.printf("<tr data-model=\"%s\"><th class=\"label\">%s</th><td class=\"text\">%s</td><td class=\"text\">%s</td><td class=\"text\">%s</td><td class=\"text\">%s</td><td class=\"text\">%s</td><td class=\"text\"><code>%s</code></td></tr>\n",
			esc(m.Served), esc(m.Served), esc(strings.Join(m.Versions, ",")), esc(m.TrainedOn), esc(pre), esc(tok), esc(strings.Join(m.Outputs, ",")), esc(w))
	}
	d.printf("</tbody></table>\n")
}
