package higrade

import (
	"math"
	"sync"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// spatial is higrade_spatial(im, 2): spatialFeature at full size and after imresize(im, 0.5).
func spatial(im *matlab.Gray) []float64 {
	win := normSum(matlab.FspecialGaussian(7, 7, 7.0/6))
	out := spatialFeature(im, win)
	return append(out, spatialFeature(matlab.Imresize(im, 0.5), win)...)
}

// spatialFeature is higrade_spatial.m's spatial_feature: the local mean and deviation under win, the
// Nakagami-like fit (mean, (mean/std)^2) of the deviation map, and GGD fits (gaussian_para_esti: sigma,
// shape) of the normalised image, of the differences of its log-magnitude with four shifted copies,
// of a cross combination of shifts and of two 3x3 derivative filters. 18 values.
func spatialFeature(im, win *matlab.Gray) []float64 {
	n := len(im.Pix)
	sq := matlab.NewGray(im.H, im.W)
	for i, v := range im.Pix {
		sq.Pix[i] = v * v
	}
	mu := matlab.Filter2(win, im, matlab.Same)
	mu2 := matlab.Filter2(win, sq, matlab.Same)
	sigma, sd := matlab.NewGray(im.H, im.W), matlab.NewGray(im.H, im.W)
	for i := 0; i < n; i++ {
		s := math.Sqrt(math.Abs(mu2.Pix[i] - mu.Pix[i]*mu.Pix[i]))
		sigma.Pix[i] = s
		sd.Pix[i] = (im.Pix[i] - mu.Pix[i]) / (s + 1)
	}
	out := make([]float64, 0, PerMap)
	const eps = 0x1p-52
	sig := colMajor(sigma)
	for i := range sig {
		sig[i] += eps
	}
	m, s := meanStd(sig)
	out = append(out, m, (m/s)*(m/s))
	out = append(out, ggdFit(colMajor(sd))...)

	for i, v := range sd.Pix {
		sd.Pix[i] = math.Log(math.Abs(v) + 0.1)
	}
	shifts := [4][2]int{{0, 1}, {1, 0}, {1, 1}, {-1, 1}}
	var shifted [4]*matlab.Gray
	for k, sh := range shifts {
		shifted[k] = circshift(sd, sh[0], sh[1])
		d := matlab.NewGray(sd.H, sd.W)
		for i := range d.Pix {
			d.Pix[i] = sd.Pix[i] - shifted[k].Pix[i]
		}
		out = append(out, ggdFit(colMajor(d))...)
	}
	cross := matlab.NewGray(sd.H, sd.W)
	for i := range cross.Pix {
		cross.Pix[i] = sd.Pix[i] + shifted[2].Pix[i] - shifted[0].Pix[i] - shifted[1].Pix[i]
	}
	out = append(out, ggdFit(colMajor(cross))...)
	k1 := &matlab.Gray{H: 3, W: 3, Pix: []float64{0, 1, 0, -1, 0, -1, 0, 1, 0}}
	k2 := &matlab.Gray{H: 3, W: 3, Pix: []float64{1, 0, -1, 0, 0, 0, -1, 0, 1}}
	out = append(out, ggdFit(colMajor(matlab.Filter2(k1, sd, matlab.Same)))...)
	return append(out, ggdFit(colMajor(matlab.Filter2(k2, sd, matlab.Same)))...)
}

// circshift is MATLAB's circshift(g, [dy dx]): out(y, x) = g(y-dy, x-dx), indices modulo the size.
func circshift(g *matlab.Gray, dy, dx int) *matlab.Gray {
	out := matlab.NewGray(g.H, g.W)
	for y := 0; y < g.H; y++ {
		sy := ((y-dy)%g.H + g.H) % g.H
		for x := 0; x < g.W; x++ {
			sx := ((x-dx)%g.W + g.W) % g.W
			out.Pix[y*g.W+x] = g.Pix[sy*g.W+sx]
		}
	}
	return out
}

// shapeGrid is gaussian_para_esti's grid gam = 0.2:0.001:10 (elements base + k*step, as Octave forms
// ranges) and r_gam = Gamma(1/g)Gamma(3/g)/Gamma(2/g)^2 on it.
var shapeGrid = sync.OnceValues(func() (gam, r []float64) {
	const count = 9801 // (10 - 0.2)/0.001 + 1
	gam, r = make([]float64, count), make([]float64, count)
	for k := range gam {
		g := 0.2 + float64(k)*0.001
		gam[k] = g
		r[k] = (math.Gamma(1/g) * math.Gamma(3/g)) / math.Pow(math.Gamma(2/g), 2)
	}
	return gam, r
})

// ggdFit is gaussian_para_esti(x): the standard deviation about the mean and the grid shape whose
// ratio Gamma(1/g)Gamma(3/g)/Gamma(2/g)^2 is nearest to var/E|x-mu|^2 (the first of equals; a NaN ratio,
// from a constant x, gives the first grid value, as MATLAB's min does).
func ggdFit(x []float64) []float64 {
	n := float64(len(x))
	var s float64
	for _, v := range x {
		s += v
	}
	mu := s / n
	var sq, ab float64
	for _, v := range x {
		d := v - mu
		sq += d * d
		ab += math.Abs(d)
	}
	varx := sq / n
	e := ab / n
	rho := varx / (e * e)
	gam, r := shapeGrid()
	best, bi := math.Inf(1), 0
	for k, rk := range r {
		if d := math.Abs(rho - rk); d < best {
			best, bi = d, k
		}
	}
	return []float64{math.Sqrt(varx), gam[bi]}
}

// meanStd is mean(x) and std(x) (normalised by n-1), summed in the order given.
func meanStd(x []float64) (mean, std float64) {
	n := float64(len(x))
	var s float64
	for _, v := range x {
		s += v
	}
	mean = s / n
	var sq float64
	for _, v := range x {
		d := v - mean
		sq += d * d
	}
	return mean, math.Sqrt(sq / (n - 1))
}

// colMajor returns g(:), MATLAB's column-major order, so that sums run in the release's order.
func colMajor(g *matlab.Gray) []float64 {
	out := make([]float64, 0, len(g.Pix))
	for x := 0; x < g.W; x++ {
		for y := 0; y < g.H; y++ {
			out = append(out, g.Pix[y*g.W+x])
		}
	}
	return out
}

// normSum is k/sum(k(:)).
func normSum(k *matlab.Gray) *matlab.Gray {
	var s float64
	for _, v := range colMajor(k) {
		s += v
	}
	out := k.Clone()
	for i := range out.Pix {
		out.Pix[i] /= s
	}
	return out
}
