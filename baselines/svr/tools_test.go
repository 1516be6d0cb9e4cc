package svr

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/matfile"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// TestCrossValidateMatchesSVMTrainV checks the folds (glibc rand(), seed 1) and the MSE against
// svm-train -v, and GridSearch's chosen point against a loop of svm-train -v runs over a small grid.
func TestCrossValidateMatchesSVMTrainV(t *testing.T) {
	train := libsvmTool(t, "svm-train")
	dir := t.TempDir()
	x, y := synth(150, 6, 11)
	path := filepath.Join(dir, "train")
	writeLibsvm(t, path, x, y)
	re := regexp.MustCompile(`Cross Validation Mean squared error = (\S+)`)
	cvMSE := func(log2c, log2g float64, folds int) float64 {
		out := run(t, train, "-s", "3", "-c", g17(math.Exp2(log2c)), "-g", g17(math.Exp2(log2g)), "-v", strconv.Itoa(folds), "-q", path)
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no MSE in svm-train -v output:\n%s", out)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	for _, folds := range []int{5, 3} {
		p := DefaultParams()
		p.C, p.Gamma = 2, 0.25
		pred, err := CrossValidate(context.Background(), x, y, folds, p, 1)
		if err != nil {
			t.Fatal(err)
		}
		ours, theirs := MSE(pred, y), cvMSE(1, -2, folds)
		// svm-train prints %g: 6 significant digits.
		if math.Abs(ours-theirs) > 5e-6*theirs {
			t.Errorf("%d-fold MSE %v, svm-train -v %v", folds, ours, theirs)
		}
		t.Logf("%d-fold CV MSE %.9g, svm-train -v %g", folds, ours, theirs)
	}
	grid := Grid{Log2C: [3]float64{-1, 5, 2}, Log2G: [3]float64{1, -5, -2}}
	best, err := GridSearch(context.Background(), x, y, 5, grid, DefaultParams(), 1)
	if err != nil {
		t.Fatal(err)
	}
	bestMSE, bc, bg := math.Inf(1), 0.0, 0.0
	for lc := -1.0; lc <= 5; lc += 2 {
		for lg := 1.0; lg >= -5; lg -= 2 {
			if v := cvMSE(lc, lg, 5); v < bestMSE {
				bestMSE, bc, bg = v, lc, lg
			}
		}
	}
	if best.Log2C != bc || best.Log2G != bg || math.Abs(best.MSE-bestMSE) > 5e-6*bestMSE {
		t.Errorf("grid best log2c=%v log2g=%v MSE %v; svm-train -v loop log2c=%v log2g=%v MSE %v", best.Log2C, best.Log2G, best.MSE, bc, bg, bestMSE)
	}
	t.Logf("grid best log2c=%v log2g=%v MSE %.9g (svm-train loop: %v %v %g)", best.Log2C, best.Log2G, best.MSE, bc, bg, bestMSE)
}

// TestProbAMatchesSVMTrainB checks the Laplace sigma of -b 1 (5-fold CV with svm-train's folds).
func TestProbAMatchesSVMTrainB(t *testing.T) {
	train := libsvmTool(t, "svm-train")
	dir := t.TempDir()
	x, y := synth(120, 5, 5)
	path, model := filepath.Join(dir, "train"), filepath.Join(dir, "model")
	writeLibsvm(t, path, x, y)
	run(t, train, "-s", "3", "-c", "4", "-g", "0.5", "-b", "1", "-q", path, model)
	theirs := readModelFile(t, model)
	p := DefaultParams()
	p.C, p.Gamma, p.Probability = 4, 0.5, true // -p left at its default, which svm-train does not parse
	ours, err := Train(context.Background(), x, y, p)
	if err != nil {
		t.Fatal(err)
	}
	if !theirs.HasProbA || math.Abs(ours.ProbA-theirs.ProbA) > 1e-12 {
		t.Errorf("probA %v, svm-train -b 1 %v", ours.ProbA, theirs.ProbA)
	}
	t.Logf("probA %.17g, svm-train %.17g", ours.ProbA, theirs.ProbA)
	// The fold predictions go through exp, where Go and glibc may differ in the last bit, so probA
	// agrees to ~1e-16; compare the rest of the file with svm-train's probA in place.
	ours.ProbA = theirs.ProbA
	var ob bytes.Buffer
	ours.Write(&ob)
	want, _ := os.ReadFile(model)
	if !bytes.Equal(ob.Bytes(), want) {
		t.Errorf("model file with probA differs from svm-train's")
	}

}

