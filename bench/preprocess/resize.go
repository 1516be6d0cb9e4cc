package preprocess

import (
	"fmt"
	"math"
	"sync"
)

// Pillow's antialiased bicubic resampling (libImaging/Resample.c, Pillow 9.4), reproduced bit for bit:
// the cubic convolution kernel with a = -0.5 and support 2, widened by the downscale factor; per
// output sample the kernel weights are normalised to sum 1 and rounded half away from zero to fixed
// point with precisionBits fractional bits; a horizontal pass writes an 8-bit intermediate (only the
// source rows the vertical pass reads), then a vertical pass; sums start at one half and are clipped to
// 0..255 after an arithmetic shift.

const precisionBits = 32 - 8 - 2

// Explicit float64 conversions around products stop the compiler from fusing multiply-adds on
// architectures with FMA, which would change rounding relative to Pillow's C.
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64(float64((a+2)*x)-(a+3))*x)*x + 1
	}
	if x < 2 {
		return float64(float64(float64(float64((x-5)*x)+8)*x)-4) * a
	}
	return 0
}

// coeffs holds, for each output sample along one axis, the first source index, the number of taps
// and ksize fixed-point weights.
type coeffs struct {
	ksize  int
	start  []int
	n      []int
	weight []int32
}

func precompute(inSize, outSize int) coeffs { return precomputeRange(inSize, outSize, 0, outSize) }

