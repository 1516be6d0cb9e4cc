package matlab

import "math"

// whiteD65 is MATLAB's whitepoint('d65') (XYZ scaled to Y = 1).
var whiteD65 = [3]float64{0.9504, 1, 1.0888}

// srgbToXYZ is the linear sRGB -> XYZ (D65) matrix of IEC 61966-2-1.
var srgbToXYZ = [3][3]float64{
	{0.4124, 0.3576, 0.1805},
	{0.2126, 0.7152, 0.0722},
	{0.0193, 0.1192, 0.9505},
}

// SRGB2Lab converts im to CIE 1976 L*a*b* doubles (L* 0..100): v/255, the sRGB transfer function
// inverted, the IEC 61966-2-1 matrix to XYZ, and L*a*b* relative to whitepoint('d65').
//
// This is the brief's reading of applycform(im2double(im), makecform('srgb2lab')), and NOT verified
// against MATLAB: makecform's default 'AdaptedWhitePoint' appears to be D50 with MATLAB's sRGB ICC
// profile (Bradford-adapted matrix, tabulated curves), which moves a* and b* by several units; see the
// package README. It agrees with scikit-image's rgb2lab (D65) to the digits of the two constant sets.
func SRGB2Lab(im *RGB8) (L, A, B *Gray) {
	n := im.H * im.W
	L, A, B = NewGray(im.H, im.W), NewGray(im.H, im.W), NewGray(im.H, im.W)
	var lin [256]float64
	for v := range lin {
		lin[v] = srgbLinear(float64(v) / 255)
	}
	for i := 0; i < n; i++ {
		r, g, b := lin[im.Pix[i]], lin[im.Pix[n+i]], lin[im.Pix[2*n+i]]
		var f [3]float64
		for c := 0; c < 3; c++ {
			m := srgbToXYZ[c]
			xyz := float64(float64(m[0]*r)+float64(m[1]*g)) + float64(m[2]*b)
			f[c] = labF(xyz / whiteD65[c])
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

// labF is CIE 1976's f(t): the cube root above (6/29)^3, the linear segment below.
func labF(t float64) float64 {
	const e = 216.0 / 24389
	if t > e {
		return math.Cbrt(t)
	}
	return (24389.0/27*t + 16) / 116
}
