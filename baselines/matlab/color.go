package matlab

// rgb2gray's weights: the first row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703]) (NTSC
// YIQ), as MATLAB's rgb2gray.m writes them.
const (
	grayR = 0.298936021293775
	grayG = 0.587043074451121
	grayB = 0.114020904255103
)

// RGB2Gray is MATLAB's rgb2gray on a uint8 image: the weighted sum is taken in double
// (imapplymatrix / imlincomb) and rounded half away from zero to uint8; the uint8 values are returned
// as float64, i.e. double(rgb2gray(im)), which is what the baselines go on with.
func RGB2Gray(im *RGB8) *Gray {
	g := RGB2GrayDouble(im)
	for i, v := range g.Pix {
		g.Pix[i] = float64(ToUint8(v))
	}
	return g
}

// RGB2GrayDouble is the unrounded weighted sum on the 0..255 scale: 255*rgb2gray(im2double(im)) up to
// the last bit (and rgb2gray(double(im)) in MATLAB releases that do not clamp double input to [0, 1]).
func RGB2GrayDouble(im *RGB8) *Gray {
	n := im.H * im.W
	g := NewGray(im.H, im.W)
	r, gr, b := im.Pix[:n], im.Pix[n:2*n], im.Pix[2*n:3*n]
	for i := range g.Pix {
		// Explicit conversions keep each product rounded (no fused multiply-add), as MATLAB's sum.
		v := float64(grayR*float64(r[i])) + float64(grayG*float64(gr[i]))
		g.Pix[i] = v + float64(grayB*float64(b[i]))
	}
	return g
}
