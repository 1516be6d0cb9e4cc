package matlab

import "fmt"

// SSIM constants of Wang et al.'s ssim_index.m / ssim.m defaults.
const (
	ssimK1 = 0.01
	ssimK2 = 0.03
	ssimL  = 255
)

// SSIMIndex is Wang et al.'s ssim_index.m (2003) with its defaults: K = [0.01 0.03], an 11x11 Gaussian
// window of sigma 1.5 (fspecial), L = 255, local statistics by filter2(window, ., 'valid'), and the mean
// of the SSIM map. a and b must have the same size of at least 11x11.
func SSIMIndex(a, b *Gray) (float64, error) {
	if err := ssimCheck(a, b); err != nil {
		return 0, err
	}
	return ssimMap(a, b), nil
}

// SSIM is Wang et al.'s ssim.m (2009 release) with its defaults: as SSIMIndex, but first, with
// f = max(1, round(min(H, W)/256)), both images are averaged by an f x f box filter (imfilter
// 'symmetric', 'same') and subsampled by f (img(1:f:end, 1:f:end)).
func SSIM(a, b *Gray) (float64, error) {
	if err := ssimCheck(a, b); err != nil {
		return 0, err
	}
	f := max(1, int(Round(float64(min(a.H, a.W))/256)))
	if f > 1 {
		a, b = ssimDownsample(a, f), ssimDownsample(b, f)
		if a.H < 11 || a.W < 11 {
			return 0, fmt.Errorf("ssim: image %dx%d is %dx%d after downsampling by %d, under the 11x11 window", a.H*f, a.W*f, a.H, a.W, f)
		}
	}
	return ssimMap(a, b), nil
}

func ssimCheck(a, b *Gray) error {
	if err := a.Check(); err != nil {
		return fmt.Errorf("ssim: first image: %w", err)
	}
	if err := b.Check(); err != nil {
		return fmt.Errorf("ssim: second image: %w", err)
	}
	if a.H != b.H || a.W != b.W {
		return fmt.Errorf("ssim: images differ in size: %dx%d and %dx%d", a.H, a.W, b.H, b.W)
	}
	if a.H < 11 || a.W < 11 {
		return fmt.Errorf("ssim: image %dx%d is smaller than the 11x11 window", a.H, a.W)
	}
	return nil
}

func ssimDownsample(g *Gray, f int) *Gray {
	box := NewGray(f, f)
	for i := range box.Pix {
		box.Pix[i] = 1 / float64(f*f)
	}
	s := Imfilter(g, box, Symmetric)
	h, w := (g.H+f-1)/f, (g.W+f-1)/f
	out := NewGray(h, w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out.Pix[y*w+x] = s.Pix[y*f*g.W+x*f]
		}
	}
	return out
}

func ssimMap(a, b *Gray) float64 {
	win := FspecialGaussian(11, 11, 1.5)
	return ssimMean(a, b, func(g *Gray) *Gray { return Filter2(win, g, Valid) })
}

// ssimMean is the mean of the SSIM map (dynamic range 255, exponents 1) with local statistics taken
// by filter: Wang's ssim.m filters 'valid', the toolbox's ssim imfilters with 'replicate' borders.
func ssimMean(a, b *Gray, filter func(*Gray) *Gray) float64 {
	c1 := (ssimK1 * ssimL) * (ssimK1 * ssimL)
	c2 := (ssimK2 * ssimL) * (ssimK2 * ssimL)
	aa, bb, ab := NewGray(a.H, a.W), NewGray(a.H, a.W), NewGray(a.H, a.W)
	for i := range a.Pix {
		aa.Pix[i] = a.Pix[i] * a.Pix[i]
		bb.Pix[i] = b.Pix[i] * b.Pix[i]
		ab.Pix[i] = a.Pix[i] * b.Pix[i]
	}
	mu1, mu2 := filter(a), filter(b)
	s11, s22, s12 := filter(aa), filter(bb), filter(ab)
	var sum float64
	for i := range mu1.Pix {
		m1, m2 := mu1.Pix[i], mu2.Pix[i]
		m1s, m2s, m12 := m1*m1, m2*m2, m1*m2
		v1, v2, v12 := s11.Pix[i]-m1s, s22.Pix[i]-m2s, s12.Pix[i]-m12
		num := float64(2*m12+c1) * float64(2*v12+c2)
		den := float64(m1s+m2s+c1) * float64(v1+v2+c2)
		sum += num / den
	}
	return sum / float64(len(mu1.Pix))
}

// SSIMToolbox is the Image Processing Toolbox's ssim(A, ref) (R2014a and later) on uint8 images
// passed as their double values: dynamic range 255 (C1 = (0.01*255)^2, C2 = (0.03*255)^2, C3 = C2/2,
// exponents 1), local statistics by imfilter with fspecial('gaussian', 11, 1.5) and 'replicate'
// borders, output 'same', and the mean of the whole map. Unlike Wang's code it keeps the border
// pixels. a and b must have the same, non-empty size.
func SSIMToolbox(a, b *Gray) (float64, error) {
	if err := a.Check(); err != nil {
		return 0, fmt.Errorf("ssim: first image: %w", err)
	}
	if err := b.Check(); err != nil {
		return 0, fmt.Errorf("ssim: second image: %w", err)
	}
	if a.H != b.H || a.W != b.W || a.H == 0 || a.W == 0 {
		return 0, fmt.Errorf("ssim: images %dx%d and %dx%d: need equal non-empty sizes", a.H, a.W, b.H, b.W)
	}
	win := FspecialGaussian(11, 11, 1.5) // symmetric, so convolution = correlation
	return ssimMean(a, b, func(g *Gray) *Gray { return Imfilter(g, win, Replicate) }), nil
}
