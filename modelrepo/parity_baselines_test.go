package modelrepo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// TestParityBaselines: each Table 1 baseline trained per split (CNNIQA: grey conversion, patches,
// local normalisation and the patch average; DBCNN: ImageNet normalisation, bilinear pooling, square
// root and L2 normalisation; HyperIQA: the 5 x 5 grid of 224 crops, the hyper network and the target
// network it parameterises, the crop average; all inside the graph), tiny and with seeded random
// weights, exported by the Python code, served by the embedded server on ONNX Runtime and queried by
// the Go client with Go preprocessing, scores as eager PyTorch does on Pillow-preprocessed inputs.
func TestParityBaselines(t *testing.T) {
	for _, model := range []string{"cnniqa", "dbcnn", "hyperiqa"} {
		t.Run(model, func(t *testing.T) { checkBaselineParity(t, model) })
	}
}

func checkBaselineParity(t *testing.T, model string) {
	if testing.Short() {
		t.Skip("-short: the parity test exports a model through Python")
	}
	images, repoDir, data, ort := exportParityReference(t, nil, "--model", model, "--dataset", "agiqa-1k", "--seed", "7")
	var ref parityReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("reference.json: %v", err)
	}
	n := len(images)
	want := ref.Outputs["QUALITY"]
	if len(ref.Pixels) != n || len(want) != n || len(ref.Outputs) != 1 {
		t.Fatalf("reference has %d pixels, outputs %v; want %d and QUALITY alone", len(ref.Pixels), ref.Outputs, n)
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
	if cat, _ := modelrepo.Parameter(cfg, "agiqa.catalog"); cat != model {
		t.Errorf("agiqa.catalog %q, want %s", cat, model)
	}
	size := cfg.GetInput()[0].GetDims()[1]
	if size != ref.ImageSize {
		t.Fatalf("served IMAGE side %d, reference %d", size, ref.ImageSize)
	}
	methodName, _ := modelrepo.Parameter(cfg, "agiqa.preprocess")
	method, err := preprocess.ParseMethod(methodName)
	if err != nil {
		t.Fatal(err)
	}
	if spread := slices.Max(want) - slices.Min(want); spread < 3*scoreTol {
		t.Fatalf("eager QUALITY varies by only %.3g across the images; the check needs inputs that move the score", spread)
	}
	for i, path := range images {
		pixels, err := preprocess.LoadTensor(path, int(size), method)
		if err != nil {
			t.Fatal(err)
		}
		wantPix, err := base64.StdEncoding.DecodeString(ref.Pixels[i])
		if err != nil || len(wantPix) != len(pixels) {
			t.Fatalf("%s: reference pixels: %d bytes, %v; Go has %d", path, len(wantPix), err, len(pixels))
		}
		worst := 0
		for j := range wantPix {
			d := int(pixels[j]) - int(wantPix[j])
			worst = max(worst, d, -d)
		}
		if worst > pixelTol {
			t.Errorf("%s: Go preprocessing differs from Pillow by %d grey levels; tolerance %d", path, worst, pixelTol)
		}
		img, err := tensor.NewUint8(modelrepo.InputImage, []int64{1, 3, size, size}, pixels)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Infer(ctx, client.InferRequest{Model: ref.Model, Inputs: []*tensor.Tensor{img}})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		v, err := res.Float32s("QUALITY")
		if err != nil || len(v) != 1 {
			t.Fatalf("%s: QUALITY %v, %v", path, v, err)
		}
		d := math.Abs(float64(v[0]) - want[i])
		t.Logf("%s: served %.7f eager %.7f |diff| %.2g", filepath.Base(path), v[0], want[i], d)
		if d > scoreTol {
			t.Errorf("%s: served %.7f, eager PyTorch %.7f: |diff| %.3g > %g", path, v[0], want[i], d, scoreTol)
		}
	}
}
