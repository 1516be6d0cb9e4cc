package svr

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// RequireLibsvm makes missing libsvm tools (Debian's libsvm-tools) a failure instead of a skip.
const RequireLibsvm = "AGIQA_REQUIRE_LIBSVM"

func libsvmTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.SkipOrFail(tb, RequireLibsvm, "%s is not installed (Debian package libsvm-tools): %v", name, err)
	}
	return p
}

// synth makes n samples of d features in [-1, 1] (as svm-scale leaves them) with a smooth
// nonlinear target plus noise, from a fixed PCG seed.
func synth(n, d int, seed uint64) ([][]float64, []float64) {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([][]float64, n)
	y := make([]float64, n)
	for i := range x {
		x[i] = make([]float64, d)
		for k := range x[i] {
			x[i][k] = 2*r.Float64() - 1
		}
		y[i] = math.Sin(2*x[i][0]) + x[i][d/2]*x[i][d-1] + 0.5*x[i][1%d] + 0.1*r.NormFloat64()
	}
	return x, y
}

// writeLibsvm writes samples in svm-train's input format with full precision.
func writeLibsvm(tb testing.TB, path string, x [][]float64, y []float64) {
	tb.Helper()
	var b bytes.Buffer
	for i, row := range x {
		b.WriteString(g17(y[i]))
		for k, v := range row {
			fmt.Fprintf(&b, " %d:%s", k+1, g17(v))
		}
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readModelFile(tb testing.TB, path string) *Model {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m, err := ReadModel(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return m
}

func readFloats(tb testing.TB, path string) []float64 {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var v []float64
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f, err := strconv.ParseFloat(strings.TrimSpace(sc.Text()), 64)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		v = append(v, f)
	}
	return v
}

// svLines returns each support vector line of a model file without its coefficient.
func svLines(tb testing.TB, model []byte) (coefs []float64, rest []string) {
	tb.Helper()
	_, body, ok := bytes.Cut(model, []byte("SV\n"))
	if !ok {
		tb.Fatal("model has no SV line")
	}
	for _, line := range strings.Split(strings.TrimRight(string(body), "\n"), "\n") {
		c, r, _ := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(c, 64)
		if err != nil {
			tb.Fatal(err)
		}
		coefs = append(coefs, v)
		rest = append(rest, r)
	}
	return coefs, rest
}

type libsvmCase struct {
	n, d      int
	c, g, p   float64
	e         float64
	shrinking bool
}

func (c libsvmCase) args() []string {
	h := "1"
	if !c.shrinking {
		h = "0"
	}
	return []string{"-s", "3", "-t", "2", "-c", g17(c.c), "-g", g17(c.g), "-p", g17(c.p), "-e", g17(c.e), "-h", h}
}

// params are the case's options as Debian's svm-train sees them: its option parser (a Debian patch)
// reads every floating-point option with strtof, so -p 0.1 trains with float32(0.1).
func (c libsvmCase) params() Params {
	return Params{C: f32(c.c), Gamma: f32(c.g), Epsilon: f32(c.p), Tolerance: f32(c.e), Shrinking: c.shrinking, CacheMB: 100}
}

func f32(v float64) float64 { return float64(float32(v)) }

// TestTrainMatchesSVMTrain trains the same data with svm-train and Train and compares the models
// (support vector set and order, coefficients, rho) and the predictions of svm-predict.
func TestTrainMatchesSVMTrain(t *testing.T) {
	train, predict := libsvmTool(t, "svm-train"), libsvmTool(t, "svm-predict")
	cases := []libsvmCase{
		{50, 4, 4, 0.5, 0.1, 0.001, true},
		{200, 10, 1, 0.1, 0.05, 0.001, true},
		{300, 36, 64, 0.05, 0.1, 0.001, false},
		{500, 20, 1024, 2, 0.01, 0.0001, true},
		{800, 36, 0.25, 0.02, 0.2, 0.01, true},
	}
	if !testing.Short() {
		cases = append(cases, libsvmCase{2400, 216, 8, 1.0 / 216, 0.1, 0.001, true})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("n%d_d%d_c%g_g%g_p%g", c.n, c.d, c.c, c.g, c.p), func(t *testing.T) {
			dir := t.TempDir()
			x, y := synth(c.n+100, c.d, uint64(c.n*31+c.d))
			xt, yt := x[c.n:], y[c.n:]
			x, y = x[:c.n], y[:c.n]
			trainPath, testPath := filepath.Join(dir, "train"), filepath.Join(dir, "test")
			writeLibsvm(t, trainPath, x, y)
			writeLibsvm(t, testPath, xt, yt)
			theirPath := filepath.Join(dir, "theirs.model")
			run(t, train, append(append(c.args(), "-q"), trainPath, theirPath)...)
			ours, err := Train(context.Background(), x, y, c.params())
			if err != nil {
				t.Fatal(err)
			}
			var ob bytes.Buffer
			if err := ours.Write(&ob); err != nil {
				t.Fatal(err)
			}
			ourPath := filepath.Join(dir, "ours.model")
			os.WriteFile(ourPath, ob.Bytes(), 0o644)
			tb, _ := os.ReadFile(theirPath)
			compareModels(t, ob.Bytes(), tb)
			theirs := readModelFile(t, theirPath)
			if d := math.Abs(ours.Rho - theirs.Rho); d > 1e-6 {
				t.Errorf("rho %v, svm-train %v (diff %.3g)", ours.Rho, theirs.Rho, d)
			}
			// svm-predict on its own model, and on ours.
			run(t, predict, testPath, theirPath, filepath.Join(dir, "pt"))
			run(t, predict, testPath, ourPath, filepath.Join(dir, "po"))
			pt, po := readFloats(t, filepath.Join(dir, "pt")), readFloats(t, filepath.Join(dir, "po"))
			var dMem, dFile, dRead float64
			for i, row := range xt {
				dMem = max(dMem, math.Abs(ours.Predict(row)-pt[i]))
				dFile = max(dFile, math.Abs(readModelFile(t, ourPath).Predict(row)-po[i]))
				dRead = max(dRead, math.Abs(theirs.Predict(row)-pt[i]))
			}
			t.Logf("%d SVs; held-out prediction max |diff|: ours in memory vs svm-predict %.3g, "+
				"our file in svm-predict vs ours %.3g, their file read by us vs svm-predict %.3g", len(ours.SV), dMem, dFile, dRead)
			if dMem > 1e-6 || dFile > 1e-12 || dRead > 1e-12 {
				t.Errorf("predictions differ beyond 1e-6 / 1e-12 / 1e-12")
			}
		})
	}
}

// compareModels checks that two model files list the same support vectors in the same order with
// coefficients within 1e-6, and that the header lines agree except for rho's last digits.
func compareModels(t *testing.T, ours, theirs []byte) {
	t.Helper()
	oc, os_ := svLines(t, ours)
	tc, ts := svLines(t, theirs)
	if len(oc) != len(tc) {
		t.Fatalf("%d support vectors, svm-train %d", len(oc), len(tc))
	}
	maxd := 0.0
	for i := range oc {
		if os_[i] != ts[i] {
			t.Fatalf("support vector %d differs:\n ours   %s\n theirs %s", i+1, os_[i], ts[i])
		}
		maxd = max(maxd, math.Abs(oc[i]-tc[i]))
	}
	if maxd > 1e-6 {
		t.Errorf("sv_coef max |diff| %.3g > 1e-6", maxd)
	}
	t.Logf("same %d support vectors; sv_coef max |diff| %.3g; files identical: %v", len(oc), maxd, bytes.Equal(ours, theirs))
}
