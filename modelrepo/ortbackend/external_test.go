//go:build cgo

package ortbackend

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// exportExternal exports a tiny ResNet50* with agiqa_torch.export, its
// external-data threshold lowered to 0 so it takes the path of models over
// 2 GB (weights in model.onnx.data beside model.onnx), and returns the
// repository and the export's reference JSON (sample inputs, fp64 eager
// outputs and the export gate's tolerance).
func exportExternal(t *testing.T, b *Backend) (repoDir string, ref exportReference) {
	t.Helper()
	py := python(t)
	if out, err := exec.Command(py, "-c", "import torch, onnx").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "%s cannot import torch and onnx: %v\n%s", py, err, out)
	}
	work := t.TempDir()
	repoDir = filepath.Join(work, "repo")
	refPath := filepath.Join(work, "ref.json")
	cmd := exec.Command(py, "-m", "agiqa_torch.export", "--model", "resnet50_clip", "--dataset", "agiqa-1k", "--tiny",
		"--image-size", "32", "--seed", "4", "--max-batch-size", "4", "--external-data-above", "0",
		"--out", repoDir, "--reference", refPath)
	cmd.Dir = filepath.Join(testenv.ModuleRoot(t), "modelrepo", "python")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+cmd.Dir, "AGIQA_ORT_LIB="+b.LibraryPath())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	data, err := os.ReadFile(refPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("%s: %v", refPath, err)
	}
	return repoDir, ref
}

type exportReference struct {
	Inputs map[string]struct {
		Shape []int64   `json:"shape"`
		Data  []float64 `json:"data"`
	} `json:"inputs"`
	Outputs map[string]struct {
		FP64      []float64 `json:"fp64"`
		Tolerance float64   `json:"tolerance"`
	} `json:"outputs"`
}

const externalModel = "resnet50_clip_agiqa1k_tiny"

// A model with external data is served from its path: ONNX Runtime finds
// model.onnx.data beside model.onnx, and the scores are the export's.
func TestServesExternalDataModel(t *testing.T) {
	b := ortBackend(t)
	repoDir, ref := exportExternal(t, b)
	version := filepath.Join(repoDir, externalModel, "1")
	entries, err := os.ReadDir(version)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"model.onnx", "model.onnx.data"}) {
		t.Fatalf("version folder holds %v, want model.onnx and model.onnx.data", names)
	}
	repo, err := modelrepo.Open(repoDir)
	if err != nil || len(repo.Errors) > 0 {
		t.Fatalf("Open: %v %v", err, repo.Errors)
	}
	inst, err := b.Load(context.Background(), repo.Model(externalModel), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	in := ref.Inputs["IMAGE"]
	pix := make([]uint8, len(in.Data))
	for i, v := range in.Data {
		pix[i] = uint8(v)
	}
	img, err := tensor.NewUint8("IMAGE", in.Shape, pix)
	if err != nil {
		t.Fatal(err)
	}
	res, err := inst.Execute(context.Background(), []*tensor.Tensor{img})
	if err != nil {
		t.Fatal(err)
	}
	got, err := res[0].Float32s()
	want := ref.Outputs["QUALITY"]
	if err != nil || len(got) != len(want.FP64) {
		t.Fatalf("QUALITY %v (%v), want %d values", got, err, len(want.FP64))
	}
	for i := range got {
		d := math.Abs(float64(got[i]) - want.FP64[i])
		t.Logf("row %d: served %.8f, fp64 eager %.8f, |diff| %.2g (gate tolerance %.2g)", i, got[i], want.FP64[i], d, want.Tolerance)
		if d > want.Tolerance {
			t.Errorf("row %d: served %.8f, fp64 eager %.8f: |diff| %.3g > %.3g", i, got[i], want.FP64[i], d, want.Tolerance)
		}
	}
	if got[0] == got[1] {
		t.Errorf("QUALITY %v does not vary with the image", got)
	}
}

// A missing or truncated data file is named when the repository is read,
// with a tensor that lives there; read through an fs.FS (bytes, no folder for
// ONNX Runtime to look in) the model is refused with the reason.
func TestExternalDataProblemsAreNamed(t *testing.T) {
	b := ortBackend(t)
	repoDir, _ := exportExternal(t, b)
	data := filepath.Join(repoDir, externalModel, "1", "model.onnx.data")

	fsRepo, err := modelrepo.OpenFS(os.DirFS(repoDir), repoDir)
	if err != nil || len(fsRepo.Errors) > 0 {
		t.Fatalf("OpenFS: %v %v", err, fsRepo.Errors)
	}
	_, err = b.Load(context.Background(), fsRepo.Model(externalModel), 1)
	if err == nil || !strings.Contains(err.Error(), "in model.onnx.data, which ONNX Runtime can only read beside the model file on disk") {
		t.Errorf("Load from an fs.FS: err = %v", err)
	}

	if err := os.Truncate(data, 1000); err != nil {
		t.Fatal(err)
	}
	checkOpenError(t, repoDir, "external data file model.onnx.data is 1000 bytes, but tensor ")
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	checkOpenError(t, repoDir, "external data file model.onnx.data is missing (tensor ")
}

func checkOpenError(t *testing.T, repoDir, want string) {
	t.Helper()
	repo, err := modelrepo.Open(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Errors) != 1 || !strings.Contains(repo.Errors[0].Error(), want) ||
		!strings.Contains(repo.Errors[0].Error(), filepath.Join(repoDir, externalModel, "1", "model.onnx")) {
		t.Fatalf("Open errors %v, want one naming the model file and containing %q", repo.Errors, want)
	}
	t.Log(repo.Errors[0])
}
