package matlab

// Border is imfilter's boundary option.
type Border int

const (
	Zero      Border = iota // imfilter's default: pixels outside the image are 0
	Replicate               // 'replicate': the nearest edge pixel
	Symmetric               // 'symmetric': mirrored with the edge repeated (padarray 'symmetric')
	Circular                // 'circular': periodic
)

// String names b as imfilter's option does.
func (b Border) String() string {
	switch b {
	case Zero:
		return "0"
	case Replicate:
		return "replicate"
	case Symmetric:
		return "symmetric"
	case Circular:
		return "circular"
	}
	return "Border(?)"
}

// Shape is conv2's and filter2's output shape.
type Shape int

const (
	Full  Shape = iota // 'full': (H+kh-1) x (W+kw-1)
	Same               // 'same': H x W, the central part of 'full'
	Valid              // 'valid': max(H-kh+1, 0) x max(W-kw+1, 0), no padded sample used
)

// String names s as conv2's option does.
func (s Shape) String() string {
	switch s {
	case Full:
		return "full"
	case Same:
		return "same"
	case Valid:
		return "valid"
	}
	return "Shape(?)"
}

// Imfilter is MATLAB's imfilter(g, k, border) on a double image: correlation (not convolution),
// output 'same', the kernel's centre at floor((size(k)+1)/2) (1-based; for an even size it sits
// before the middle). An unknown border is taken as Zero; an empty kernel gives zeros, as MATLAB's.
func Imfilter(g, k *Gray, border Border) *Gray {
	out := NewGray(g.H, g.W)
	if g.H == 0 || g.W == 0 {
		return out
	}
	if k.H == 0 || k.W == 0 {
		return out
	}
	cy, cx := (k.H-1)/2, (k.W-1)/2
	rows := make([]int, g.H+k.H-1) // source row of padded row r: r - cy
	for r := range rows {
		rows[r] = padIndex(r-cy, g.H, border)
	}
	cols := make([]int, g.W+k.W-1)
	for c := range cols {
		cols[c] = padIndex(c-cx, g.W, border)
	}
	for y := 0; y < g.H; y++ {
		for x := 0; x < g.W; x++ {
			var s float64
			for i := 0; i < k.H; i++ {
				sy := rows[y+i]
				if sy < 0 {
					continue
				}
				src := g.Pix[sy*g.W:]
				kr := k.Pix[i*k.W : (i+1)*k.W]
				for j, kv := range kr {
					if sx := cols[x+j]; sx >= 0 {
						s += float64(kv * src[sx])
					}
				}
			}
			out.Pix[y*g.W+x] = s
		}
	}
	return out
}

// padIndex maps a 0-based index outside 0..n-1 onto the image for border b, or -1 for Zero.
func padIndex(i, n int, b Border) int {
	if i >= 0 && i < n {
		return i
	}
	switch b {
	case Replicate:
		return min(max(i, 0), n-1)
	case Symmetric:
		return mirror(i, n)
	case Circular:
		m := i % n
		if m < 0 {
			m += n
		}
		return m
	}
	return -1
}

// rot180 returns k rotated by 180 degrees (rot90(k, 2)).
func rot180(k *Gray) *Gray {
	r := NewGray(k.H, k.W)
	n := len(k.Pix)
	for i, v := range k.Pix {
		r.Pix[n-1-i] = v
	}
	return r
}

// Conv2 is MATLAB's conv2(a, k, shape): two-dimensional convolution (the kernel rotated by 180
// degrees), zero outside a. 'same' keeps rows floor(kh/2) .. floor(kh/2)+H-1 of 'full' (0-based).
func Conv2(a, k *Gray, shape Shape) *Gray {
	return correlate(a, rot180(k), shape)
}

// Filter2 is MATLAB's filter2(k, a, shape): correlation, i.e. conv2(a, rot90(k, 2), shape).
func Filter2(k, a *Gray, shape Shape) *Gray {
	return correlate(a, k, shape)
}

// correlate computes conv2(a, rot90(k, 2), shape).
func correlate(a, k *Gray, shape Shape) *Gray {
	fullH, fullW := a.H+k.H-1, a.W+k.W-1
	var oy, ox, h, w int // window of the full result
	switch shape {
	case Same:
		oy, ox, h, w = k.H/2, k.W/2, a.H, a.W
		// conv2(a, rot90(k,2)) 'same' starts at floor(kh/2) of the full convolution with the rotated
		// kernel; the full correlation index r corresponds to convolution index r.
	case Valid:
		oy, ox, h, w = k.H-1, k.W-1, max(a.H-k.H+1, 0), max(a.W-k.W+1, 0)
	default:
		h, w = max(fullH, 0), max(fullW, 0)
	}
	if a.H == 0 || a.W == 0 || k.H == 0 || k.W == 0 {
		if shape == Same {
			return NewGray(a.H, a.W)
		}
		return NewGray(h, w)
	}
	out := NewGray(h, w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// full correlation at (r, c): sum_{i,j} k(i,j) a(r-(kh-1)+i, c-(kw-1)+j)
			r, c := y+oy-(k.H-1), x+ox-(k.W-1)
			var s float64
			for i := max(0, -r); i < k.H && r+i < a.H; i++ {
				src := a.Pix[(r+i)*a.W:]
				kr := k.Pix[i*k.W:]
				for j := max(0, -c); j < k.W && c+j < a.W; j++ {
					s += float64(kr[j] * src[c+j])
				}
			}
			out.Pix[y*w+x] = s
		}
	}
	return out
}
