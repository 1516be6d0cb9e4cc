package triton_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/preprocmodel"
)

// Triton's preprocessing models run the Go code through libagiqa.so: from Python (agiqa_native's
// Library.preprocess, and a preprocess_* model's generic model.py as the Python backend runs it) the
// pixels are preprocmodel's, which are the harness's (preprocess.DecodeCHW), byte for byte, on the
// JPEG and PNG fixtures of bench/preprocess; a bad image fails its own request, INVALID_ARG naming
// ENCODED, and the requests around it are answered.
func TestPythonPreprocessingIsTheGoCode(t *testing.T) {
	root := testenv.ModuleRoot(t)
	py := python(t)
	if out, err := exec.Command(py, "-c", "import numpy").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "%s has no numpy: %v %s", py, err, out)
	}
	lib := buildLibrary(t, root)
	work := t.TempDir()
	fixtures := filepath.Join(root, "bench", "preprocess", "testdata")
	files := []string{"c420.jpg", "c422.jpg", "c444.jpg", "c420_progressive.jpg", "gray.jpg", "cmyk.jpg", "rgb8.png", "palette.png", "rgba16.png", "gray16.png"}
	var images []string
	for _, f := range files {
		images = append(images, filepath.Join(fixtures, f))
	}
	specs := [][2]any{}
	for _, s := range preprocmodel.Specs {
		specs = append(specs, [2]any{s.Method.String(), s.Size})
	}
	models := filepath.Join(root, "modelrepo", "models")
	repo, err := modelrepo.Open(models)
	if err != nil {
		t.Fatal(err)
	}
	const triton = "preprocess_resize_center_crop_224"
	m := repo.Model(triton)
	if m == nil {
		t.Fatalf("modelrepo/models/%s does not load", triton)
	}
	spec := map[string]any{"lib": lib, "native_py": filepath.Join(filepath.Dir(lib), "agiqa_native.py"), "images": images,
		"specs": specs, "out": work, "models": []specModel{{Name: triton, ModelPy: filepath.Join(models, triton, "1", "model.py"),
			Repository: filepath.Join(models, triton), Version: "1", Config: configJSON(t, m.Config, nil)}}}
	specFile := filepath.Join(work, "spec.json")
	data, _ := json.Marshal(spec)
	if err := os.WriteFile(specFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join(root, "modelrepo", "triton", "testdata", "drive_preprocess.py"), specFile)
	cmd.Env = append(os.Environ(), "AGIQA_NATIVE_LIB="+lib, "PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("drive_preprocess.py: %v\n%s", err, stderr.String())
	}
	type pixels struct {
		Shape   []int64 `json:"shape"`
		File    string  `json:"file"`
		Code    int     `json:"code"`
		Message string  `json:"message"`
		Error   int     `json:"error"`
	}
	var res struct {
		Library map[string][]pixels `json:"library"`
		Triton  map[string][]pixels `json:"triton"`
		Bad     *struct {
			Code    int
			Message string
		} `json:"bad"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("drive_preprocess.py output: %v\n%s", err, out)
	}
	same := func(label string, got pixels, want preprocess.CHW) {
		t.Helper()
		if got.File == "" {
			t.Errorf("%s: no pixels (code %d: %s)", label, got.Code, got.Message)
			return
		}
		b, err := os.ReadFile(got.File)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Shape) < 3 || got.Shape[len(got.Shape)-2] != int64(want.H) || got.Shape[len(got.Shape)-1] != int64(want.W) || !bytes.Equal(b, want.Pix) {
			t.Errorf("%s: shape %v and %d bytes differ from Go's %dx%d (%d bytes)", label, got.Shape, len(b), want.W, want.H, len(want.Pix))
		}
	}
	for _, s := range preprocmodel.Specs {
		rows := res.Library[s.Method.String()+"_"+itoa(s.Size)]
		if len(rows) != len(files) {
			t.Fatalf("%s: %d results for %d images", s.Name(), len(rows), len(files))
		}
		for i, f := range files {
			raw, _ := os.ReadFile(images[i])
			want, err := preprocess.DecodeCHW(raw, f, s.Size, s.Method)
			if err != nil {
				t.Fatal(err)
			}
			same(s.Name()+" "+f, rows[i], want)
		}
	}
	if res.Bad == nil || res.Bad.Code != 3 || !strings.Contains(res.Bad.Message, "unsupported") && !strings.Contains(res.Bad.Message, "format") {
		t.Errorf("a GIF through agiqa_preprocess: %+v, want INVALID_ARGUMENT with the decoder's reason", res.Bad)
	}
	tr := res.Triton[triton]
	raw, _ := os.ReadFile(images[0])
	want, _ := preprocess.DecodeCHW(raw, files[0], 224, preprocess.MethodResizeCenterCrop)
	if len(tr) != 3 {
		t.Fatalf("model.py answered %d of 3 requests: %+v", len(tr), tr)
	}
	same("model.py request 1", tr[0], want)
	same("model.py request 3 (after the bad one)", tr[2], want)
	if tr[1].Error != 3 || !strings.Contains(tr[1].Message, "ENCODED") || !strings.Contains(tr[1].Message, "does not decode") {
		t.Errorf("model.py bad image: %+v, want INVALID_ARG naming ENCODED and the decoder's reason", tr[1])
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
