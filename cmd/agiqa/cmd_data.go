package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/sample"
	"github.com/agiqa-bench/agiqa/modelrepo/fetch"
)

func init() {
	register(command{name: "data", summary: "list a dataset's labelled images and check its files", run: runData})
}

// datasetFlags are the flags that pick a dataset, shared by data and splits.
type datasetFlags struct {
	name, labels, images, dir string
	sampleSize                int
	limits                    *limitFlags
}

func addDatasetFlags(fs *flag.FlagSet) *datasetFlags {
	d := &datasetFlags{}
	fs.StringVar(&d.name, "dataset", "", "dataset `name` ("+strings.Join(dataset.Names(), ", ")+"), or NAME=DIR as --dir gives it")
	fs.StringVar(&d.labels, "labels", "", "label `file` (data.csv, AIGC_MOS_Zscore.xlsx, AIGC_all.csv or a CSV with image,prompt,mos[,mos_align][,group]); with --dir, the images are found there")
	fs.StringVar(&d.images, "images", "", "image `folder` (sample: where the images are generated; default $AGIQA_CACHE/sample)")
	fs.StringVar(&d.dir, "dir", "", "dataset `folder`: finds the label file and the image folder in it (sample: where it is generated)")
	fs.IntVar(&d.sampleSize, "sample-size", sample.DefaultImages, sampleSizeUsage)
	d.limits = addLimitFlags(fs)
	return d
}

// open loads the dataset the flags name, by the rule every command shares
// (datasetSource.resolve).
func (d *datasetFlags) open(ctx context.Context) (*dataset.Dataset, error) {
	if d.name == "" {
		return nil, usagef("--dataset is required (one of %s)", strings.Join(dataset.Names(), ", "))
	}
	if err := d.limits.apply(); err != nil {
		return nil, err
	}
	src, err := parseDatasetSpec(d.name)
	if err != nil {
		return nil, err
	}
	if d.dir != "" {
		if src.dir != "" {
			return nil, usagef("--dataset %s and --dir %s: give the folder once", d.name, d.dir)
		}
		src.dir, src.where = d.dir, "--dir "+d.dir
	}
	src.labels, src.images = d.labels, d.images
	return src.resolve(ctx, d.sampleSize, false)
}

// datasetSource is a dataset as a command line names it: --dataset NAME or
// NAME=DIR, and a label file or image folder given apart. Every command
// that reads a dataset (data, splits, eval, perf, tables) resolves it with
// resolve, so the same words mean the same files everywhere.
type datasetSource struct {
	spec   string // the --dataset value as given
	where  string // the flag and value that named the folder, for messages
	name   string
	dir    string // NAME=DIR (or --dir): label file and images are found in it
	labels string // a label file kept elsewhere; the images are then found in dir
	images string // an image folder kept elsewhere (data and splits' --images)
}

// parseDatasetSpec reads --dataset NAME or NAME=DIR; the name must be one
// a loader knows.
func parseDatasetSpec(spec string) (datasetSource, error) {
	name, dir, _ := strings.Cut(spec, "=")
	if err := checkDatasetName(spec, name); err != nil {
		return datasetSource{}, err
	}
	return datasetSource{spec: spec, where: "--dataset " + spec, name: name, dir: dir}, nil
}

// check refuses, before any file is read, a dataset that names no files: any
// but the sample needs a folder or a label file.
func (s datasetSource) check() error {
	if s.name != dataset.Sample && s.dir == "" && s.labels == "" {
		return usagef("--dataset %q: want NAME=DIR (names: %s) or sample", s.spec, strings.Join(nonSample(dataset.Names()), ", "))
	}
	return nil
}

// sampleDir is where the built-in sample is generated unless a folder is
// named: the agiqa cache ($AGIQA_CACHE, else $XDG_CACHE_HOME/agiqa, else
// ~/.cache/agiqa), beside the prediction cache and the fetched weights.
func sampleDir() string { return filepath.Join(fetch.DefaultCacheDir(), "sample") }

