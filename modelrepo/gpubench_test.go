package modelrepo_test

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/clip"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/ortbackend"
)

// The GPU check (scripts/gpu-check.sh) leaves a repository behind that the
// README tells users to serve with `agiqa perf --repo`; this proves, on a
// tiny model, that what it writes passes the contract and answers requests.
func TestGPUBenchExportServes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: exports a model through Python")
	}
	root := testenv.ModuleRoot(t)
	ort, err := ortbackend.New("", ortbackend.WithIntraOpThreads(2))
	if err != nil {
		testenv.SkipOrFail(t, testenv.RequireORT, "ONNX Runtime unavailable: %v", err)
	}
	py := pythonWithTorch(t)
	repoDir := t.TempDir()
	const batch = 3
	cmd := exec.Command(py, "-m", "agiqa_torch.gpubench", "--out", repoDir, "--device", "cpu", "--tiny",
		"--batch", "3", "--iters", "1", "--warmup", "0", "--threads", "2")
	cmd.Dir = filepath.Join(root, "modelrepo", "python")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(cmd.Args, " "), err, out, stderr.String())
	}
	var report struct {
		ImageSize int64   `json:"image_size"`
		FP32      float64 `json:"fp32_images_per_s"`
	}
	if err := json.Unmarshal(out, &report); err != nil || report.FP32 <= 0 {
		t.Fatalf("gpubench printed %q (%v); want JSON with a positive fp32_images_per_s", out, err)
	}

	c := serveExported(t, repoDir, ort)
	ctx := context.Background()
	const model = "ipiqa_random"
	cfg, err := c.ModelConfig(ctx, model, "")
	if err != nil {
		t.Fatal(err)
	}
	if problems := modelrepo.ContractCheck(cfg); len(problems) > 0 {
		t.Fatalf("gpubench config breaks the contract: %v", problems)
	}
	size := report.ImageSize
	pixels := make([]uint8, batch*3*size*size)
	for i := range pixels {
		pixels[i] = uint8(i * 7)
	}
	toks := make([]int64, batch*clip.ContextLength)
	for i := 0; i < batch; i++ { // start, one word, end
		toks[i*clip.ContextLength], toks[i*clip.ContextLength+1], toks[i*clip.ContextLength+2] = 49406, int64(320+i), 49407
	}
	img, err := tensor.NewUint8(modelrepo.InputImage, []int64{batch, 3, size, size}, pixels)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := tensor.NewInt64(modelrepo.InputTokens, []int64{batch, clip.ContextLength}, toks)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Infer(ctx, client.InferRequest{Model: model, Inputs: []*tensor.Tensor{img, tt}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"QUALITY", "ALIGNMENT"} {
		v, err := res.Float32s(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != batch {
			t.Fatalf("%s: %d values for a batch of %d", name, len(v), batch)
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Errorf("%s[%d] = %v", name, i, x)
			}
		}
	}
}
