// Package svr is epsilon-support vector regression as libsvm 3.24 trains and predicts it (Debian's
// libsvm-tools and python3-libsvm): the same solver, model files svm-train and svm-predict read and
// write, svm-scale's scaling and range files, 5-fold Laplace sigma for -b 1, svm-train -v cross
// validation with glibc's rand() folds, a grid.py-like search, and models saved by libsvm's MATLAB
// interface (FromMAT).
package svr

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Params are svm-train's options for -s 3 (epsilon-SVR). Zero values of Tolerance, CacheMB and
// Degree mean libsvm's defaults (-e 0.001, -m 100, -d 3) and a zero Gamma means 1/features as
// svm-train; C and Epsilon are taken as given (DefaultParams has libsvm's -c 1, -p 0.1, -h 1).
type Params struct {
	C         float64 // -c, cost
	Gamma     float64 // -g
	Epsilon   float64 // -p, width of the insensitive tube
	Tolerance float64 // -e, stopping tolerance
	Shrinking bool    // -h 1
	CacheMB   float64 // -m
	Kernel    Kernel  // -t (RBF is the zero value)
	Degree    int     // -d, polynomial kernel
	Coef0     float64 // -r, polynomial and sigmoid kernels
	// Probability fits the Laplace sigma of -b 1 (ProbA) by 5-fold cross validation whose folds
	// come from glibc rand() seeded with Seed (0 means 1, svm-train's unseeded state).
	Probability bool
	Seed        uint32
}

// DefaultParams returns svm-train's defaults for -s 3 -t 2.
func DefaultParams() Params {
	return Params{C: 1, Epsilon: 0.1, Tolerance: 0.001, Shrinking: true, CacheMB: 100, Degree: 3}
}

// Model is a trained epsilon-SVR: f(x) = sum_i Coef[i] K(SV[i], x) - Rho.
type Model struct {
	Kernel Kernel
	Gamma  float64
	Coef0  float64
	Degree int
	Rho    float64
	// ProbA is the Laplace sigma of -b 1 when HasProbA.
	ProbA    float64
	HasProbA bool
	// SV are the support vectors, dense (feature k at index k-1; absent features are zeros).
	SV   [][]float64
	Coef []float64
	// SVIndices are the 1-based training rows of the support vectors (libsvm's sv_indices);
	// nil for a model read from a file.
	SVIndices []int
}

func (p Params) withDefaults(features int) (Params, error) {
	if p.Tolerance == 0 {
		p.Tolerance = 0.001
	}
	if p.CacheMB == 0 {
		p.CacheMB = 100
	}
	if p.Degree == 0 {
		p.Degree = 3
	}
	if p.Gamma == 0 && features > 0 {
		p.Gamma = 1 / float64(features)
	}
	switch {
	case !(p.C > 0) || math.IsInf(p.C, 0):
		return p, fmt.Errorf("svr: C = %v, want > 0", p.C)
	case !(p.Epsilon >= 0) || math.IsInf(p.Epsilon, 0):
		return p, fmt.Errorf("svr: Epsilon = %v, want >= 0", p.Epsilon)
	case !(p.Tolerance > 0):
		return p, fmt.Errorf("svr: Tolerance = %v, want > 0", p.Tolerance)
	case !(p.CacheMB > 0):
		return p, fmt.Errorf("svr: CacheMB = %v, want > 0", p.CacheMB)
	case p.Gamma < 0 || math.IsNaN(p.Gamma):
		return p, fmt.Errorf("svr: Gamma = %v, want >= 0", p.Gamma)
	case p.Degree < 0:
		return p, fmt.Errorf("svr: Degree = %d, want >= 0", p.Degree)
	case kernelNames[p.Kernel] == "":
		return p, fmt.Errorf("svr: unknown kernel %d", p.Kernel)
	}
	return p, nil
}

func checkData(x [][]float64, y []float64) (features int, err error) {
	if len(x) == 0 {
		return 0, errors.New("svr: no training samples")
	}
	if len(x) != len(y) {
		return 0, fmt.Errorf("svr: %d samples but %d targets", len(x), len(y))
	}
	for i, row := range x {
		features = max(features, len(row))
		for k, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("svr: sample %d feature %d is %v", i, k+1, v)
			}
		}
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return 0, fmt.Errorf("svr: target %d is %v", i, y[i])
		}
	}
	return features, nil
}

// Train fits an epsilon-SVR to rows x (all of the same meaning; shorter rows are zero-padded) and
// targets y, as svm-train -s 3 does.
func Train(ctx context.Context, x [][]float64, y []float64, p Params) (*Model, error) {
	features, err := checkData(x, y)
	if err != nil {
		return nil, err
	}
	if p, err = p.withDefaults(features); err != nil {
		return nil, err
	}
	m := &Model{Kernel: p.Kernel, Gamma: p.Gamma, Coef0: p.Coef0, Degree: p.Degree}
	if p.Probability {
		sigma, err := laplaceSigma(ctx, x, y, p)
		if err != nil {
			return nil, err
		}
		m.ProbA, m.HasProbA = sigma, true
	}
	alpha, rho, err := solveEpsilonSVR(ctx, x, y, p)
	if err != nil {
		return nil, err
	}
	m.Rho = rho
	for i, a := range alpha {
		if math.Abs(a) > 0 {
			m.SV = append(m.SV, x[i])
			m.Coef = append(m.Coef, a)
			m.SVIndices = append(m.SVIndices, i+1)
		}
	}
	return m, nil
}

// solveEpsilonSVR is libsvm's solve_epsilon_svr: 2l variables alpha+ (y=+1, linear term p - y_i)
// and alpha- (y=-1, p + y_i); the coefficients are alpha+ - alpha-.
func solveEpsilonSVR(ctx context.Context, x [][]float64, y []float64, p Params) ([]float64, float64, error) {
	l := len(x)
	s := &solver{l: 2 * l, c: p.C, eps: p.Tolerance,
		y: make([]int8, 2*l), p: make([]float64, 2*l), alpha: make([]float64, 2*l)}
	for i := 0; i < l; i++ {
		s.p[i], s.y[i] = p.Epsilon-y[i], 1
		s.p[i+l], s.y[i+l] = p.Epsilon+y[i], -1
	}
	s.q = newSVRQ(x, kernelParams{kind: p.Kernel, gamma: p.Gamma, coef0: p.Coef0, degree: p.Degree}, p.CacheMB)
	rho, err := s.solve(ctx, p.Shrinking)
	if err != nil {
		return nil, 0, err
	}
	alpha := make([]float64, l)
	for i := 0; i < l; i++ {
		alpha[i] = s.alpha[i] - s.alpha[i+l]
	}
	return alpha, rho, nil
}

func (m *Model) kernel() kernelParams {
	return kernelParams{kind: m.Kernel, gamma: m.Gamma, coef0: m.Coef0, degree: m.Degree}
}

// Predict returns the regression value for x (svm_predict): feature k at x[k-1].
func (m *Model) Predict(x []float64) float64 {
	k := m.kernel()
	sum := 0.0
	for i, sv := range m.SV {
		sum += float64(m.Coef[i] * k.eval(x, sv))
	}
	return sum - m.Rho
}