// resolve loads the dataset. The sample (without a label file) is generated,
// sampleSize images, into its folder or sampleDir. Otherwise the label file
// is the one given, or the one Locate finds in dir; the images are the folder
// given, or the one found in dir. needImages refuses a dataset without
// images (commands that decode them); ~ is expanded in every path.
func (s datasetSource) resolve(ctx context.Context, sampleSize int, needImages bool) (*dataset.Dataset, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.name == dataset.Sample && s.labels == "" {
		if err := checkSampleSize(sampleSize); err != nil {
			return nil, err
		}
		return sample.Generate(ctx, expandHome(cmp.Or(s.dir, s.images, sampleDir())), sampleSize)
	}
	labels, images := expandHome(s.labels), expandHome(s.images)
	dir := expandHome(s.dir)
	switch {
	case labels == "":
		l, i, err := dataset.Locate(s.name, dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.where, err)
		}
		labels = l
		images = cmp.Or(images, i)
	case images == "" && dir != "":
		images = dataset.FindImages(dir)
	}
	if images == "" && needImages {
		if dir == "" {
			return nil, fmt.Errorf("--dataset %s: no image folder given", s.spec)
		}
		return nil, fmt.Errorf("%s: no image folder found in %s", s.where, s.dir)
	}
	return dataset.Load(s.name, labels, images)
}

// describe is a one-line summary of a loaded dataset.
func describe(ds *dataset.Dataset) string {
	align := "quality and alignment MOS"
	if !ds.HasAlign() {
		align = "quality MOS only"
	}
	return fmt.Sprintf("%s: %d images, %d prompt groups, %s (labels %s)", ds.Name, len(ds.Items), len(ds.Groups()), align, ds.LabelFile)
}

func runData(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "data", `
Usage: agiqa data --dataset NAME (--labels FILE [--images DIR] | --dir DIR) [flags]
       agiqa data --dataset NAME=DIR [flags]

Reads a dataset's label file and lists its images with prompt, quality MOS,
alignment MOS and prompt group, so you can check a setup before a benchmark.
Repaired defects of the label file are reported as warnings on stderr;
--preflight also checks that every image exists and decodes.

Example:
  agiqa data --dataset agiqa-3k --labels AGIQA-3K/data.csv --images AGIQA-3K --preflight --limit 5`)
	d := addDatasetFlags(fs)
	preflight := fs.Bool("preflight", false, "check that every image exists and decodes (needs --images or --dir)")
	format := fs.String("format", "text", "output `format`: text or jsonl")
	limit := fs.Int("limit", 0, "print only the first `N` images (0: all)")
	workers := fs.Int("workers", 0, "preflight `decoders` (0: one per CPU)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("data: unexpected argument %q", fs.Arg(0))
	}
	if *format != "text" && *format != "jsonl" {
		return usagef("--format %q: want text or jsonl", *format)
	}
	if *limit < 0 {
		return usagef("--limit %d: want 0 or more", *limit)
	}
	if *workers < 0 {
		return usagef("--workers %d: want 0 or more", *workers)
	}
	ds, err := d.open(ctx)
	if err != nil {
		return err
	}
	if *preflight && ds.ImagesDir == "" {
		return usagef("--preflight needs the image folder (--images or --dir)")
	}
	if *preflight {
		// Otherwise every image would be reported missing, one by one.
		if st, err := os.Stat(ds.ImagesDir); err != nil || !st.IsDir() {
			return usagef("--preflight: image folder %s does not exist", ds.ImagesDir)
		}
	}
	for _, w := range ds.Warnings {
		fmt.Fprintf(io.stderr, "warning: %s\n", w)
	}
	items := ds.Items
	if *limit > 0 && *limit < len(items) {
		items = items[:*limit]
	}
	if *format == "jsonl" {
		enc := json.NewEncoder(io.stdout)
		enc.SetEscapeHTML(false)
		for _, it := range items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
	} else {
		tw := tabwriter.NewWriter(io.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "image\tprompt\tmos\tmos_align\tgroup")
		for _, it := range items {
			al := "-"
			if it.HasAlign() {
				al = strconv.FormatFloat(it.MOSAlign, 'f', 4, 64)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.4f\t%s\t%s\n", it.Image, it.Prompt, it.MOS, al, it.Group)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(io.stderr, describe(ds))
	if !*preflight {
		return nil
	}
	rep := dataset.Preflight(ctx, ds, *workers)
	if err := rep.Error(); err != nil {
		return err
	}
	fmt.Fprintf(io.stderr, "preflight: all %d images in %s exist and decode\n", rep.Checked, ds.ImagesDir)
	return nil
}
