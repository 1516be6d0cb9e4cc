package main

import (
	"flag"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
)

// limitFlags are the input limits of every command that reads label files or decodes images:
// one pixel limit for every decoder, one size cap for label files.
type limitFlags struct {
	maxPixels, maxLabelBytes int64
}

func addLimitFlags(fs *flag.FlagSet) *limitFlags {
	l := &limitFlags{}
	fs.Int64Var(&l.maxPixels, "max-pixels", preprocess.DefaultMaxPixels,
		"refuse an image whose header declares more than `N` pixels (width*height), before decoding it")
	fs.Int64Var(&l.maxLabelBytes, "max-label-bytes", dataset.DefaultMaxLabelBytes,
		"refuse a label file (or an xlsx's unpacked content) over `N` bytes")
	return l
}

// apply validates the limits and makes them the process defaults, which every decoder and label
// reader below the command uses; a command calls it once, after parsing its flags.
func (l *limitFlags) apply() error {
	if l.maxPixels <= 0 {
		return usagef("--max-pixels %d: want a positive number of pixels", l.maxPixels)
	}
	if l.maxLabelBytes <= 0 {
		return usagef("--max-label-bytes %d: want a positive number of bytes", l.maxLabelBytes)
	}
	if err := preprocess.SetDefaultLimits(preprocess.Limits{MaxPixels: l.maxPixels}); err != nil {
		return usagef("--max-pixels: %v", err)
	}
	if err := dataset.SetDefaultLimits(dataset.Limits{MaxLabelBytes: l.maxLabelBytes}); err != nil {
		return usagef("--max-label-bytes: %v", err)
	}
	return nil
}
