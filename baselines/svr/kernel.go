package svr

import (
	"container/list"
	"math"
)

// Kernel is a libsvm kernel type. The zero value is RBF, the only one the baselines train.
type Kernel int

// The kernels of libsvm's -t option (their libsvm codes are 0 linear, 1 polynomial, 2 rbf, 3 sigmoid).
const (
	RBF Kernel = iota
	Linear
	Poly
	Sigmoid
)

var kernelNames = map[Kernel]string{Linear: "linear", Poly: "polynomial", RBF: "rbf", Sigmoid: "sigmoid"}

// libsvmCode is the kernel's -t number and the Parameters(2) value of libsvm's MATLAB struct.
var libsvmCode = map[Kernel]int{Linear: 0, Poly: 1, RBF: 2, Sigmoid: 3}

func (k Kernel) String() string {
	if s, ok := kernelNames[k]; ok {
		return s
	}
	return "unknown kernel"
}

// kernelParams are what a kernel evaluation needs.
type kernelParams struct {
	kind   Kernel
	gamma  float64
	coef0  float64
	degree int
}

// dot is libsvm's Kernel::dot on dense vectors: one running sum in feature order (missing trailing
// features are zeros, whose products add nothing). The float64 conversion keeps Go from fusing the
// multiply-add, which libsvm's generic x86-64 build does not do either.
func dot(a, b []float64) float64 {
	n := min(len(a), len(b))
	sum := 0.0
	for i := 0; i < n; i++ {
		sum += float64(a[i] * b[i])
	}
	return sum
}

// powi is libsvm's integer power by squaring.
func powi(base float64, times int) float64 {
	tmp, ret := base, 1.0
	for t := times; t > 0; t /= 2 {
		if t%2 == 1 {
			ret *= tmp
		}
		tmp *= tmp
	}
	return ret
}

// eval is libsvm's static k_function, used at prediction: RBF sums squared differences directly.
func (k kernelParams) eval(x, y []float64) float64 {
	switch k.kind {
	case Linear:
		return dot(x, y)
	case Poly:
		return powi(float64(k.gamma*dot(x, y))+k.coef0, k.degree)
	case Sigmoid:
		return math.Tanh(float64(k.gamma*dot(x, y)) + k.coef0)
	default:
		sum := 0.0
		n := max(len(x), len(y))
		for i := 0; i < n; i++ {
			var a, b float64
			if i < len(x) {
				a = x[i]
			}
			if i < len(y) {
				b = y[i]
			}
			d := a - b
			sum += float64(d * d)
		}
		return math.Exp(-k.gamma * sum)
	}
}

// svrQ is libsvm's SVR_Q: the 2l x 2l matrix Q[i][j] = sign_i sign_j K(x_index_i, x_index_j) of the
// epsilon-SVR dual, with kernel columns held in float32 (libsvm's Qfloat) in an LRU cache by sample.
type svrQ struct {
	l     int
	x     [][]float64
	xsq   []float64
	k     kernelParams
	sign  []int8
	index []int
	qd    []float64
	cache *colCache
	buf   [2][]float32
	next  int
}

func newSVRQ(x [][]float64, k kernelParams, cacheMB float64) *svrQ {
	l := len(x)
	q := &svrQ{l: l, x: x, k: k, sign: make([]int8, 2*l), index: make([]int, 2*l), qd: make([]float64, 2*l)}
	if k.kind == RBF {
		q.xsq = make([]float64, l)
		for i := range x {
			q.xsq[i] = dot(x[i], x[i])
		}
	}
	// libsvm's Cache: the budget in Qfloats, less its per-sample headers, at least two columns.
	size := int64(cacheMB*(1<<20)) / 4
	size -= int64(l) * 24 / 4
	size = max(size, 2*int64(l))
	q.cache = newColCache(size)
	for i := 0; i < l; i++ {
		q.sign[i], q.sign[i+l] = 1, -1
		q.index[i], q.index[i+l] = i, i
		q.qd[i] = q.kernel(i, i)
		q.qd[i+l] = q.qd[i]
	}
	q.buf[0] = make([]float32, 2*l)
	q.buf[1] = make([]float32, 2*l)
	return q
}

// kernel is libsvm's Kernel::kernel_function on training samples i and j.
func (q *svrQ) kernel(i, j int) float64 {
	switch q.k.kind {
	case Linear:
		return dot(q.x[i], q.x[j])
	case Poly:
		return powi(float64(q.k.gamma*dot(q.x[i], q.x[j]))+q.k.coef0, q.k.degree)
	case Sigmoid:
		return math.Tanh(float64(q.k.gamma*dot(q.x[i], q.x[j])) + q.k.coef0)
	default:
		return math.Exp(-q.k.gamma * (q.xsq[i] + q.xsq[j] - 2*dot(q.x[i], q.x[j])))
	}
}

func (q *svrQ) swap(i, j int) {
	q.sign[i], q.sign[j] = q.sign[j], q.sign[i]
	q.index[i], q.index[j] = q.index[j], q.index[i]
	q.qd[i], q.qd[j] = q.qd[j], q.qd[i]
}

// getQ returns Q's column i for rows [0, n), in one of two alternating buffers as libsvm does.
func (q *svrQ) getQ(i, n int) []float32 {
	real := q.index[i]
	data := q.cache.get(real, func(col []float32) {
		for j := range col {
			col[j] = float32(q.kernel(real, j))
		}
	}, q.l)
	buf := q.buf[q.next]
	q.next = 1 - q.next
	si := float32(q.sign[i])
	for j := 0; j < n; j++ {
		buf[j] = si * float32(q.sign[j]) * data[q.index[j]]
	}
	return buf[:n]
}

// colCache is a least-recently-used cache of whole kernel columns with a budget in float32s;
// like libsvm's it only decides what is recomputed, never a value.
type colCache struct {
	budget int64
	used   int64
	lru    *list.List
	cols   map[int]*list.Element
}

type cachedCol struct {
	index int
	data  []float32
}

func newColCache(budget int64) *colCache {
	return &colCache{budget: budget, lru: list.New(), cols: map[int]*list.Element{}}
}

func (c *colCache) get(index int, fill func([]float32), n int) []float32 {
	if e, ok := c.cols[index]; ok {
		c.lru.MoveToBack(e)
		return e.Value.(*cachedCol).data
	}
	for c.used+int64(n) > c.budget && c.lru.Len() > 0 {
		old := c.lru.Front()
		c.lru.Remove(old)
		oc := old.Value.(*cachedCol)
		delete(c.cols, oc.index)
		c.used -= int64(len(oc.data))
	}
	col := make([]float32, n)
	fill(col)
	c.cols[index] = c.lru.PushBack(&cachedCol{index: index, data: col})
	c.used += int64(n)
	return col
}
