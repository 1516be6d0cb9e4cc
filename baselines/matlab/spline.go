package matlab

// uniformSpline is the cubic spline interp1(x, y, xi, 'spline') fits through y at the knots
// x = linspace(0, 1, len(y)): MATLAB's spline with not-a-knot end conditions (the third derivative
// continuous across the second and the second-to-last knot).
type uniformSpline struct {
	h    float64
	y, m []float64 // values and second derivatives at the knots
}

// newUniformSpline needs at least 4 knots (fewer make not-a-knot a lower-degree fit, which the one
// use here, a 1024-entry tone curve, never needs).
func newUniformSpline(y []float64) *uniformSpline {
	n := len(y)
	if n < 4 {
		panic("matlab: newUniformSpline needs >= 4 knots")
	}
	h := 1 / float64(n-1)
	// Second derivatives M: M[i-1] + 4M[i] + M[i+1] = 6 (y[i+1] - 2y[i] + y[i-1]) / h^2 inside, and
	// not-a-knot's M[0] - 2M[1] + M[2] = 0 (uniform knots). Substituting M[0] into the first row leaves
	// 6M[1] = rhs[1], and likewise 6M[n-2] = rhs[n-2]; rows 2..n-3 are tridiagonal between them.
	rhs := make([]float64, n)
	for i := 1; i < n-1; i++ {
		rhs[i] = 6 * (y[i+1] - 2*y[i] + y[i-1]) / (h * h)
	}
	m := make([]float64, n)
	m[1], m[n-2] = rhs[1]/6, rhs[n-2]/6
	if n > 4 {
		lo, hi := 2, n-3
		size := hi - lo + 1
		diag, d := make([]float64, size), make([]float64, size)
		for k := 0; k < size; k++ {
			diag[k], d[k] = 4, rhs[lo+k]
		}
		d[0] -= m[1]
		d[size-1] -= m[n-2]
		for k := 1; k < size; k++ { // Thomas algorithm, unit off-diagonals
			w := 1 / diag[k-1]
			diag[k] -= w
			d[k] -= w * d[k-1]
		}
		m[hi] = d[size-1] / diag[size-1]
		for k := size - 2; k >= 0; k-- {
			m[lo+k] = (d[k] - m[lo+k+1]) / diag[k]
		}
	}
	m[0] = 2*m[1] - m[2]
	m[n-1] = 2*m[n-2] - m[n-3]
	return &uniformSpline{h: h, y: y, m: m}
}

// at evaluates the spline at x in [0, 1] (the end pieces extend beyond it).
func (s *uniformSpline) at(x float64) float64 {
	n := len(s.y)
	i := int(x / s.h)
	i = min(max(i, 0), n-2)
	a := float64(i+1)*s.h - x // distance to the right knot
	b := x - float64(i)*s.h   // distance to the left knot
	h := s.h
	return s.m[i]*a*a*a/(6*h) + s.m[i+1]*b*b*b/(6*h) +
		(s.y[i]-s.m[i]*h*h/6)*a/h + (s.y[i+1]-s.m[i+1]*h*h/6)*b/h
}
