package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agiqa-bench/agiqa/bench/metrics"
	"github.com/agiqa-bench/agiqa/bench/plot"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/bench/sample"
	"github.com/agiqa-bench/agiqa/bench/splits"
	"github.com/agiqa-bench/agiqa/bench/table"
	"github.com/agiqa-bench/agiqa/modelrepo/fetch"
	"golang.org/x/term"
)

func init() {
	register(command{name: "tables", summary: "stream datasets through every model and print the paper's Tables 1-3", run: runTables})
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// --alignment-protocol values.
const (
	alignAll   = "all"
	alignSplit = "split"
)

type tablesFlags struct {
	servers, datasets, labels         multiFlag
	repo, models, splitsArg, protocol string
	alignProtocol                     string
	seed                              uint64
	format, out, cache, plots, report string
	paper, timing, skipBad            bool
	concurrency, batch, retries       int
	plccFit, clipVocab, tables        string
	sampleSize                        int

	bertVocab string
	signif    *significanceFlags // tables_significance.go
	extra     tablesExtra        // tables_breakdown.go: --by, --cross-dataset, the report hook
	feed      *feedFlags         // feed.go: tensor cache and input transport (nil: neither)
	input     *string            // input_mode.go: tensor or encoded (nil: tensor)
}

func runTables(ctx context.Context, io cmdIO, args []string) error {
	return runTablesAs(ctx, io, args, nil)
}

// runTablesAs is runTables; a non-nil rep (agiqa report, cmd_report.go) names the flag set, sets its
// defaults and receives the finished run instead of the printed tables.
func runTablesAs(ctx context.Context, io cmdIO, args []string, rep *reportCmd) error {
	fs := newFlags(io, "tables", `
Usage: agiqa tables [--server ADDR] [--dataset NAME=DIR ...] [--models A,B] [--splits N|FILE] [flags]

Streams each dataset through every model, scores split k's test images (with
version k+1 for per-split models, k counted from 0 as in the splits file),
averages SRCC / PLCC / KRCC over the splits and
prints the paper's tables. Without --server an embedded server is started
in-process (built-in models, or --repo DIR). Without --dataset a built-in
sample dataset is generated, so the command works on a fresh machine.
Predictions are cached (--cache): an interrupted run resumes, a second run
infers nothing twice.

The embedded default (no --server, no --repo) measures Table 1's handcrafted
and SVR rows: it downloads the published NIQE, BRISQUE and CEIQ parameters the
cache lacks (not with AGIQA_OFFLINE=1; offline, install them with 'agiqa fetch
NAME --from FILE', else their rows say why they were not measured) and trains
GMLF, HIGRADE and SVRs on CEIQ's and BRISQUE's features per split on the
sample, into the folder above --cache (sample-models/, features/), once.

Datasets: agiqa-1k=DIR, agiqa-3k=DIR (labels and images found inside DIR),
csv=DIR (a folder holding one image,prompt,mos[,mos_align] CSV and the images),
sample (the built-in one, generated in $AGIQA_CACHE/sample, or sample=DIR).
--labels NAME=FILE takes a dataset's label file from elsewhere (DIR then only
needs the images). data, splits, eval and perf read --dataset the same way.

Example:
  agiqa tables
  agiqa tables --server localhost:8001 --dataset agiqa-3k=~/data/AGIQA-3k --paper --format markdown -o tables.md
  agiqa tables --dataset agiqa-1k=~/data/AGIQA-1k --labels agiqa-1k=../shared/data/agiqa-1k/AIGC_MOS_Zscore.xlsx`)
	var f tablesFlags
	fs.Var(&f.servers, "server", "Triton gRPC `address` (repeat or comma-separate for replicas); empty: embedded server")
	fs.StringVar(&f.repo, "repo", "", "model repository `dir` for the embedded server (default: built-in models)")
	fs.Var(&f.datasets, "dataset", "`name=dir` of a dataset to evaluate (repeatable); default: the built-in sample")
	fs.Var(&f.labels, "labels", "`name=file`: the label file of dataset name, instead of the one inside its dir (repeatable)")
	fs.StringVar(&f.models, "models", "", "comma-separated model `names` (default: every ready model)")
	fs.StringVar(&f.splitsArg, "splits", "10", "`N|FILE`: number of random splits, or a splits file from 'agiqa splits' (NAME=FILE,... for several datasets)")
	fs.StringVar(&f.protocol, "protocol", splits.Paper, "split `protocol` when drawing splits: paper or holdout")
	fs.Uint64Var(&f.seed, "seed", 42, "`seed` for drawing splits")
	fs.StringVar(&f.alignProtocol, "alignment-protocol", alignAll, "how zero-shot models' alignment is scored: `all` (one correlation over every image, as the AGIQA-3k authors benchmarked CLIPScore, ImageReward and HPS) or split (mean over the splits' test sets, like per-split models)")
	fs.StringVar(&f.format, "format", "text", "output `format`: text, markdown, csv, json, latex")
	fs.StringVar(&f.out, "o", "", "write the tables to `file` instead of stdout")
	fs.StringVar(&f.tables, "tables", "1,2", "which `tables` to print (1, 2, 3)")
	fs.BoolVar(&f.paper, "paper", false, "add the paper's row and the difference under each measured row")
	fs.BoolVar(&f.timing, "timing", false, "also report images/s and request latency per model")
	fs.StringVar(&f.cache, "cache", filepath.Join(fetch.DefaultCacheDir(), "predictions"), "prediction cache `dir`")
	fs.StringVar(&f.plots, "plots", "", "write prediction-vs-MOS scatter PNGs into `dir`")
	fs.StringVar(&f.report, "report", "", "write every per-split score and run report as JSON to `file`")
	fs.BoolVar(&f.skipBad, "skip-bad-images", false, "drop images that fail the preflight instead of refusing to start")
	fs.IntVar(&f.concurrency, "concurrency", 4, "requests in flight per model")
	fs.IntVar(&f.batch, "batch", 8, "images per request (capped by max_batch_size)")
	fs.IntVar(&f.retries, "retries", 2, "retries of a failed request")
	fs.StringVar(&f.plccFit, "plcc-fit", "none", "logistic `fit` before PLCC: none, logistic4, logistic5")
	fs.StringVar(&f.clipVocab, "clip-vocab", "", "CLIP BPE vocabulary `file` for prompt models (default $AGIQA_CLIP_VOCAB or the cache)")
	fs.StringVar(&f.bertVocab, "bert-vocab", "", bertVocabUsage)
	fs.IntVar(&f.sampleSize, "sample-size", sample.DefaultImages, sampleSizeUsage)
	limits := addLimitFlags(fs)
	f.feed = addFeedFlags(fs)
	f.input = addInputFlag(fs)
	f.signif = addSignificanceFlags(fs)
	addExtraFlags(fs, &f)
	if rep != nil {
		fs = rep.flagSet(io, fs, &f)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if err := limits.apply(); err != nil {
		return err
	}
	return tables(ctx, io, &f)
}

func tables(ctx context.Context, io cmdIO, f *tablesFlags) error {
	fit, err := metrics.ParseFitKind(f.plccFit)
	if err != nil {
		return usagef("--plcc-fit: %v", err)
	}
	var which []int
	for _, s := range strings.Split(f.tables, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 3 {
			return usagef("--tables: %q is not 1, 2 or 3", s)
		}
		which = append(which, n)
	}
	if !slices.Contains(table.Formats, f.format) {
		return usagef("--format: unknown format %q (want one of %s)", f.format, strings.Join(table.Formats, ", "))
	}
	switch {
	case f.concurrency < 1:
		return usagef("--concurrency %d: want at least 1", f.concurrency)
	case f.batch < 1:
		return usagef("--batch %d: want at least 1", f.batch)
	case f.retries < 0:
		return usagef("--retries %d: want 0 or more", f.retries)
	case f.protocol != splits.Paper && f.protocol != splits.Holdout:
		return usagef("--protocol: unknown split protocol %q (want %s or %s)", f.protocol, splits.Paper, splits.Holdout)
	case f.alignProtocol != alignAll && f.alignProtocol != alignSplit:
		return usagef("--alignment-protocol: unknown protocol %q (want %s or %s)", f.alignProtocol, alignAll, alignSplit)
	}
	if err := checkSampleSize(f.sampleSize); err != nil {
		return err
	}
	// Output paths are checked before the run, not after minutes of inference.
	for _, o := range []struct{ flag, path string }{{"-o", f.out}, {"--report", f.report}} {
		if err := checkOutputFile(o.flag, o.path); err != nil {
			return err
		}
	}
	if err := checkOutputDir("--plots", f.plots); err != nil {
		return err
	}
	if err := checkOutputDir("--cache", f.cache); err != nil {
		return err
	}
	if err := f.feed.check(); err != nil {
		return err
	}
	inputMode := inputModeTensor
	if f.input != nil {
		inputMode = *f.input
	}
	if err := checkInputMode(inputMode); err != nil {
		return err
	}

	if err := checkServers(f.servers); err != nil {
		return err
	}
	// Each dataset and model once: two runs of one would be measured twice
	// and one of them dropped from the tables.
	seen := map[string]bool{}
	for _, spec := range f.datasets {
		src, err := parseDatasetSpec(spec)
		if err != nil {
			return err
		}
		if err := src.check(); err != nil {
			return err
		}
		if seen[src.name] {
			return usagef("--dataset: %s given twice", src.name)
		}
		seen[src.name] = true
	}
	if f.models != "" {
		names := modelList(f.models)
		if len(names) == 0 {
			return usagef("--models %q: no model named", f.models)
		}
		for i, n := range names {
			if slices.Contains(names[:i], n) {
				return usagef("--models: %s named twice", n)
			}
		}
	}
	if len(f.servers) > 0 && f.repo != "" {
		return usagef("--repo: only for the embedded server, not with --server")
	}
	if err := checkRepoDir(f.repo); err != nil {
		return err
	}

	noteJPEGDecoder(io.stderr)
	datasets, err := loadDatasets(ctx, io, f)
	if err != nil {
		return err
	}
	if err := checkExtra(f, datasets); err != nil {
		return err
	}

	// The embedded default measures Table 1's SVR rows on the sample: they are trained here, per
	// split, once (later runs keep them).
	var trained string
	if len(f.servers) == 0 && f.repo == "" {
		fetchPublishedParams(ctx, io)
		if trained, err = trainSampleModels(ctx, io, filepath.Dir(f.cache), datasets, modelList(f.models)); err != nil {
			return err
		}
	}
	c, stop, err := connect(ctx, io, []string(f.servers), f.repo, trained)
	if err != nil {
		return err
	}
	defer stop()

	models, unserved, err := selectModels(ctx, c, f.models, io.stderr)
	if err != nil {
		return err
	}
	if models, err = chooseInput(ctx, c, models, inputMode, f.models != "", io.stderr); err != nil {
		return err
	}
	// A per-split model lacking a version one of its splits needs: an error
	// when named, left out (and said so) when picked by default, as a model
	// that is not ready at all is.
	unservable := map[[2]string]string{}
	for _, d := range datasets {
		for _, m := range models {
			why, err := missingSplitVersions(ctx, c, m, d)
			if err != nil {
				return err
			}
			if why == "" {
				continue
			}
			if f.models != "" {
				return fmt.Errorf("model %s on %s: %s", m.Name, d.ds.Name, why)
			}
			unservable[[2]string{m.Name, d.ds.Name}] = why
		}
	}
	tok, err := loadTokenizers(models, f.clipVocab, f.bertVocab)
	if err != nil {
		return err
	}

	isTTY := false
	if fd, ok := io.stderr.(*os.File); ok {
		isTTY = term.IsTerminal(int(fd.Fd()))
	}
	opt := runner.EvalOptions{
		CacheDir:           f.cache,
		Fit:                fit,
		AlignmentAllImages: f.alignProtocol == alignAll,
		CrossDataset:       f.extra.cross,
		Run: runner.Options{
			Concurrency: f.concurrency, Batch: f.batch, Retries: retriesOption(f.retries), Tokenizer: tok,
			Progress: runner.NewProgress(io.stderr, isTTY, 5*time.Second),
		},
	}
	if err := f.feed.apply(ctx, io, c, f.servers, &opt.Run); err != nil {
		return err
	}
	var results []*runner.ModelResult
	var runErr error
	var allFailed []error       // models none of whose requests succeeded: exit non-zero
	nsplits := map[string]int{} // per dataset: each has its own splits file
	for _, d := range datasets {
		nsplits[d.ds.Name] = len(d.splits.Splits)
		for _, m := range models {
			if why := unservable[[2]string{m.Name, d.ds.Name}]; why != "" {
				fmt.Fprintf(io.stderr, "%s on %s: skipped (%s)\n", m.Name, d.ds.Name, why)
				results = append(results, &runner.ModelResult{Model: m.Name, Catalog: m.Catalog, Dataset: d.ds.Name, Skipped: why})
				continue
			}
			res, err := runner.Evaluate(ctx, c, m, d.ds, d.splits, opt)
			if res != nil {
				results = append(results, res)
				for _, w := range res.Warnings() {
					fmt.Fprintf(io.stderr, "warning: %s: %s\n", d.ds.Name, w)
				}
				if res.Skipped != "" {
					fmt.Fprintf(io.stderr, "%s on %s: skipped (%s)\n", m.Name, d.ds.Name, res.Skipped)
				} else if res.Failed > 0 {
					fmt.Fprintf(io.stderr, "%s on %s: %d images failed; first: %s\n", m.Name, d.ds.Name, res.Failed, firstError(res))
					if noneScored(res) { // its row would be NaN: the run failed, not the model
						allFailed = append(allFailed, fmt.Errorf("%s on %s: every one of its %d images failed; first: %s", m.Name, d.ds.Name, res.Failed, firstError(res)))
					}
				}
			}
			if err != nil {
				// Keep what was measured: print it, then report the error.
				runErr = fmt.Errorf("%s on %s: %w", m.Name, d.ds.Name, err)
				break
			}
		}
		if runErr != nil {
			break
		}
	}

	prov := collectProvenance(ctx, c, f, datasets, models)
	if f.extra.report != nil {
		return f.extra.report(ctx, io, &tablesRun{f: f, which: which, datasets: datasets, results: results, nsplits: nsplits, unserved: unserved, prov: prov, runErr: runErr, allFailed: allFailed})
	}

	// Every output is attempted even when one fails, and the tables are
	// always printed: the inference is done (and cached) by now, and one
	// unwritable file must not hide the numbers it produced.
	errs := append([]error{runErr}, allFailed...)
	if f.report != "" {
		errs = append(errs, writeOutputJSON("--report", f.report, results, runErr))
	}
	if f.plots != "" {
		if err := writePlots(f.plots, results, io.stderr); err != nil {
			errs = append(errs, fmt.Errorf("--plots %s: %w", f.plots, err))
		}
	}
	var buf bytes.Buffer
	if err := renderTables(&buf, f, which, results, nsplits, unserved); err != nil {
		errs = append(errs, err)
	} else if err := renderExtra(&buf, f, datasets, results, prov); err != nil {
		errs = append(errs, err)
	}
	if f.out == "" {
		if _, err := io.stdout.Write(buf.Bytes()); err != nil {
			errs = append(errs, err)
		}
	} else if err := writeOutput("-o", f.out, buf.Bytes(), runErr); err != nil {
		errs = append(errs, err)
		if runErr == nil { // unwritable: the numbers must not be lost
			errs[len(errs)-1] = fmt.Errorf("%w; the tables were printed to stdout instead", err)
			io.stdout.Write(buf.Bytes())
		}
	}
	return errors.Join(errs...)
}

// renderTables writes the --tables selection (and --timing) in f.format.
func renderTables(w io.Writer, f *tablesFlags, which []int, results []*runner.ModelResult, nsplits map[string]int, unserved map[string]string) error {
	ms := runner.Measurements(results)
	topt := table.Options{Paper: f.paper, Splits: nsplits, Unserved: unserved}
	// JSON and CSV documents follow one another without a blank line.
	sep := f.format != "json" && f.format != "csv"
	for i, n := range which {
		var t *table.Table
		switch n {
		case 1:
			t = table.Table1(ms, topt)
		case 2:
			t = table.Table2(ms, topt)
		case 3:
			t = table.Table3(ms, topt)
		}
		if i > 0 && sep {
			fmt.Fprintln(w)
		}
		if err := table.Render(w, t, f.format); err != nil {
			return err
		}
	}
	if f.timing {
		if sep {
			fmt.Fprintln(w)
		}
		if err := table.Render(w, timingTable(results), f.format); err != nil {
			return err
		}
	}
	return renderSignificance(w, f.signif, f.format, results, sep)
}

// noneScored: every run of r failed all its items (none cached, none answered).
func noneScored(r *runner.ModelResult) bool {
	for _, rep := range r.Runs {
		if rep.Cached+rep.Inferred > 0 {
			return false
		}
	}
	return r.Failed > 0
}

func firstError(r *runner.ModelResult) string {
	for _, rep := range r.Runs {
		if len(rep.Errors) > 0 {
			return rep.Errors[0].Image + ": " + rep.Errors[0].Error
		}
	}
	return "?"
}

func writePlots(dir string, results []*runner.ModelResult, stderr io.Writer) error {
	var series []plot.Series
	for _, r := range results {
		targets := make([]string, 0, len(r.Pred))
		for t := range r.Pred {
			targets = append(targets, t)
		}
		sort.Strings(targets)
		for _, t := range targets {
			series = append(series, plot.Series{
				Model: r.Model, Group: r.Dataset + "-" + t, Pred: r.Pred[t], MOS: r.MOS[t],
				XLabel: "prediction (" + t + ")", YLabel: "MOS",
			})
		}
	}
	paths, err := plot.WriteAll(dir, series)
	for _, p := range paths {
		fmt.Fprintf(stderr, "wrote %s\n", p)
	}
	return err
}

// timingTable reports the speed of the very requests that produced the
// scores; its percentiles are agiqa perf's (nearest rank, metrics.Percentile).
func timingTable(results []*runner.ModelResult) *table.Table {
	t := &table.Table{
		ID:    "timing",
		Title: "Serving speed of the evaluation requests (client-side)",
		Columns: []table.Column{
			{Key: "images_per_s", Label: "images/s"}, {Key: "requests", Label: "requests"},
			{Key: "p50", Label: "p50 ms"}, {Key: "p90", Label: "p90 ms"}, {Key: "p99", Label: "p99 ms"}, {Key: "max", Label: "max ms"},
		},
	}
	var rows []table.Row
	for _, r := range results {
		var lat []float64
		images := 0
		secs := 0.0
		for _, rep := range r.Runs {
			lat = append(lat, rep.RequestLatencyMS...)
			images += rep.Inferred
			secs += rep.ElapsedSeconds
		}
		row := table.Row{Label: r.Model + " (" + r.Dataset + ")", Model: r.Model, Kind: table.KindMeasured}
		if len(lat) == 0 {
			note := "all predictions from the cache"
			if r.Skipped != "" {
				note = "skipped: " + r.Skipped
			}
			for range t.Columns {
				row.Cells = append(row.Cells, table.Cell{Text: "–", Note: note})
			}
			rows = append(rows, row)
			continue
		}
		sort.Float64s(lat)
		v := func(x float64, decimals int) table.Cell { return table.Cell{Value: &x, Decimals: &decimals} }
		row.Cells = []table.Cell{
			v(float64(images)/secs, 1), v(float64(len(lat)), 0),
			v(metrics.Percentile(lat, 50), 2), v(metrics.Percentile(lat, 90), 2), v(metrics.Percentile(lat, 99), 2), v(lat[len(lat)-1], 2),
		}
		rows = append(rows, row)
	}
	t.RowGroups = []table.RowGroup{{Rows: rows}}
	return t
}
