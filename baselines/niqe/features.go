// Package niqe computes NIQE (Mittal, Soundararajan, Bovik, "Making a
// 'Completely Blind' Image Quality Analyzer", IEEE SPL 2013) as the authors'
// release (utlive/niqe, computequality.m) computes it: rgb2gray, a crop to
// whole 96x96 blocks, 18 AGGD features of the MSCN coefficients of every
// block at two scales (the second from MATLAB's imresize(im, 0.5)), a
// multivariate Gaussian fitted to the blocks' 36-vectors, and its distance
// to the pristine model with the pseudo-inverse of the mean covariance.
// Lower is better. Fit builds a pristine model as estimatemodelparam.m does.
package niqe

import (
	"context"
	"fmt"
	"math"

	"github.com/agiqa-bench/agiqa/baselines/brisque"
	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

const (
	// BlockSize is the release's block side at the first scale (48 at the second).
	BlockSize = 96
	// NumFeatures is the length of a block's feature vector (18 per scale).
	NumFeatures = 36
	perScale    = 18
)

// SmallImageError reports an image with less than one whole block.
type SmallImageError struct{ H, W int }

func (e *SmallImageError) Error() string {
	return fmt.Sprintf("niqe: image %dx%d is smaller than one %dx%d block", e.H, e.W, BlockSize, BlockSize)
}

// ZeroVarianceError is brisque's: an image of one gray level, NaN score.
type ZeroVarianceError = brisque.ZeroVarianceError

// ErrZeroVariance matches a *ZeroVarianceError with errors.Is.
var ErrZeroVariance = brisque.ErrZeroVariance

// shifts are computefeature.m's circshift offsets (the last differs from
// BRISQUE's).
var shifts = [4][2]int{{0, 1}, {1, 0}, {1, 1}, {1, -1}}

// Blocks holds the per-block features of one image in the release's order:
// blocks column by column (down each block column first, as blkproc's
// output read with (:) runs), Feat[b*NumFeatures+k] feature k of block b.
// Sharpness[b] is the mean of the first scale's local deviation sigma over
// block b (computemean.m), which Fit selects blocks by.
type Blocks struct {
	N         int
	Feat      []float64
	Sharpness []float64
}

// Row returns block b's features.
func (b *Blocks) Row(i int) []float64 { return b.Feat[i*NumFeatures : (i+1)*NumFeatures] }

// BlockFeatures computes the per-block features of an 8-bit RGB image.
// A constant image returns a *ZeroVarianceError, an image under one block
// a *SmallImageError.
func BlockFeatures(ctx context.Context, im *matlab.RGB8) (*Blocks, error) {
	if im == nil || im.H < 0 || im.W < 0 || len(im.Pix) != 3*im.H*im.W {
		return nil, fmt.Errorf("niqe: malformed image (want 3*H*W bytes)")
	}
	if im.H < BlockSize || im.W < BlockSize {
		return nil, &SmallImageError{H: im.H, W: im.W}
	}
	return BlockFeaturesGray(ctx, matlab.RGB2Gray(im))
}

// BlockFeaturesGray is BlockFeatures on a gray image (0..255 scale), as
// computequality.m's im after rgb2gray and double.
func BlockFeaturesGray(ctx context.Context, g *matlab.Gray) (*Blocks, error) {
	if g.H < BlockSize || g.W < BlockSize {
		return nil, &SmallImageError{H: g.H, W: g.W}
	}
	rows, cols := g.H/BlockSize, g.W/BlockSize
	im := crop(g, rows*BlockSize, cols*BlockSize)
	if isConstant(im.Pix) {
		return nil, &ZeroVarianceError{H: g.H, W: g.W}
	}
	win := brisque.Window()
	out := &Blocks{N: rows * cols, Feat: make([]float64, rows*cols*NumFeatures)}
	for scale := 0; scale < 2; scale++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sd, sigma := mscn(im, win)
		bs := BlockSize >> scale
		blockScale(out, sd, im.H, im.W, bs, scale*perScale)
		if scale == 0 {
			out.Sharpness = blockMeans(sigma, im.H, im.W, bs)
			im = matlab.Imresize(im, 0.5)
		}
	}
	return out, nil
}

