package svr

import (
	"bytes"
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var writeFixture = flag.Bool("write-fixture", false, "write testdata/fixture_train.txt (see testdata/gen_fixture.sh)")

func TestWriteFixtureData(t *testing.T) {
	if !*writeFixture {
		t.Skip("only with -write-fixture (testdata/gen_fixture.sh)")
	}
	x, y := synth(300, 12, 2024)
	writeLibsvm(t, filepath.Join("testdata", "fixture_train.txt"), x, y)
}

// readLibsvm reads a dense svm-train input file.
func readLibsvm(t *testing.T, path string) ([][]float64, []float64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var x [][]float64
	var y []float64
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		coef, sv, err := parseSV(line) // same layout: a number, then index:value pairs
		if err != nil {
			t.Fatal(err)
		}
		y = append(y, coef)
		x = append(x, sv)
	}
	return x, y
}

// TestFixtureMatchesSVMTrain trains on the committed fixture and compares with the model file and
// the 5-fold cross-validation MSE that Debian's svm-train 3.24 wrote (testdata/gen_fixture.sh).
func TestFixtureMatchesSVMTrain(t *testing.T) {
	x, y := readLibsvm(t, filepath.Join("testdata", "fixture_train.txt"))
	p := DefaultParams()
	p.C, p.Gamma, p.Epsilon = 16, 0.125, 0.0625
	m, err := Train(context.Background(), x, y, p)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := m.Write(&b); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "fixture.model"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		compareModels(t, b.Bytes(), want)
		t.Errorf("model file differs from svm-train's (byte comparison)")
	}
	cvText, err := os.ReadFile(filepath.Join("testdata", "fixture_cv.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wantMSE, err := strconv.ParseFloat(strings.TrimSpace(string(cvText)), 64)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := CrossValidate(context.Background(), x, y, 5, p, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := MSE(pred, y); math.Abs(got-wantMSE) > 5e-6*wantMSE { // svm-train prints %g
		t.Errorf("5-fold CV MSE %v, svm-train -v %v", got, wantMSE)
	}
}
