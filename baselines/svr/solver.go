package svr

import (
	"context"
	"math"
)

// The solver is libsvm's Solver (Fan, Chen and Lin, JMLR 6 (2005) 1889-1918) specialised to the
// epsilon-SVR dual: second-order working set selection, shrinking with one unshrink near the end,
// gradient reconstruction, and rho as calculate_rho. Every floating-point operation follows libsvm's
// order (kernel columns rounded to float32 as libsvm's Qfloat) so that the same data give the same
// support vectors and coefficients.

const tau = 1e-12

const (
	lowerBound = iota
	upperBound
	free
)

type solver struct {
	l          int
	q          *svrQ
	y          []int8
	g          []float64
	gBar       []float64
	alpha      []float64
	status     []int8
	p          []float64
	active     []int
	activeSize int
	c          float64
	eps        float64
	unshrink   bool
}

func (s *solver) updateStatus(i int) {
	switch {
	case s.alpha[i] >= s.c:
		s.status[i] = upperBound
	case s.alpha[i] <= 0:
		s.status[i] = lowerBound
	default:
		s.status[i] = free
	}
}

func (s *solver) isUpper(i int) bool { return s.status[i] == upperBound }
func (s *solver) isLower(i int) bool { return s.status[i] == lowerBound }
func (s *solver) isFree(i int) bool  { return s.status[i] == free }

func (s *solver) swap(i, j int) {
	s.q.swap(i, j)
	s.y[i], s.y[j] = s.y[j], s.y[i]
	s.g[i], s.g[j] = s.g[j], s.g[i]
	s.status[i], s.status[j] = s.status[j], s.status[i]
	s.alpha[i], s.alpha[j] = s.alpha[j], s.alpha[i]
	s.p[i], s.p[j] = s.p[j], s.p[i]
	s.active[i], s.active[j] = s.active[j], s.active[i]
	s.gBar[i], s.gBar[j] = s.gBar[j], s.gBar[i]
}

// reconstructGradient recomputes G of the shrunk variables from G_bar and the free variables.
func (s *solver) reconstructGradient() {
	if s.activeSize == s.l {
		return
	}
	for j := s.activeSize; j < s.l; j++ {
		s.g[j] = s.gBar[j] + s.p[j]
	}
	for i := 0; i < s.activeSize; i++ {
		if s.isFree(i) {
			qi := s.q.getQ(i, s.l)
			ai := s.alpha[i]
			for j := s.activeSize; j < s.l; j++ {
				s.g[j] += float64(ai * float64(qi[j]))
			}
		}
	}
}

