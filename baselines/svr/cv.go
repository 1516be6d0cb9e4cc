package svr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// glibcRand reproduces glibc's rand() (the TYPE_3 additive feedback generator behind random()):
// svm-train never seeds it, so seed 1 gives the folds of svm-train -v and of -b 1.
type glibcRand struct {
	r []int32
	k int
}

func newGlibcRand(seed uint32) *glibcRand {
	if seed == 0 {
		seed = 1 // glibc's srand(0) is srand(1)
	}
	r := make([]int32, 34, 34+1024)
	r[0] = int32(seed)
	for i := 1; i < 31; i++ {
		// 16807 * r[i-1] % 2147483647 without overflow (Schrage), as glibc's srandom_r.
		hi, lo := int64(r[i-1])/127773, int64(r[i-1])%127773
		w := 16807*lo - 2836*hi
		if w < 0 {
			w += 2147483647
		}
		r[i] = int32(w)
	}
	for i := 31; i < 34; i++ {
		r[i] = r[i-31]
	}
	g := &glibcRand{r: r}
	for i := 0; i < 310; i++ { // srandom_r discards 10*31 outputs
		g.next()
	}
	return g
}

func (g *glibcRand) next() int32 {
	n := len(g.r)
	v := int32(uint32(g.r[n-31]) + uint32(g.r[n-3]))
	g.r = append(g.r, v)
	if len(g.r) > 4096 {
		g.r = append(g.r[:0], g.r[len(g.r)-34:]...)
	}
	return int32(uint32(v) >> 1)
}

