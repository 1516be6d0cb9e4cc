// Package triton_test checks the Triton side of the native models: the C
// shared library (baselines/capi) driven from Python by agiqa_native.py and
// the per-model model.py, as Triton's Python backend runs them.
package triton_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/agiqa-bench/agiqa/baselines"
	"github.com/agiqa-bench/agiqa/baselines/brisque"
	"github.com/agiqa-bench/agiqa/baselines/ceiq"
	"github.com/agiqa-bench/agiqa/baselines/niqe"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// nativeModels are the modelrepo/models entries Triton serves through libagiqa.so.
var nativeModels = map[string]string{"sharpness_laplacian": baselines.LaplacianVarianceFunc, "contrast_rms": baselines.RMSContrastFunc}

// publishedModels are the native entries that also need published parameter files (fetched into
// $AGIQA_CACHE): each must be the generic loader too. Their scores are checked against Octave in
// their packages; the Python path is the same library call as for nativeModels.
var publishedModels = map[string]string{"niqe": niqe.NativeName, "brisque": brisque.NativeName, "ceiq": ceiq.NativeName}

// Every native model's 1/model.py is the generic loader, byte for byte: no
// model keeps a Python re-implementation of its Go function.
func TestModelPyIsTheGenericLoader(t *testing.T) {
	root := testenv.ModuleRoot(t)
	want, err := os.ReadFile(filepath.Join(root, "modelrepo", "triton", "model.py"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := modelrepo.Open(filepath.Join(root, "modelrepo", "models"))
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range merged(nativeModels, publishedModels) {
		m := repo.Model(name)
		if m == nil {
			t.Fatalf("modelrepo/models/%s does not load", name)
		}
		if got, _ := m.Parameter("native.function"); got != fn || m.Config.GetBackend() != "python" {
			t.Errorf("%s: backend %q, native.function %q; want python, %q", name, m.Config.GetBackend(), got, fn)
		}
		for _, v := range m.Versions {
			files := slices.DeleteFunc(slices.Clone(v.Files), func(f string) bool { return f == "__pycache__/" })
			if len(files) != 1 || files[0] != "model.py" {
				t.Errorf("%s version %d holds %v, want only model.py", name, v.Number, v.Files)
			}
			got, err := m.ReadFile(v.Number, "model.py")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s/%d/model.py differs from modelrepo/triton/model.py: copy it", name, v.Number)
			}
		}
	}
}

// buildLibrary builds libagiqa.so into a temporary folder and installs
// agiqa_native.py beside it, as the Triton image does.
func buildLibrary(t *testing.T, root string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "no gcc to build the cgo shared library: %v", err)
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go command to build libagiqa.so: %v", err)
		}
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "libagiqa.so")
	cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", lib, "./baselines/capi")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildmode=c-shared ./baselines/capi: %v\n%s", err, out)
	}
	src, err := os.ReadFile(filepath.Join(root, "modelrepo", "triton", "agiqa_native.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "agiqa_native.py"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	return lib
}

func python(t *testing.T) string { return testenv.Python(t, "to drive libagiqa.so") }

type spec struct {
	Lib        string      `json:"lib"`
	NativePy   string      `json:"native_py"`
	Images     string      `json:"images"`
	Shape      []int64     `json:"shape"`
	Functions  []string    `json:"functions"`
	MissingDir string      `json:"missing_dir"`
	Served     servedRef   `json:"served"`
	Models     []specModel `json:"models"`
}

type servedRef struct {
	H     int `json:"h"`
	W     int `json:"w"`
	Cases []struct {
		Kind      string  `json:"kind"`
		Seed      uint32  `json:"seed"`
		Sharpness float64 `json:"sharpness"`
		Contrast  float64 `json:"contrast"`
	} `json:"cases"`
}

type specModel struct {
	Name       string `json:"name"`
	ModelPy    string `json:"model_py"`
	Repository string `json:"repository"`
	Version    string `json:"version"`
	Config     string `json:"config"`
}

type result struct {
	Version string              `json:"version"`
	Scores  map[string][]uint32 `json:"scores"`
	Served  map[string][]uint32 `json:"served"`
	Errors  map[string]*struct {
		Code    int
		Message string
	} `json:"errors"`
	Triton map[string]struct {
		InitializeError string `json:"initialize_error"`
		Responses       []struct {
			Error, Message string
			Name, Dtype    string
			Shape          []int64
			Bits           []uint32
		} `json:"responses"`
	} `json:"triton"`
}

// configJSON is the model config as Triton hands it to model.py: JSON with
// the proto field names (int64 dims as protobuf writes them, strings).
func configJSON(t *testing.T, c *pb.ModelConfig, edit func(*pb.ModelConfig)) string {
	t.Helper()
	c = proto.Clone(c).(*pb.ModelConfig)
	if edit != nil {
		edit(c)
	}
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// goScores are the registered Go function's QUALITY values for the images.
func goScores(t *testing.T, fn string, img []byte, shape []int64) []uint32 {
	t.Helper()
	f, ok := native.Lookup(fn)
	if !ok {
		t.Fatalf("%s not registered", fn)
	}
	in, err := tensor.NewUint8("IMAGE", shape, img)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := f(context.Background(), []*tensor.Tensor{in})
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := outs[0].Float32s()
	out := make([]uint32, len(vals))
	for i, v := range vals {
		out[i] = math.Float32bits(v)
	}
	return out
}

func reversed(b []uint32) []uint32 {
	out := make([]uint32, len(b))
	for i, v := range b {
		out[len(b)-1-i] = v
	}
	return out
}

// TestPythonBackendRunsTheGoCode builds libagiqa.so, drives it from Python as
// Triton's Python backend does, and checks the scores are the Go functions'
// to the bit (same images, same float32 values), and equal the served-size
// reference of baselines/testdata/served_ref.json (plain Python floats,
// gen_served.py) rounded to float32; then the error paths.
func TestPythonBackendRunsTheGoCode(t *testing.T) {
	root := testenv.ModuleRoot(t)
	py := python(t)
	if out, err := exec.Command(py, "-c", "import numpy").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "%s has no numpy: %v %s", py, err, out)
	}
	lib := buildLibrary(t, root)
	work := t.TempDir()

	const b, h, w = 4, 24, 31
	r := rand.New(rand.NewPCG(10, 8))
	img := make([]byte, b*3*h*w)
	for i := range img {
		img[i] = byte(r.IntN(256))
	}
	img[len(img)/2] = 0 // an image of its own: the batch's scores must all differ
	shape := []int64{b, 3, h, w}
	s := spec{Lib: lib, NativePy: filepath.Join(filepath.Dir(lib), "agiqa_native.py"), Images: filepath.Join(work, "images.bin"),
		Shape: shape, Functions: []string{baselines.LaplacianVarianceFunc, baselines.RMSContrastFunc},
		MissingDir: filepath.Join(work, "no-such-version")}
	if err := os.WriteFile(s.Images, img, 0o644); err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile(filepath.Join(root, "baselines", "testdata", "served_ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ref, &s.Served); err != nil || len(s.Served.Cases) == 0 {
		t.Fatalf("served_ref.json: %v", err)
	}

	models := filepath.Join(root, "modelrepo", "models")
	repo, err := modelrepo.Open(models)
	if err != nil {
		t.Fatal(err)
	}
	generic := filepath.Join(root, "modelrepo", "triton", "model.py")
	sharp := repo.Model("sharpness_laplacian").Config
	for name := range nativeModels {
		s.Models = append(s.Models, specModel{Name: name, ModelPy: filepath.Join(models, name, "1", "model.py"),
			Repository: filepath.Join(models, name), Version: "1", Config: configJSON(t, repo.Model(name).Config, nil)})
	}
	// A model.native in the version folder names the function, as for the embedded server.
	steered := filepath.Join(work, "steered")
	if err := os.MkdirAll(filepath.Join(steered, "2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(steered, "2", native.FunctionFile), []byte(baselines.RMSContrastFunc+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rename := func(n string) func(*pb.ModelConfig) { return func(c *pb.ModelConfig) { c.Name = n } }
	s.Models = append(s.Models,
		specModel{Name: "steered", ModelPy: generic, Repository: steered, Version: "2", Config: configJSON(t, sharp, rename("steered"))},
		specModel{Name: "nofunc", ModelPy: generic, Repository: filepath.Join(models, "sharpness_laplacian"), Version: "1",
			Config: configJSON(t, sharp, func(c *pb.ModelConfig) {
				c.Name = "nofunc"
				c.Parameters["native.function"] = &pb.ModelParameter{StringValue: "no_such_function"}
			})},
		specModel{Name: "badlib", ModelPy: generic, Repository: filepath.Join(models, "sharpness_laplacian"), Version: "1",
			Config: configJSON(t, sharp, func(c *pb.ModelConfig) {
				c.Name = "badlib"
				c.Parameters["native.library"] = &pb.ModelParameter{StringValue: filepath.Join(work, "elsewhere", "libagiqa.so")}
			})},
	)
	specFile := filepath.Join(work, "spec.json")
	data, _ := json.Marshal(s)
	if err := os.WriteFile(specFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join(root, "modelrepo", "triton", "testdata", "drive.py"), specFile)
	cmd.Env = append(os.Environ(), "AGIQA_NATIVE_LIB="+lib, "PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("drive.py: %v\n%s", err, stderr.String())
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("drive.py output: %v\n%s", err, out)
	}
	if !strings.Contains(res.Version, "ABI 1") {
		t.Errorf("agiqa_version() = %q", res.Version)
	}
	want := map[string][]uint32{}
	for _, fn := range s.Functions {
		want[fn] = goScores(t, fn, img, shape)
		if got := res.Scores[fn]; !equal(got, want[fn]) {
			t.Errorf("%s through libagiqa.so: %v, Go %v (float32 bits)", fn, got, want[fn])
		}
		distinct := map[uint32]bool{}
		for _, v := range want[fn] {
			distinct[v] = true
		}
		if len(distinct) != b {
			t.Errorf("%s: scores %v are not distinct: the batch order is not checked", fn, want[fn])
		}
	}
	for i, c := range s.Served.Cases {
		for fn, ref := range map[string]float64{baselines.LaplacianVarianceFunc: c.Sharpness, baselines.RMSContrastFunc: c.Contrast} {
			if got := res.Served[fn]; len(got) != len(s.Served.Cases) || got[i] != math.Float32bits(float32(ref)) {
				t.Errorf("%s, served %s image: %v, reference float32(%.17g)", fn, c.Kind, got, ref)
			}
		}
	}
	checkErrors(t, res)
	checkTriton(t, res, want)
}

func merged(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

func equal(a, b []uint32) bool {
	return len(a) == len(b) && string(u32bytes(a)) == string(u32bytes(b))
}

func u32bytes(a []uint32) []byte {
	out := make([]byte, 0, 4*len(a))
	for _, v := range a {
		out = append(out, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	return out
}

func checkErrors(t *testing.T, res result) {
	t.Helper()
	for what, w := range map[string]struct {
		code int
		subs []string
	}{
		"unknown function":   {5, []string{`"no_such_function" is not registered`, baselines.LaplacianVarianceFunc}},
		"missing folder":     {5, []string{"version folder", "no-such-version"}},
		"one channel":        {3, []string{baselines.LaplacianVarianceFunc + ":", "IMAGE", "[4 1 24 31]"}},
		"no batch dimension": {3, []string{"IMAGE must be UINT8"}},
		"non-uint8":          {3, []string{"IMAGE must be UINT8", "int16"}},
		"2x2 image":          {3, []string{baselines.LaplacianVarianceFunc + ":", "IMAGE", "smaller than the 3x3 kernel"}},
		"closed":             {13, []string{"closed"}},
	} {
		e := res.Errors[what]
		if e == nil {
			t.Errorf("%s: no error", what)
			continue
		}
		if e.Code != w.code {
			t.Errorf("%s: code %d, want %d (%s)", what, e.Code, w.code, e.Message)
		}
		for _, sub := range w.subs {
			if !strings.Contains(e.Message, sub) {
				t.Errorf("%s: message %q lacks %q", what, e.Message, sub)
			}
		}
	}
}

// checkTriton: one response per request, in order; good batches scored as Go
// scores them; bad requests answered INVALID_ARG naming the model and IMAGE,
// without failing the others; initialisation errors name model and cause.
func checkTriton(t *testing.T, res result, want map[string][]uint32) {
	t.Helper()
	expect := map[string][]uint32{"steered": want[baselines.RMSContrastFunc]}
	for name, fn := range nativeModels {
		expect[name] = want[fn]
	}
	for name, scores := range expect {
		got, ok := res.Triton[name]
		if !ok || got.InitializeError != "" || len(got.Responses) != 5 {
			t.Errorf("%s: %+v", name, got)
			continue
		}
		for i, good := range map[int][]uint32{0: scores, 4: reversed(scores)} {
			r := got.Responses[i]
			if r.Error != "" || r.Name != "QUALITY" || r.Dtype != "float32" || len(r.Shape) != 2 || r.Shape[0] != 4 || r.Shape[1] != 1 || !equal(r.Bits, good) {
				t.Errorf("%s request %d: %+v, want QUALITY float32 [4 1] %v", name, i, r, good)
			}
		}
		for _, i := range []int{1, 2, 3} {
			r := got.Responses[i]
			if r.Error != "INVALID_ARG" || !strings.HasPrefix(r.Message, name+": ") || !strings.Contains(r.Message, "IMAGE") {
				t.Errorf("%s request %d: %+v, want INVALID_ARG naming the model and IMAGE", name, i, r)
			}
		}
	}
	for name, subs := range map[string][]string{
		"nofunc": {`model 'nofunc' version 1`, `"no_such_function" is not registered`},
		"badlib": {`model 'badlib' version 1`, filepath.Join("elsewhere", "libagiqa.so")},
	} {
		got := res.Triton[name].InitializeError
		for _, sub := range subs {
			if !strings.Contains(got, sub) {
				t.Errorf("%s: initialize error %q lacks %q", name, got, sub)
			}
		}
	}
}
