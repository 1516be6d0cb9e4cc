package svr

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkTrain2400x216 trains HIGRADE-sized data (2400 samples x 216 features, -c 8 -g 1/216
// rounded to float32 as svm-train reads it) and, when Debian's svm-train is installed, times it on
// the same data in the same run: the metric x-svm-train is our time over svm-train's.
func BenchmarkTrain2400x216(b *testing.B) {
	x, y := synth(2400, 216, 99)
	c := libsvmCase{2400, 216, 8, 1.0 / 216, 0.1, 0.001, true}
	p := c.params()
	var svmTrain time.Duration
	if path, err := exec.LookPath("svm-train"); err == nil {
		dir := b.TempDir()
		data := filepath.Join(dir, "train")
		writeLibsvm(b, data, x, y)
		start := time.Now()
		run(b, path, append(append(c.args(), "-q"), data, filepath.Join(dir, "model"))...)
		svmTrain = time.Since(start)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Train(context.Background(), x, y, p); err != nil {
			b.Fatal(err)
		}
	}
	if svmTrain > 0 {
		per := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(svmTrain.Seconds(), "svm-train-s")
		b.ReportMetric(per.Seconds()/svmTrain.Seconds(), "x-svm-train")
	}
}