// TestScalerMatchesSVMScale fits on training data and applies to held-out data with svm-scale -s / -r.
func TestScalerMatchesSVMScale(t *testing.T) {
	scale := libsvmTool(t, "svm-scale")
	dir := t.TempDir()
	x, y := synth(60, 5, 9)
	for i := range x { // spread the ranges, and make feature 4 constant
		for k := range x[i] {
			x[i][k] = x[i][k]*float64(k+1)*3 + float64(k)
		}
		x[i][3] = 2.5
	}
	train, test := filepath.Join(dir, "train"), filepath.Join(dir, "test")
	writeLibsvm(t, train, x[:40], y[:40])
	writeLibsvm(t, test, x[40:], y[40:])
	rangePath := filepath.Join(dir, "range")
	scaledTrain := run(t, scale, "-s", rangePath, train)
	s, err := FitScaler(x[:40])
	if err != nil {
		t.Fatal(err)
	}
	var rb bytes.Buffer
	s.WriteRange(&rb)
	want, _ := os.ReadFile(rangePath)
	if !bytes.Equal(rb.Bytes(), want) {
		t.Errorf("range file differs:\n%s\nsvm-scale:\n%s", rb.Bytes(), want)
	}
	read, err := ReadRange(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(scale, "-r", rangePath, test)
	scaledTest, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, out string, rows [][]float64, sc *Scaler) {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		for i, row := range rows {
			if got, want := svmScaleLine(y[0], sc.ApplyText(row)), lines[i]; strings.TrimSpace(got[strings.Index(got, " "):]) != strings.TrimSpace(want[strings.Index(want, " "):]) {
				t.Errorf("%s row %d: ours %q, svm-scale %q", name, i, got, want)
			}
		}
	}
	check("train (-s)", scaledTrain, x[:40], s)
	check("test (-r)", string(scaledTest), x[40:], read)
}

// svmScaleLine formats a scaled row as svm-scale prints it (%g, zeros left out).
func svmScaleLine(label float64, row []float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%g ", label)
	for k, v := range row {
		if v != 0 {
			fmt.Fprintf(&b, "%d:%s ", k+1, strconv.FormatFloat(v, 'g', 6, 64))
		}
	}
	return b.String()
}

// TestSharedModelsMatchSVMPredict reads BRISQUE's allmodel and CEIQ's model.mat and predicts random
// inputs; the references are svm-predict on allmodel and, for CEIQ, svm-predict on a model file that
// scipy.io.loadmat's reading of model.mat was written to (an independent MAT reader).
func TestSharedModelsMatchSVMPredict(t *testing.T) {
	predict := libsvmTool(t, "svm-predict")
	dir := t.TempDir()
	x, y := synth(40, 36, 3)
	brisque := testenv.Shared(t, "data", "brisque", "allmodel")
	m := readModelFile(t, brisque)
	if !m.HasProbA || len(m.SV) != 774 || m.Gamma != 0.05 {
		t.Errorf("allmodel: probA %v, %d SVs, gamma %v; want probA, 774, 0.05", m.HasProbA, len(m.SV), m.Gamma)
	}
	compareToSVMPredict(t, predict, dir, "brisque", brisque, m, x, y)

	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import scipy.io").Run(); err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "%s has no scipy: %v", py, err)
	}
	mat := testenv.Shared(t, "data", "ceiq", "model.mat")
	f, err := os.Open(mat)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars, err := matfile.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := FromMAT(vars["model"])
	if err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "ceiq.model")
	out, err := exec.Command(py, filepath.Join("testdata", "mat2libsvm.py"), mat, ref).CombinedOutput()
	if err != nil {
		t.Fatalf("mat2libsvm.py: %v\n%s", err, out)
	}
	xc, yc := synth(40, 5, 4)
	compareToSVMPredict(t, predict, dir, "ceiq", ref, cm, xc, yc)
}

func compareToSVMPredict(t *testing.T, predict, dir, name, model string, m *Model, x [][]float64, y []float64) {
	t.Helper()
	in, out := filepath.Join(dir, name+".in"), filepath.Join(dir, name+".out")
	writeLibsvm(t, in, x, y)
	run(t, predict, in, model, out)
	want := readFloats(t, out)
	maxd := 0.0
	for i, row := range x {
		maxd = max(maxd, math.Abs(m.Predict(row)-want[i]))
	}
	// Go's math.Exp and glibc's exp differ in the last bit now and then: 1e-10 on values up to ~100.
	if maxd > 1e-10 {
		t.Errorf("%s: predictions differ from svm-predict by up to %.3g (> 1e-10)", name, maxd)
	}
	t.Logf("%s: %d SVs, %s kernel; max |ours - svm-predict| %.3g", name, len(m.SV), m.Kernel, maxd)
}
