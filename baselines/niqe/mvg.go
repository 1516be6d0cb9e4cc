package niqe

import "math"

// nanMean is MATLAB's nanmean of an n x d matrix (row-major): each
// column's mean over its non-NaN values, NaN for a column with none.
func nanMean(x []float64, n, d int) []float64 {
	mu := make([]float64, d)
	for k := 0; k < d; k++ {
		var s float64
		c := 0
		for i := 0; i < n; i++ {
			if v := x[i*d+k]; !math.IsNaN(v) {
				s += v
				c++
			}
		}
		mu[k] = s / float64(c)
	}
	return mu
}

// nanCov is MATLAB's nancov of an n x d matrix (row-major): the rows with
// any NaN are removed and the rest get cov's unbiased estimate (divided by
// m-1; by 1 when a single row remains, which gives zeros, as cov).
// complete counts the rows used; with none, c is all NaN. The result is d x d row-major.
func nanCov(x []float64, n, d int) (c []float64, complete int) {
	var rows []int
	for i := 0; i < n; i++ {
		if !hasNaN(x[i*d : (i+1)*d]) {
			rows = append(rows, i)
		}
	}
	m := len(rows)
	c = make([]float64, d*d)
	if m == 0 {
		for i := range c {
			c[i] = math.NaN()
		}
		return c, 0
	}
	mu := make([]float64, d)
	for k := 0; k < d; k++ {
		var s float64
		for _, i := range rows {
			s += x[i*d+k]
		}
		mu[k] = s / float64(m)
	}
	z := make([]float64, m*d) // centred
	for r, i := range rows {
		for k := 0; k < d; k++ {
			z[r*d+k] = x[i*d+k] - mu[k]
		}
	}
	div := float64(m - 1)
	if m == 1 {
		div = 1
	}
	for a := 0; a < d; a++ {
		for b := a; b < d; b++ {
			var s float64
			for r := 0; r < m; r++ {
				s += z[r*d+a] * z[r*d+b]
			}
			c[a*d+b] = s / div
			c[b*d+a] = c[a*d+b]
		}
	}
	return c, m
}

func hasNaN(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) {
			return true
		}
	}
	return false
}

// pinvSym is MATLAB's pinv of a symmetric d x d matrix (row-major): the
// singular values of a symmetric matrix are the magnitudes of its
// eigenvalues, so with A = V diag(l) V' the pseudo-inverse is
// V diag(1/l) V' over the eigenvalues with |l| > d * max|l| * eps, pinv's
// default tolerance. The eigenvectors come from cyclic Jacobi rotations,
// accurate to a few ulps of the largest eigenvalue.
func pinvSym(a []float64, d int) []float64 {
	vals, vecs := jacobiEigen(a, d)
	maxAbs := 0.0
	for _, l := range vals {
		maxAbs = math.Max(maxAbs, math.Abs(l))
	}
	tol := float64(d) * maxAbs * 0x1p-52
	out := make([]float64, d*d)
	for k, l := range vals {
		if math.Abs(l) <= tol {
			continue
		}
		inv := 1 / l
		for i := 0; i < d; i++ {
			vi := vecs[i*d+k] * inv
			for j := 0; j < d; j++ {
				out[i*d+j] += vi * vecs[j*d+k]
			}
		}
	}
	return out
}

// jacobiEigen returns the eigenvalues of the symmetric matrix a and the
// eigenvectors as the columns of v (row-major), by cyclic Jacobi sweeps
// until the off-diagonal part vanishes relative to the diagonal.
func jacobiEigen(a []float64, d int) (vals, v []float64) {
	m := append([]float64(nil), a...)
	v = make([]float64, d*d)
	for i := 0; i < d; i++ {
		v[i*d+i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		off := 0.0
		for p := 0; p < d; p++ {
			for q := p + 1; q < d; q++ {
				off += m[p*d+q] * m[p*d+q]
			}
		}
		if off == 0 {
			break
		}
		for p := 0; p < d; p++ {
			for q := p + 1; q < d; q++ {
				rotate(m, v, d, p, q)
			}
		}
	}
	vals = make([]float64, d)
	for i := 0; i < d; i++ {
		vals[i] = m[i*d+i]
	}
	return vals, v
}

// rotate zeroes m[p][q] by one Jacobi rotation (Golub and Van Loan's
// symmetric Schur decomposition), applying it to v as well. An element
// negligible next to both diagonal entries is set to zero.
func rotate(m, v []float64, d, p, q int) {
	apq := m[p*d+q]
	if apq == 0 {
		return
	}
	app, aqq := m[p*d+p], m[q*d+q]
	if math.Abs(apq) < 0x1p-60*math.Sqrt(math.Abs(app*aqq)) {
		m[p*d+q], m[q*d+p] = 0, 0
		return
	}
	theta := (aqq - app) / (2 * apq)
	t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
	c := 1 / math.Sqrt(t*t+1)
	s := t * c
	for k := 0; k < d; k++ {
		mkp, mkq := m[k*d+p], m[k*d+q]
		m[k*d+p] = c*mkp - s*mkq
		m[k*d+q] = s*mkp + c*mkq
	}
	for k := 0; k < d; k++ {
		mpk, mqk := m[p*d+k], m[q*d+k]
		m[p*d+k] = c*mpk - s*mqk
		m[q*d+k] = s*mpk + c*mqk
	}
	for k := 0; k < d; k++ {
		vkp, vkq := v[k*d+p], v[k*d+q]
		v[k*d+p] = c*vkp - s*vkq
		v[k*d+q] = s*vkp + c*vkq
	}
}
