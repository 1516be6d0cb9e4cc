package modelrepo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/clip"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// TestParityCLIPIQANative: a tiny CLIP-IQA with seeded random weights,
// exported as the official method runs (no attention-pool positional
// embedding, IMAGE [3, -1, -1], agiqa.preprocess "native"), served by the
// embedded server on ONNX Runtime and queried by the Go client with Go's
// native preprocessing (decode only), scores images of several sizes, square
// and not, as eager PyTorch does on Pillow-decoded pixels.
func TestParityCLIPIQANative(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the parity test exports a model through Python (about 15 s)")
	}
	checkNativeParity(t, "clipiqa", "11")
}

// TestParityCLIPIQAPlusNative: the same for a tiny CLIP-IQA+ (the prompt
// features of its context baked into the graph, which takes images only),
// served under its own catalogue row.
func TestParityCLIPIQAPlusNative(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the parity test exports a model through Python (about 15 s)")
	}
	checkNativeParity(t, "clipiqa_plus", "12")
}

// checkNativeParity exports the tiny seeded native-size model through
// agiqa_torch.parity_reference and checks decoding and scores image by image.
func checkNativeParity(t *testing.T, model, seed string) {
	t.Helper()
	vocab := testenv.Shared(t, "data", "clip", clip.VocabFile)
	images, repoDir, data, ort := exportParityReference(t, parityPrompts, "--model", model, "--seed", seed, "--vocab", vocab)
	var ref struct {
		parityReference
		Shapes [][2]int `json:"shapes"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("reference.json: %v", err)
	}
	n := len(images)
	if len(ref.Pixels) != n || len(ref.Shapes) != n || len(ref.Outputs["QUALITY"]) != n || len(ref.Outputs) != 1 {
		t.Fatalf("reference has %d pixels, %d shapes, outputs %v; want %d of each, QUALITY only",
			len(ref.Pixels), len(ref.Shapes), ref.Outputs, n)
	}

	ctx := context.Background()
	c := serveExported(t, repoDir, ort)
	cfg, err := c.ModelConfig(ctx, ref.Model, "")
	if err != nil {
		t.Fatalf("served model %q: %v", ref.Model, err)
	}
	if problems := modelrepo.ContractCheck(cfg); len(problems) > 0 {
		t.Fatalf("exported config breaks the contract: %v", problems)
	}
	for _, in := range cfg.GetInput() {
		if in.GetName() == modelrepo.InputImage && !slices.Equal(in.GetDims(), []int64{3, -1, -1}) {
			t.Fatalf("served IMAGE dims %v, want [3 -1 -1]", in.GetDims())
		}
	}
	if row, _ := modelrepo.Parameter(cfg, "agiqa.catalog"); row != model {
		t.Fatalf("served agiqa.catalog %q, want %q", row, model)
	}
	methodName, _ := modelrepo.Parameter(cfg, "agiqa.preprocess")
	method, err := preprocess.ParseMethod(methodName)
	if err != nil || method != preprocess.MethodNative {
		t.Fatalf("agiqa.preprocess %q (%v), want native", methodName, err)
	}

	// Preprocessing parity: Go's decode against Pillow's, image by image.
	chw := make([]preprocess.CHW, n)
	sizes := map[[2]int]bool{}
	for i, path := range images {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if chw[i], err = preprocess.DecodeCHW(raw, path, 0, method); err != nil {
			t.Fatal(err)
		}
		if got := [2]int{chw[i].H, chw[i].W}; got != ref.Shapes[i] {
			t.Fatalf("%s: Go decodes %v (HxW), Pillow %v", path, got, ref.Shapes[i])
		}
		sizes[ref.Shapes[i]] = true
		want, err := base64.StdEncoding.DecodeString(ref.Pixels[i])
		if err != nil || len(want) != len(chw[i].Pix) {
			t.Fatalf("%s: reference pixels: %d bytes, %v; Go has %d", path, len(want), err, len(chw[i].Pix))
		}
		worst := 0
		for j := range want {
			worst = max(worst, int(math.Abs(float64(int(chw[i].Pix[j])-int(want[j])))))
		}
		if worst > pixelTol {
			t.Errorf("%s: Go decoding differs from Pillow by %d grey levels; tolerance %d", path, worst, pixelTol)
		}
	}
	if len(sizes) < 2 {
		t.Fatalf("images of %d size(s); the test needs several", len(sizes))
	}

	// Scores: one request per image, sent together; the batcher merges only same-size requests.
	got := make([]float64, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := func() error {
				img, err := tensor.NewUint8(modelrepo.InputImage, []int64{1, 3, int64(chw[i].H), int64(chw[i].W)}, chw[i].Pix)
				if err != nil {
					return err
				}
				res, err := c.Infer(ctx, client.InferRequest{Model: ref.Model, Inputs: []*tensor.Tensor{img}})
				if err != nil {
					return err
				}
				v, err := res.Float32s("QUALITY")
				if err != nil {
					return err
				}
				if len(v) != 1 {
					return fmt.Errorf("QUALITY has %d values, want 1", len(v))
				}
				got[i] = float64(v[0])
				return nil
			}()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", images[i], err))
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	want := ref.Outputs["QUALITY"]
	if spread := slices.Max(want) - slices.Min(want); spread < 3*scoreTol {
		t.Errorf("eager QUALITY varies by only %.3g across the images; the parity check needs inputs that move the score", spread)
	}
	for i := range want {
		d := math.Abs(got[i] - want[i])
		t.Logf("%s (%dx%d): served %.7f eager %.7f |diff| %.2g", filepath.Base(images[i]), chw[i].H, chw[i].W, got[i], want[i], d)
		if d > scoreTol {
			t.Errorf("%s: served %.7f, eager PyTorch %.7f: |diff| %.3g > %g", images[i], got[i], want[i], d, scoreTol)
		}
	}
}
