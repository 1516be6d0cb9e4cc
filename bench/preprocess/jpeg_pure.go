package preprocess

import (
	"image"
	"image/jpeg"
)

// decodeJPEGPure decodes with Go's image/jpeg, then does chroma upsampling and YCbCr->RGB conversion
// the way libjpeg-turbo does with its defaults (jdsample.c "fancy" triangular upsampling, jdcolor.c
// fixed-point tables) instead of image/jpeg's nearest-neighbour chroma and its own conversion
// constants. What remains different from Pillow is the IDCT (Go's versus libjpeg's ISLOW).
func decodeJPEGPure(data []byte, limit int64) (RGB, error) {
	im, err := decodeStd(data, limit, "jpeg", jpeg.DecodeConfig, jpeg.Decode)
	if err != nil {
		return RGB{}, err
	}
	if y, ok := im.(*image.YCbCr); ok {
		return ycbcrToRGB(y), nil
	}
	// Grey, CMYK (image/jpeg already undoes Adobe's inversion) and Adobe-RGB JPEGs.
	return toRGB(im), nil
}

// libjpeg's jdcolor.c tables: SCALEBITS = 16, values rounded with ONE_HALF; the G table carries the
// rounding constant so that the inner loop needs a single shift.
var crR, cbB, crG, cbG [256]int32

func init() {
	const (
		scaleBits = 16
		oneHalf   = 1 << (scaleBits - 1)
	)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + oneHalf) >> scaleBits
		cbB[i] = (fix(1.77200)*x + oneHalf) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + oneHalf
	}
}

func clamp255(v int32) uint8 {
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// ycbcrToRGB upsamples chroma to full resolution row by row and converts to RGB.
func ycbcrToRGB(m *image.YCbCr) RGB {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	out := NewRGB(w, h)
	hf, vf := 1, 1 // luma samples per chroma sample, horizontally and vertically
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hf = 2
	case image.YCbCrSubsampleRatio420:
		hf, vf = 2, 2
	case image.YCbCrSubsampleRatio440:
		vf = 2
	case image.YCbCrSubsampleRatio411:
		hf = 4
	case image.YCbCrSubsampleRatio410:
		hf, vf = 4, 2
	}
	// Chroma plane sizes as libjpeg computes them (downsampled_width/height, rounded up).
	cw, ch := (w+hf-1)/hf, (h+vf-1)/vf
	// libjpeg only uses the fancy filters for 2x factors, and horizontally only when the chroma plane
	// is wider than 2 samples; everything else is replication.
	fancyH := hf == 2 && cw > 2
	fancyV := vf == 2 && (hf == 1 || fancyH)

	cbRow := make([]uint8, w)
	crRow := make([]uint8, w)
	colCb := make([]int32, cw)
	colCr := make([]int32, cw)
	for y := 0; y < h; y++ {
		cy := y / vf
		if fancyV {
			// Nearer chroma row weighs 3, the next nearer (above for even rows, below for odd) 1;
			// edges replicate, as libjpeg's context rows do.
			ny := cy - 1
			if y%2 == 1 {
				ny = cy + 1
			}
			ny = min(max(ny, 0), ch-1)
			b0, b1 := m.Cb[cy*m.CStride:cy*m.CStride+cw], m.Cb[ny*m.CStride:ny*m.CStride+cw]
			r0, r1 := m.Cr[cy*m.CStride:cy*m.CStride+cw], m.Cr[ny*m.CStride:ny*m.CStride+cw]
			for i := range colCb {
				colCb[i] = 3*int32(b0[i]) + int32(b1[i])
				colCr[i] = 3*int32(r0[i]) + int32(r1[i])
			}
			if hf == 2 {
				fancyH2(cbRow, colCb, 8, 7, 4)
				fancyH2(crRow, colCr, 8, 7, 4)
			} else { // h1v2
				bias := int32(1)
				if y%2 == 1 {
					bias = 2
				}
				for i := range cbRow {
					cbRow[i] = uint8((colCb[i] + bias) >> 2)
					crRow[i] = uint8((colCr[i] + bias) >> 2)
				}
			}
		} else {
			b := m.Cb[cy*m.CStride : cy*m.CStride+cw]
			r := m.Cr[cy*m.CStride : cy*m.CStride+cw]
			if fancyH {
				for i := range colCb {
					colCb[i], colCr[i] = int32(b[i]), int32(r[i])
				}
				fancyH2(cbRow, colCb, 1, 2, 2)
				fancyH2(crRow, colCr, 1, 2, 2)
			} else {
				for x := 0; x < w; x++ {
					cbRow[x], crRow[x] = b[x/hf], r[x/hf]
				}
			}
		}
		yRow := m.Y[y*m.YStride : y*m.YStride+w]
		o := out.Pix[3*w*y : 3*w*(y+1)]
		for x, yy := range yRow {
			Y, cb, cr := int32(yy), cbRow[x], crRow[x]
			o[3*x] = clamp255(Y + crR[cr])
			o[3*x+1] = clamp255(Y + (cbG[cb]+crG[cr])>>16)
			o[3*x+2] = clamp255(Y + cbB[cb])
		}
	}
	return out
}

// fancyH2 doubles a row horizontally with libjpeg's triangular filter: each output is 3/4 of the
// nearer input plus 1/4 of the next nearer (left for even outputs, right for odd ones), edges
// replicated. in holds values already scaled by 1<<(shift-2) by a vertical pass (or not, shift 2);
// biasEven/biasOdd are libjpeg's alternating rounding constants.
func fancyH2(out []uint8, in []int32, biasEven, biasOdd int32, shift uint) {
	last := len(in) - 1
	for x := range out {
		c := x >> 1
		n := c - 1
		bias := biasEven
		if x&1 == 1 {
			n, bias = c+1, biasOdd
		}
		n = min(max(n, 0), last)
		out[x] = uint8((3*in[c] + in[n] + bias) >> shift)
	}
}