func crop(g *matlab.Gray, h, w int) *matlab.Gray {
	out := matlab.NewGray(h, w)
	for y := 0; y < h; y++ {
		copy(out.Pix[y*w:(y+1)*w], g.Pix[y*g.W:y*g.W+w])
	}
	return out
}

func isConstant(p []float64) bool {
	for _, v := range p[1:] {
		if v != p[0] {
			return false
		}
	}
	return true
}

// mscn returns structdis = (im - mu) ./ (sigma + 1) and sigma, with mu and
// sigma from imfilter(., win, 'replicate') computed as Octave does (see
// brisque.OctaveImfilterReplicate for why), both row-major.
func mscn(im, win *matlab.Gray) (sd, sigma []float64) {
	sq := matlab.NewGray(im.H, im.W)
	for i, v := range im.Pix {
		sq.Pix[i] = v * v
	}
	mu := brisque.OctaveImfilterReplicate(im, win)
	mu2 := brisque.OctaveImfilterReplicate(sq, win)
	sd = make([]float64, len(im.Pix))
	sigma = make([]float64, len(im.Pix))
	for i, v := range im.Pix {
		m := mu.Pix[i]
		s := math.Sqrt(math.Abs(mu2.Pix[i] - float64(m*m)))
		sigma[i] = s
		sd[i] = (v - m) / (s + 1)
	}
	return sd, sigma
}

// blockScale writes the 18 features of every bs x bs block of sd (row-major
// h x w) into out's columns from off.
func blockScale(out *Blocks, sd []float64, h, w, bs, off int) {
	rows, cols := h/bs, w/bs
	blk := make([]float64, bs*bs)
	pair := make([]float64, bs*bs)
	for bx := 0; bx < cols; bx++ {
		for by := 0; by < rows; by++ {
			// The block column-major, as computefeature.m sees structdis(:).
			for j := 0; j < bs; j++ {
				for i := 0; i < bs; i++ {
					blk[j*bs+i] = sd[(by*bs+i)*w+bx*bs+j]
				}
			}
			b := bx*rows + by
			blockFeature(out.Feat[b*NumFeatures+off:b*NumFeatures+off+perScale], blk, bs, pair)
		}
	}
}

// blockFeature is computefeature.m: AGGD shape and mean beta of the block,
// then for each orientation the shape, mean, left and right beta of the
// paired products.
func blockFeature(dst, blk []float64, bs int, pair []float64) {
	a, l, r := brisque.AGGD(blk)
	bl, br := betas(a, l, r)
	dst[0], dst[1] = a, (bl+br)/2
	for k, s := range shifts {
		brisque.ShiftProducts(blk, bs, bs, s[0], s[1], pair)
		a, l, r := brisque.AGGD(pair)
		bl, br := betas(a, l, r)
		mean := (br - bl) * (math.Gamma(2/a) / math.Gamma(1/a))
		copy(dst[2+4*k:], []float64{a, mean, bl, br})
	}
}

func betas(alpha, leftstd, rightstd float64) (bl, br float64) {
	return leftstd * math.Sqrt(math.Gamma(1/alpha)/math.Gamma(3/alpha)),
		rightstd * math.Sqrt(math.Gamma(1/alpha)/math.Gamma(3/alpha))
}

// blockMeans is blkproc(sigma, [bs bs], @computemean)(:): the mean of each
// block, summed column-major as mean(patch(:)), blocks column by column.
func blockMeans(sigma []float64, h, w, bs int) []float64 {
	rows, cols := h/bs, w/bs
	out := make([]float64, 0, rows*cols)
	for bx := 0; bx < cols; bx++ {
		for by := 0; by < rows; by++ {
			var s float64
			for j := 0; j < bs; j++ {
				for i := 0; i < bs; i++ {
					s += sigma[(by*bs+i)*w+bx*bs+j]
				}
			}
			out = append(out, s/float64(bs*bs))
		}
	}
	return out
}