// solve runs the optimisation with alpha starting at zero (as solve_epsilon_svr does) and returns
// rho; the solution is left in alpha in the original order.
func (s *solver) solve(ctx context.Context, shrinking bool) (float64, error) {
	l := s.l
	s.status = make([]int8, l)
	s.active = make([]int, l)
	s.g = make([]float64, l)
	s.gBar = make([]float64, l)
	for i := 0; i < l; i++ {
		s.updateStatus(i)
		s.active[i] = i
		s.g[i] = s.p[i]
	}
	s.activeSize = l
	maxIter := max(10000000, 100*l)
	counter := min(l, 1000) + 1
	iter := 0
	for iter < maxIter {
		counter--
		if counter == 0 {
			counter = min(l, 1000)
			if shrinking {
				s.doShrinking()
			}
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		i, j, done := s.selectWorkingSet()
		if done {
			s.reconstructGradient()
			s.activeSize = l
			if i, j, done = s.selectWorkingSet(); done {
				break
			}
			counter = 1
		}
		iter++
		s.step(i, j)
	}
	if iter >= maxIter && s.activeSize < l {
		s.reconstructGradient()
		s.activeSize = l
	}
	rho := s.calculateRho()
	out := make([]float64, l)
	for i := 0; i < l; i++ {
		out[s.active[i]] = s.alpha[i]
	}
	s.alpha = out
	return rho, nil
}

// step updates alpha[i], alpha[j] (clipped to the box), G and G_bar.
func (s *solver) step(i, j int) {
	qi := s.q.getQ(i, s.activeSize)
	qj := s.q.getQ(j, s.activeSize)
	ci, cj := s.c, s.c
	oldI, oldJ := s.alpha[i], s.alpha[j]
	a := s.alpha
	if s.y[i] != s.y[j] {
		quad := s.q.qd[i] + s.q.qd[j] + float64(2*qi[j])
		if quad <= 0 {
			quad = tau
		}
		delta := (-s.g[i] - s.g[j]) / quad
		diff := a[i] - a[j]
		a[i] += delta
		a[j] += delta
		if diff > 0 {
			if a[j] < 0 {
				a[j], a[i] = 0, diff
			}
		} else if a[i] < 0 {
			a[i], a[j] = 0, -diff
		}
		if diff > ci-cj {
			if a[i] > ci {
				a[i], a[j] = ci, ci-diff
			}
		} else if a[j] > cj {
			a[j], a[i] = cj, cj+diff
		}
	} else {
		quad := s.q.qd[i] + s.q.qd[j] - float64(2*qi[j])
		if quad <= 0 {
			quad = tau
		}
		delta := (s.g[i] - s.g[j]) / quad
		sum := a[i] + a[j]
		a[i] -= delta
		a[j] += delta
		if sum > ci {
			if a[i] > ci {
				a[i], a[j] = ci, sum-ci
			}
		} else if a[j] < 0 {
			a[j], a[i] = 0, sum
		}
		if sum > cj {
			if a[j] > cj {
				a[j], a[i] = cj, sum-cj
			}
		} else if a[i] < 0 {
			a[i], a[j] = 0, sum
		}
	}
	dI, dJ := a[i]-oldI, a[j]-oldJ
	for k := 0; k < s.activeSize; k++ {
		s.g[k] += float64(float64(qi[k])*dI) + float64(float64(qj[k])*dJ)
	}
	ui, uj := s.isUpper(i), s.isUpper(j)
	s.updateStatus(i)
	s.updateStatus(j)
	if ui != s.isUpper(i) {
		s.addGBar(i, ci, ui)
	}
	if uj != s.isUpper(j) {
		s.addGBar(j, cj, uj)
	}
}

func (s *solver) addGBar(i int, c float64, wasUpper bool) {
	qi := s.q.getQ(i, s.l)
	if wasUpper {
		for k := 0; k < s.l; k++ {
			s.gBar[k] -= float64(c * float64(qi[k]))
		}
	} else {
		for k := 0; k < s.l; k++ {
			s.gBar[k] += float64(c * float64(qi[k]))
		}
	}
}

// selectWorkingSet is libsvm's WSS 3: i maximises -y_i grad_i over I_up, j minimises the
// second-order decrease of the objective; done reports the stopping condition.
func (s *solver) selectWorkingSet() (outI, outJ int, done bool) {
	gmax, gmax2 := math.Inf(-1), math.Inf(-1)
	gmaxIdx, gminIdx := -1, -1
	objDiffMin := math.Inf(1)
	for t := 0; t < s.activeSize; t++ {
		if s.y[t] == 1 {
			if !s.isUpper(t) && -s.g[t] >= gmax {
				gmax, gmaxIdx = -s.g[t], t
			}
		} else if !s.isLower(t) && s.g[t] >= gmax {
			gmax, gmaxIdx = s.g[t], t
		}
	}
	i := gmaxIdx
	var qi []float32
	if i != -1 {
		qi = s.q.getQ(i, s.activeSize)
	}
	for j := 0; j < s.activeSize; j++ {
		var gradDiff, quad float64
		if s.y[j] == 1 {
			if s.isLower(j) {
				continue
			}
			gradDiff = gmax + s.g[j]
			if s.g[j] >= gmax2 {
				gmax2 = s.g[j]
			}
			if gradDiff <= 0 {
				continue
			}
			quad = s.q.qd[i] + s.q.qd[j] - float64(2.0*float64(s.y[i])*float64(qi[j]))
		} else {
			if s.isUpper(j) {
				continue
			}
			gradDiff = gmax - s.g[j]
			if -s.g[j] >= gmax2 {
				gmax2 = -s.g[j]
			}
			if gradDiff <= 0 {
				continue
			}
			quad = s.q.qd[i] + s.q.qd[j] + float64(2.0*float64(s.y[i])*float64(qi[j]))
		}
		var objDiff float64
		if quad > 0 {
			objDiff = -(gradDiff * gradDiff) / quad
		} else {
			objDiff = -(gradDiff * gradDiff) / tau
		}
		if objDiff <= objDiffMin {
			gminIdx, objDiffMin = j, objDiff
		}
	}
	if gmax+gmax2 < s.eps || gminIdx == -1 {
		return 0, 0, true
	}
	return gmaxIdx, gminIdx, false
}

func (s *solver) beShrunk(i int, gmax1, gmax2 float64) bool {
	switch {
	case s.isUpper(i):
		if s.y[i] == 1 {
			return -s.g[i] > gmax1
		}
		return -s.g[i] > gmax2
	case s.isLower(i):
		if s.y[i] == 1 {
			return s.g[i] > gmax2
		}
		return s.g[i] > gmax1
	}
	return false
}

func (s *solver) doShrinking() {
	gmax1, gmax2 := math.Inf(-1), math.Inf(-1)
	for i := 0; i < s.activeSize; i++ {
		if s.y[i] == 1 {
			if !s.isUpper(i) && -s.g[i] >= gmax1 {
				gmax1 = -s.g[i]
			}
			if !s.isLower(i) && s.g[i] >= gmax2 {
				gmax2 = s.g[i]
			}
		} else {
			if !s.isUpper(i) && -s.g[i] >= gmax2 {
				gmax2 = -s.g[i]
			}
			if !s.isLower(i) && s.g[i] >= gmax1 {
				gmax1 = s.g[i]
			}
		}
	}
	if !s.unshrink && gmax1+gmax2 <= s.eps*10 {
		s.unshrink = true
		s.reconstructGradient()
		s.activeSize = s.l
	}
	for i := 0; i < s.activeSize; i++ {
		if !s.beShrunk(i, gmax1, gmax2) {
			continue
		}
		s.activeSize--
		for s.activeSize > i {
			if !s.beShrunk(s.activeSize, gmax1, gmax2) {
				s.swap(i, s.activeSize)
				break
			}
			s.activeSize--
		}
	}
}

func (s *solver) calculateRho() float64 {
	nrFree := 0
	ub, lb, sumFree := math.Inf(1), math.Inf(-1), 0.0
	for i := 0; i < s.activeSize; i++ {
		yG := float64(s.y[i]) * s.g[i]
		switch {
		case s.isUpper(i):
			if s.y[i] == -1 {
				ub = math.Min(ub, yG)
			} else {
				lb = math.Max(lb, yG)
			}
		case s.isLower(i):
			if s.y[i] == 1 {
				ub = math.Min(ub, yG)
			} else {
				lb = math.Max(lb, yG)
			}
		default:
			nrFree++
			sumFree += yG
		}
	}
	if nrFree > 0 {
		return sumFree / float64(nrFree)
	}
	return (ub + lb) / 2
}
