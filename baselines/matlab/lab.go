package matlab

import (
	"math"
	"sync"
)

// The chain of applycform(im, makecform('srgb2lab')) with makecform's defaults, as makecform.m builds it:
//
//  1. 'srgb2xyz': the MatTRC model of MATLAB's sRGB.icm (the 1998 Hewlett-Packard "sRGB IEC61966-2.1"
//     profile): each channel through its 1024-entry uint16 tone curve, interpolated by interp1's
//     'spline' (not-a-knot) and clipped to [0, 1] (applycurve.m), then times the colorant matrix
//     (applymattrc_fwd.m) -- XYZ relative to D50;
//  2. because the adapted white point defaults to whitepoint() = whitepoint('icc'), which is not
//     whitepoint('d50'), a Bradford adaptation from whitepoint('d50') to it (make_adapt_cform);
//  3. 'xyz2lab' relative to whitepoint('icc'), with MATLAB's f: t^(1/3) above 216/24389, 841/108 t + 16/116
//     at or below.
//
// The profile's curves are IEC 61966-2-1's transfer function sampled at i/1023 and rounded to 16 bits
// (checked against the profile's bytes on its first 101 and last 37 entries, all equal); its colorants are its rXYZ, gXYZ,
// bXYZ tags (s15Fixed16).
var (
	// iccColorants are the profile's red, green and blue colorant XYZs (rows), s15Fixed16 / 65536.
	iccColorants = [3][3]float64{
		{0x6FA2 / 65536.0, 0x38F5 / 65536.0, 0x0390 / 65536.0},
		{0x6299 / 65536.0, 0xB785 / 65536.0, 0x18DA / 65536.0},
		{0x24A0 / 65536.0, 0x0F84 / 65536.0, 0xB6CF / 65536.0},
	}
	// whiteICC is whitepoint('icc'): the ICC PCS illuminant, [31595 32768 27030] / 32768.
	whiteICC = [3]float64{31595.0 / 32768, 1, 27030.0 / 32768}
	// whiteD50 is whitepoint('d50') of MATLAB R2021a and later ([0.9642 1 0.8249] before).
	whiteD50 = [3]float64{0.9642, 1, 0.8251}
	// bradford is makecform('adapt')'s Bradford matrix (XYZ -> cone primaries).
	bradford = [3][3]float64{
		{0.8951, 0.2664, -0.1614},
		{-0.7502, 1.7135, 0.0367},
		{0.0389, -0.0685, 1.0296},
	}
)

// trcSamples is the number of entries of each tone curve of sRGB.icm.
const trcSamples = 1024

var (
	labTablesOnce sync.Once
	trcLinear     [256]float64 // applycurve of v/255 for v = 0..255
	adaptICC      [3][3]float64
)

func labTables() {
	labTablesOnce.Do(func() {
		var curve [trcSamples]float64
		for i := range curve {
			curve[i] = math.Round(65535*srgbLinear(float64(i)/(trcSamples-1))) / 65535
		}
		s := newUniformSpline(curve[:])
		for v := range trcLinear {
			trcLinear[v] = min(max(s.at(float64(v)/255), 0), 1)
		}
		adaptICC = bradfordAdapter(whiteD50, whiteICC)
	})
}

// bradfordAdapter is make_adapt_cform's matrix chad \ diag(chad*to ./ chad*from) * chad, applied to
// column XYZ vectors.
func bradfordAdapter(from, to [3]float64) [3][3]float64 {
	var scale [3]float64
	for i := 0; i < 3; i++ {
		var s, e float64
		for j := 0; j < 3; j++ {
			s += bradford[i][j] * from[j]
			e += bradford[i][j] * to[j]
		}
		scale[i] = e / s
	}
	inv := inverse3(bradford)
	var out [3][3]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				out[i][j] += inv[i][k] * scale[k] * bradford[k][j]
			}
		}
	}
	return out
}

func inverse3(m [3][3]float64) [3][3]float64 {
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) - m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	var inv [3][3]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			// cofactor of m[j][i]
			r0, r1 := (j+1)%3, (j+2)%3
			c0, c1 := (i+1)%3, (i+2)%3
			inv[i][j] = (m[r0][c0]*m[r1][c1] - m[r0][c1]*m[r1][c0]) / det
		}
	}
	return inv
}

// SRGB2Lab converts im to CIE 1976 L*a*b* doubles (L* 0..100) as applycform(im2double(im),
// makecform('srgb2lab')) computes them: the chain described above (sRGB.icm's spline-interpolated
// curves and colorants, Bradford adaptation from D50 to the ICC white, L*a*b* relative to the ICC white).
func SRGB2Lab(im *RGB8) (L, A, B *Gray) {
	labTables()
	n := im.H * im.W
	L, A, B = NewGray(im.H, im.W), NewGray(im.H, im.W), NewGray(im.H, im.W)
	for i := 0; i < n; i++ {
		rgb := [3]float64{trcLinear[im.Pix[i]], trcLinear[im.Pix[n+i]], trcLinear[im.Pix[2*n+i]]}
		var xyz [3]float64 // rgb * [Red; Green; Blue]
		for j := 0; j < 3; j++ {
			xyz[j] = rgb[0]*iccColorants[0][j] + rgb[1]*iccColorants[1][j] + rgb[2]*iccColorants[2][j]
		}
		var f [3]float64
		for j := 0; j < 3; j++ {
			a := adaptICC[j]
			f[j] = labF((a[0]*xyz[0] + a[1]*xyz[1] + a[2]*xyz[2]) / whiteICC[j])
		}
		L.Pix[i] = 116*f[1] - 16
		A.Pix[i] = 500 * (f[0] - f[1])
		B.Pix[i] = 200 * (f[1] - f[2])
	}
	return L, A, B
}

// SRGB2LabUint8 is SRGB2Lab followed by lab2uint8's ICC encoding, which is what applycform returns
// for a uint8 image (HIGRADE's applycform(imread(...), cform)): round(L*255/100), round(a+128),
// round(b+128), saturated to 0..255, held as float64 (double(lab8)).
func SRGB2LabUint8(im *RGB8) (L, A, B *Gray) {
	L, A, B = SRGB2Lab(im)
	for i := range L.Pix {
		L.Pix[i] = float64(ToUint8(L.Pix[i] * 255 / 100))
		A.Pix[i] = float64(ToUint8(A.Pix[i] + 128))
		B.Pix[i] = float64(ToUint8(B.Pix[i] + 128))
	}
	return L, A, B
}

// srgbLinear inverts the sRGB transfer function (IEC 61966-2-1).
func srgbLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

// labF is MATLAB's xyz2lab f(t): t.^(1/3) above 216/24389, 841/108*t + 16/116 at or below.
func labF(t float64) float64 {
	if t <= 216.0/24389 {
		return 841.0/108*t + 16.0/116
	}
	return math.Pow(t, 1.0/3)
}