// precomputeRange is precompute for output samples [from, to) only; entry i is sample from+i.
func precomputeRange(inSize, outSize, from, to int) coeffs {
	const support = 2.0
	// Pillow passes the box as float32; for the full box (0, inSize) that is exact below 2^24.
	scale := float64(float32(inSize)) / float64(outSize)
	filterScale := max(scale, 1.0)
	sup := support * filterScale
	ksize := int(math.Ceil(sup))*2 + 1
	n := to - from
	c := coeffs{ksize: ksize, start: make([]int, n), n: make([]int, n), weight: make([]int32, n*ksize)}
	k := make([]float64, ksize)
	ss := 1.0 / filterScale
	for xx := from; xx < to; xx++ {
		center := float64(float64(xx)+0.5) * scale
		// C's (int) conversion truncates toward zero, as Go's does.
		xmin := int(center - sup + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + sup + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w := bicubic(float64(float64(x+xmin)-center+0.5) * ss)
			k[x] = w
			ww += w
		}
		i := xx - from
		row := c.weight[i*ksize : (i+1)*ksize]
		for x := 0; x < xmax; x++ {
			v := k[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				row[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				row[x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		c.start[i], c.n[i] = xmin, xmax
	}
	return c
}

// clip8 drops the fixed-point fraction bits and clamps to a byte.
func clip8(v int32) uint8 { return clamp255(v >> precisionBits) }

// Resize scales src to w x h exactly as Pillow's Image.resize((w, h), Image.BICUBIC) does for an RGB
// image. It panics if w or h is not positive or src's buffer does not match its size (programming
// errors; ToTensor validates its inputs and returns errors instead).
func Resize(src RGB, w, h int) RGB { return ResizeParallel(src, w, h, 1) }

// ResizeParallel is Resize with the rows of each pass split over up to workers goroutines; the result
// is identical. Use it for single large images; for many images, resize them concurrently instead.
func ResizeParallel(src RGB, w, h, workers int) RGB {
	if !src.valid() {
		panic(fmt.Sprintf("preprocess.Resize: invalid source image %dx%d with %d bytes", src.W, src.H, len(src.Pix)))
	}
	if w <= 0 || h <= 0 {
		panic(fmt.Sprintf("preprocess.Resize: invalid target size %dx%d", w, h))
	}
	return resizeWindow(src, w, h, 0, 0, w, h, workers)
}

// resizeWindow returns the cw x ch window at (x0, y0) of Resize(src, w, h), computing only that
// window: every output pixel of Pillow's two passes depends on its own coordinates alone, so the
// window's pixels are exactly those of the full resize. It lets a centre crop skip the part of the
// resize it throws away (for a very wide image, nearly all of it). The window must lie inside w x h.
func resizeWindow(src RGB, w, h, x0, y0, cw, ch, workers int) RGB {
	if x0 < 0 || y0 < 0 || cw <= 0 || ch <= 0 || x0+cw > w || y0+ch > h {
		panic(fmt.Sprintf("preprocess.resizeWindow: window %dx%d at (%d,%d) outside %dx%d", cw, ch, x0, y0, w, h))
	}
	// Source rows the window needs: its own rows, or those the vertical pass reads.
	r0, r1 := y0, y0+ch
	var cy coeffs
	vert := h != src.H
	if vert {
		cy = precomputeRange(src.H, h, y0, y0+ch)
		r0, r1 = cy.start[0], cy.start[ch-1]+cy.n[ch-1]
	}
	var tmp RGB // rows r0..r1 of the source, resampled or cropped to the window's columns
	switch {
	case w != src.W:
		cx := precomputeRange(src.W, w, x0, x0+cw)
		tmp = NewRGB(cw, r1-r0)
		parallelRows(tmp.H, workers, func(a, b int) { horizontal(tmp, src, r0, a, b, &cx) })
	case vert && cw == src.W:
		// Whole rows: read them in place (vertical does not write its source).
		tmp = RGB{W: src.W, H: r1 - r0, Pix: src.Pix[3*src.W*r0 : 3*src.W*r1]}
	default:
		tmp = NewRGB(cw, r1-r0)
		for y := range tmp.H {
			copy(tmp.Pix[3*cw*y:3*cw*(y+1)], src.Pix[3*(src.W*(r0+y)+x0):])
		}
	}
	if !vert {
		return tmp // a new buffer here: the in-place case needs a vertical pass
	}
	for i := range cy.start {
		cy.start[i] -= r0
	}
	out := NewRGB(cw, ch)
	parallelRows(ch, workers, func(a, b int) { vertical(out, tmp, a, b, &cy) })
	return out
}

// parallelRows calls fn on contiguous row ranges covering [0, rows), on up to workers goroutines.
func parallelRows(rows, workers int, fn func(a, b int)) {
	// Splitting below a few dozen rows costs more than it saves.
	workers = min(workers, rows/32)
	if workers <= 1 {
		fn(0, rows)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		a, b := rows*i/workers, rows*(i+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(a, b)
		}()
	}
	wg.Wait()
}

// horizontal resamples rows [a, b) of dst from rows [a+offset, b+offset) of src.
func horizontal(dst, src RGB, offset, a, b int, c *coeffs) {
	const half = 1 << (precisionBits - 1)
	sw, dw, ks := 3*src.W, 3*dst.W, c.ksize
	for y := a; y < b; y++ {
		in := src.Pix[(y+offset)*sw : (y+offset+1)*sw]
		out := dst.Pix[y*dw : (y+1)*dw]
		for xx := 0; xx < dst.W; xx++ {
			start, n := c.start[xx], c.n[xx]
			k := c.weight[xx*ks : xx*ks+n]
			p := in[3*start : 3*(start+n)]
			s0, s1, s2 := int32(half), int32(half), int32(half)
			// Loop shape chosen so that the compiler drops every bounds check.
			for len(k) > 3 && len(p) >= 12 {
				k0, k1, k2, k3 := k[0], k[1], k[2], k[3]
				s0 += int32(p[0])*k0 + int32(p[3])*k1 + int32(p[6])*k2 + int32(p[9])*k3
				s1 += int32(p[1])*k0 + int32(p[4])*k1 + int32(p[7])*k2 + int32(p[10])*k3
				s2 += int32(p[2])*k0 + int32(p[5])*k1 + int32(p[8])*k2 + int32(p[11])*k3
				p, k = p[12:], k[4:]
			}
			if len(k) > 1 && len(p) >= 6 {
				k0, k1 := k[0], k[1]
				s0 += int32(p[0])*k0 + int32(p[3])*k1
				s1 += int32(p[1])*k0 + int32(p[4])*k1
				s2 += int32(p[2])*k0 + int32(p[5])*k1
				p, k = p[6:], k[2:]
			}
			if len(k) > 0 && len(p) >= 3 {
				kv := k[0]
				s0 += int32(p[0]) * kv
				s1 += int32(p[1]) * kv
				s2 += int32(p[2]) * kv
			}
			o := out[3*xx : 3*xx+3 : 3*xx+3]
			o[0], o[1], o[2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
}

// vertical resamples rows [a, b) of dst from src, accumulating whole source rows into a row of sums
// so that memory is read sequentially.
func vertical(dst, src RGB, a, b int, c *coeffs) {
	const half = 1 << (precisionBits - 1)
	rw := 3 * dst.W
	acc := make([]int32, rw)
	for yy := a; yy < b; yy++ {
		for i := range acc {
			acc[i] = half
		}
		start, n := c.start[yy], c.n[yy]
		k := c.weight[yy*c.ksize : yy*c.ksize+n]
		// Two source rows per sweep halve the loads and stores of the sums.
		i := 0
		for ; i+1 < n; i += 2 {
			k0, k1 := k[i], k[i+1]
			r0 := src.Pix[(start+i)*rw : (start+i+1)*rw]
			r1 := src.Pix[(start+i+1)*rw : (start+i+2)*rw]
			r0, r1 = r0[:len(acc)], r1[:len(acc)]
			for j := range acc {
				acc[j] += int32(r0[j])*k0 + int32(r1[j])*k1
			}
		}
		if i < n {
			kv := k[i]
			row := src.Pix[(start+i)*rw : (start+i+1)*rw]
			row = row[:len(acc)]
			for j, v := range row {
				acc[j] += int32(v) * kv
			}
		}
		out := dst.Pix[yy*rw : (yy+1)*rw]
		out = out[:len(acc)]
		for j, s := range acc {
			out[j] = clip8(s)
		}
	}
}
