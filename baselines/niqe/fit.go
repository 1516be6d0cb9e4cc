package niqe

import (
	"context"
	"fmt"
	"math"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// DefaultThreshold is estimatemodelparam.m's example sh_th: a block enters
// the pristine model when its sharpness exceeds 0.75 of the image's largest.
const DefaultThreshold = 0.75

// FitInfo describes a fitted model.
type FitInfo struct {
	Images    int     // images that gave blocks
	Blocks    int     // blocks selected (rows of the feature matrix)
	Threshold float64 // sharpness threshold
}

// Fitter builds a pristine model image by image as estimatemodelparam.m
// does: every image's block features at 96x96 blocks, the blocks whose
// sharpness (mean local deviation) exceeds Threshold times the image's
// largest, then nanmean and nancov over all selected blocks. The release
// reads its per-image feature files back in `ls` order; the rows here are
// in the order of Add, which changes the model only in the last bits.
type Fitter struct {
	Threshold float64
	rows      []float64
	info      FitInfo
}

// NewFitter returns a Fitter with the given threshold (DefaultThreshold in
// the release's example); it must lie in [0, 1).
func NewFitter(threshold float64) (*Fitter, error) {
	if !(threshold >= 0 && threshold < 1) {
		return nil, fmt.Errorf("niqe: sharpness threshold %v outside [0, 1)", threshold)
	}
	return &Fitter{Threshold: threshold, info: FitInfo{Threshold: threshold}}, nil
}

// Add selects im's sharp blocks and returns how many it kept. An image
// under one block (*SmallImageError) or of one gray level
// (*ZeroVarianceError) adds nothing and returns the error, so a caller can
// skip it.
func (f *Fitter) Add(ctx context.Context, im *matlab.RGB8) (int, error) {
	b, err := BlockFeatures(ctx, im)
	if err != nil {
		return 0, err
	}
	return f.AddBlocks(b), nil
}

// AddBlocks adds the selected blocks of already computed features.
func (f *Fitter) AddBlocks(b *Blocks) int {
	maxSharp := math.Inf(-1)
	for _, s := range b.Sharpness {
		maxSharp = math.Max(maxSharp, s)
	}
	limit := f.Threshold * maxSharp
	kept := 0
	for i, s := range b.Sharpness {
		if s > limit {
			f.rows = append(f.rows, b.Row(i)...)
			kept++
		}
	}
	if kept > 0 {
		f.info.Images++
		f.info.Blocks += kept
	}
	return kept
}

// Model returns the fitted model. It needs at least two complete blocks
// (a covariance from fewer is zero or undefined).
func (f *Fitter) Model() (*Model, FitInfo, error) {
	n := f.info.Blocks
	mu := nanMean(f.rows, n, NumFeatures)
	cov, complete := nanCov(f.rows, n, NumFeatures)
	if complete < 2 {
		return nil, f.info, fmt.Errorf("niqe: fit has %d blocks with finite features from %d images, need at least 2", complete, f.info.Images)
	}
	m := &Model{Mu: mu, Cov: cov}
	if err := m.Check(); err != nil {
		return nil, f.info, err
	}
	return m, f.info, nil
}

// Fit is estimatemodelparam.m on images already decoded, with threshold
// DefaultThreshold. Images under one block or constant are skipped; any
// other error stops the fit.
func Fit(ctx context.Context, images []*matlab.RGB8) (*Model, FitInfo, error) {
	f, err := NewFitter(DefaultThreshold)
	if err != nil {
		return nil, FitInfo{}, err
	}
	for i, im := range images {
		if _, err := f.Add(ctx, im); err != nil && !Skippable(err) {
			return nil, f.info, fmt.Errorf("niqe: fit image %d: %w", i, err)
		}
	}
	return f.Model()
}

// Skippable reports the errors Fit skips an image for: too small or constant.
func Skippable(err error) bool {
	switch err.(type) {
	case *SmallImageError, *ZeroVarianceError:
		return true
	}
	return false
}
