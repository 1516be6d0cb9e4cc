package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/sample"
)

func init() {
	register(command{name: "data", summary: "list a dataset's labelled images and check its files", run: runData})
}

// datasetFlags are the flags that pick a dataset, shared by data and splits.
type datasetFlags struct {
	name, labels, images, dir string
	sampleSize                int
}

func addDatasetFlags(fs *flag.FlagSet) *datasetFlags {
	d := &datasetFlags{}
	fs.StringVar(&d.name, "dataset", "", "dataset `name`: "+strings.Join(dataset.Names(), ", "))
	fs.StringVar(&d.labels, "labels", "", "label `file` (data.csv, AIGC_MOS_Zscore.xlsx, AIGC_all.csv or a CSV with image,prompt,mos[,mos_align][,group])")
	fs.StringVar(&d.images, "images", "", "image `folder` (sample: where the images are generated; default the user cache folder)")
	fs.StringVar(&d.dir, "dir", "", "dataset `folder`: finds the label file and the image folder in it (instead of --labels/--images)")
	fs.IntVar(&d.sampleSize, "sample-size", sample.DefaultImages, sampleSizeUsage)
	return d
}

// open loads the dataset the flags name; the sample dataset is generated
// (or reused) when no label file is given.
func (d *datasetFlags) open(ctx context.Context) (*dataset.Dataset, error) {
	if d.name == "" {
		return nil, usagef("--dataset is required (one of %s)", strings.Join(dataset.Names(), ", "))
	}
	if err := checkDatasetName(d.name, d.name); err != nil {
		return nil, err
	}
	if d.name == dataset.Sample && d.labels == "" && d.dir == "" {
		if err := checkSampleSize(d.sampleSize); err != nil {
			return nil, err
		}
		dir := d.images
		if dir == "" {
			var err error
			if dir, err = sample.DefaultDir(); err != nil {
				return nil, err
			}
		}
		return sample.Generate(ctx, dir, d.sampleSize)
	}
	labels, images := d.labels, d.images
	if d.dir != "" {
		if labels != "" {
			return nil, usagef("give --dir or --labels, not both")
		}
		l, i, err := dataset.Locate(d.name, d.dir)
		if err != nil {
			return nil, fmt.Errorf("--dir %s: %w", d.dir, err)
		}
		labels = l
		if images == "" {
			images = i
		}
	}
	if labels == "" {
		return nil, usagef("--labels or --dir is required for dataset %s", d.name)
	}
	return dataset.Load(d.name, labels, images)
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