// foldPerm is svm_cross_validation's shuffle for regression and the fold starts i*l/folds.
func foldPerm(l, folds int, seed uint32) (perm, start []int) {
	g := newGlibcRand(seed)
	perm = make([]int, l)
	for i := range perm {
		perm[i] = i
	}
	for i := 0; i < l; i++ {
		j := i + int(g.next())%(l-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	start = make([]int, folds+1)
	for i := range start {
		start[i] = i * l / folds
	}
	return perm, start
}

// CrossValidate is svm_cross_validation for regression: the prediction of every sample by the model
// trained on the other folds. seed 1 (or 0) gives svm-train -v's folds. Probability is not fitted
// for the fold models.
func CrossValidate(ctx context.Context, x [][]float64, y []float64, folds int, p Params, seed uint32) ([]float64, error) {
	if _, err := checkData(x, y); err != nil {
		return nil, err
	}
	if folds < 2 {
		return nil, fmt.Errorf("svr: %d folds, want >= 2", folds)
	}
	l := len(x)
	folds = min(folds, l) // libsvm falls back to leave-one-out
	perm, start := foldPerm(l, folds, seed)
	return crossValidate(ctx, x, y, perm, start, p)
}

func crossValidate(ctx context.Context, x [][]float64, y []float64, perm, start []int, p Params) ([]float64, error) {
	p.Probability = false
	target := make([]float64, len(x))
	for f := 0; f+1 < len(start); f++ {
		begin, end := start[f], start[f+1]
		var sx [][]float64
		var sy []float64
		for _, j := range append(append([]int{}, perm[:begin]...), perm[end:]...) {
			sx = append(sx, x[j])
			sy = append(sy, y[j])
		}
		m, err := Train(ctx, sx, sy, p)
		if err != nil {
			return nil, fmt.Errorf("svr: cross-validation fold %d: %w", f+1, err)
		}
		for _, j := range perm[begin:end] {
			target[j] = m.Predict(x[j])
		}
	}
	return target, nil
}

// laplaceSigma is svm_svr_probability: the mean absolute 5-fold residual after dropping residuals
// beyond 5 standard deviations of a Laplace fit.
func laplaceSigma(ctx context.Context, x [][]float64, y []float64, p Params) (float64, error) {
	pred, err := CrossValidate(ctx, x, y, 5, p, p.Seed)
	if err != nil {
		return 0, err
	}
	l := len(x)
	res := make([]float64, l)
	mae := 0.0
	for i := range res {
		res[i] = y[i] - pred[i]
		mae += math.Abs(res[i])
	}
	mae /= float64(l)
	std := math.Sqrt(2 * mae * mae)
	count := 0
	mae = 0
	for _, r := range res {
		if math.Abs(r) > 5*std {
			count++
		} else {
			mae += math.Abs(r)
		}
	}
	return mae / float64(l-count), nil
}

// MSE is svm-train -v's regression error: the mean of squared differences.
func MSE(pred, y []float64) float64 {
	total := 0.0
	for i := range y {
		d := pred[i] - y[i]
		total += d * d
	}
	return total / float64(len(y))
}

// Grid is the search space of GridSearch in log2 units, begin to end inclusive by step, as
// grid.py's -log2c and -log2g.
type Grid struct {
	Log2C [3]float64 // begin, end, step
	Log2G [3]float64
}

// DefaultGrid is grid.py's: log2c -5..15 step 2, log2g 3..-15 step -2.
func DefaultGrid() Grid { return Grid{Log2C: [3]float64{-5, 15, 2}, Log2G: [3]float64{3, -15, -2}} }

func rangeF(r [3]float64) ([]float64, error) {
	if r[2] == 0 || math.IsNaN(r[2]) || (r[1]-r[0])/r[2] < 0 || (r[1]-r[0])/r[2] > 1000 {
		return nil, fmt.Errorf("svr: grid range %v..%v step %v is empty or endless", r[0], r[1], r[2])
	}
	var seq []float64
	for v := r[0]; (r[2] > 0 && v <= r[1]) || (r[2] < 0 && v >= r[1]); v += r[2] {
		seq = append(seq, v)
	}
	return seq, nil
}

// GridResult is the best grid point.
type GridResult struct {
	Params Params
	Log2C  float64
	Log2G  float64
	MSE    float64
}

// GridSearch picks C and Gamma by k-fold cross-validation MSE over grid (each point as
// `svm-train -c 2^log2c -g 2^log2g -v folds` with base's other options). All points share the folds
// of seed (1 reproduces svm-train's). Ties keep the smaller C at the same gamma, else the first
// point visited (log2c outer loop, log2g inner, in the grid's order).
func GridSearch(ctx context.Context, x [][]float64, y []float64, folds int, grid Grid, base Params, seed uint32) (GridResult, error) {
	cs, err := rangeF(grid.Log2C)
	if err != nil {
		return GridResult{}, err
	}
	gs, err := rangeF(grid.Log2G)
	if err != nil {
		return GridResult{}, err
	}
	if _, err := checkData(x, y); err != nil {
		return GridResult{}, err
	}
	if folds < 2 {
		return GridResult{}, fmt.Errorf("svr: %d folds, want >= 2", folds)
	}
	perm, start := foldPerm(len(x), min(folds, len(x)), seed)
	// The points are independent: they run in parallel, then are compared in grid order, so the
	// winner (and its tie-breaking) is the serial search's.
	type point struct {
		lc, lg, mse float64
		p           Params
		err         error
	}
	points := make([]point, 0, len(cs)*len(gs))
	for _, lc := range cs {
		for _, lg := range gs {
			p := base
			p.C, p.Gamma = math.Exp2(lc), math.Exp2(lg)
			points = append(points, point{lc: lc, lg: lg, p: p})
		}
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(points)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pt := &points[i]
				pred, err := crossValidate(ctx, x, y, perm, start, pt.p)
				if err != nil {
					pt.err = fmt.Errorf("svr: grid point log2c=%v log2g=%v: %w", pt.lc, pt.lg, err)
					continue
				}
				pt.mse = MSE(pred, y)
			}
		}()
	}
	for i := range points {
		next <- i
	}
	close(next)
	wg.Wait()
	best := GridResult{MSE: math.Inf(1)}
	for _, pt := range points {
		if pt.err != nil {
			return GridResult{}, pt.err
		}
		if pt.mse < best.MSE || (pt.mse == best.MSE && pt.lg == best.Log2G && pt.lc < best.Log2C) {
			best = GridResult{Params: pt.p, Log2C: pt.lc, Log2G: pt.lg, MSE: pt.mse}
		}
	}
	if math.IsInf(best.MSE, 1) {
		return GridResult{}, errors.New("svr: grid search found no finite cross-validation error")
	}
	return best, nil
}
