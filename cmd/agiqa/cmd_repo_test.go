package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
	"github.com/agiqa-bench/agiqa/modelrepo/ortbackend"
)

func init() {
	native.Register("repo_check_test_fn", func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) { return nil, nil })
}

// writeTree creates files (slash paths relative to dir) with their contents.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const repoCheckContract = `max_batch_size: 4
input [ { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 4, 4 ] }, { name: "TOKENS" data_type: TYPE_INT64 dims: [ 77 ] } ]
output [ { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] }, { name: "ALIGNMENT" data_type: TYPE_FP32 dims: [ 1 ] } ]
parameters { key: "agiqa.preprocess" value: { string_value: "resize" } }
`

// The repository is written at test time: .onnx files are never committed,
// and empty version folders would not survive git.
func TestRepoCheckGolden(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"good_native/config.pbtxt":    "backend: \"native\"\n" + repoCheckContract,
		"good_native/1/model.native":  "# the Go function this version runs\nrepo_check_test_fn\n",
		"bad_syntax/config.pbtxt":     "backend: \"native\"\nmax_batch_size: 4\ninput [ { name: \"IMAGE\" data_type: TYPE_UINT9 } ]\n",
		"bad_syntax/1/model.native":   "repo_check_test_fn\n",
		"bad_contract/config.pbtxt":   "backend: \"native\"\n" + strings.Replace(strings.Replace(repoCheckContract, "3, 4, 4", "3, 4, 5", 1), "agiqa.preprocess", "agiqa.preproces", 1),
		"bad_contract/1/model.native": "no_such_function\n",
		"onnx_nofile/config.pbtxt":    "platform: \"onnxruntime_onnx\"\n" + repoCheckContract,
		"onnx_nofile/1/weights.bin":   "x",
		"onnx_ok/config.pbtxt":        "platform: \"onnxruntime_onnx\"\nversion_policy: { all {} }\n" + repoCheckContract,
		"onnx_ok/1/model.onnx":        "placeholder: not opened with -no-ort",
		"onnx_ok/2/model.onnx":        "placeholder",
		"onnx_ok/v3/model.onnx":       "placeholder",
		"trt/config.pbtxt":            "platform: \"tensorrt_plan\"\n" + repoCheckContract,
		"trt/1/model.plan":            "x",
	})
	stdout, stderr, err := runCLI(t, "repo", "check", "-no-ort", dir)
	if err == nil {
		t.Fatal("repo check passed a repository with broken models")
	}
	if stderr != "" {
		t.Errorf("stderr: %q", stderr)
	}
	// The temporary path differs per run; the golden file says REPO.
	got := strings.ReplaceAll(stdout+"error: "+err.Error()+"\n", dir, "REPO")
	checkGolden(t, "repo_check", []byte(got))
}

func TestRepoCheckAllOK(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"m/config.pbtxt":   "backend: \"native\"\n" + repoCheckContract,
		"m/1/model.native": "repo_check_test_fn\n",
	})
	stdout, _, err := runCLI(t, "repo", "check", dir)
	if err != nil || !strings.Contains(stdout, "ok   m (native, version 1)") || !strings.Contains(stdout, "all 1 models ok") {
		t.Errorf("repo check = %v\n%s", err, stdout)
	}
	// No ONNX model: nothing to say about ONNX Runtime.
	if strings.Contains(stdout, "ONNX") {
		t.Errorf("ONNX note without ONNX models:\n%s", stdout)
	}
}

func TestRepoCheckUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args   []string
		errHas string
	}{
		{[]string{"repo"}, "missing subcommand"},
		{[]string{"repo", "lint"}, `unknown subcommand "lint"`},
		{[]string{"repo", "check"}, "exactly one repository directory"},
		{[]string{"repo", "check", "-no-ort", "-require-ort", dir}, "contradict"},
		{[]string{"repo", "check", filepath.Join(dir, "absent")}, "absent"},
		{[]string{"repo", "check", dir}, "holds no model directories"},
		{[]string{"repo", "check", "-require-ort", "-ort-lib", filepath.Join(dir, "libonnxruntime.so.1"), dir}, filepath.Join(dir, "libonnxruntime.so.1")},
	} {
		_, _, err := runCLI(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("%v: err = %v, want one mentioning %q", c.args, err, c.errHas)
		}
	}
}

// With ONNX Runtime the signatures are compared: a mismatch names both shapes.
func TestRepoCheckONNXSignatures(t *testing.T) {
	lib, err := ortbackend.LibraryPath("")
	if err == nil {
		_, err = ortbackend.New(lib)
	}
	if err != nil {
		testenv.SkipOrFail(t, testenv.RequireORT, "ONNX Runtime unavailable: %v", err)
	}
	py := os.Getenv("AGIQA_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	gen := t.TempDir()
	script := filepath.Join("..", "..", "modelrepo", "ortbackend", "testdata", "make_models.py")
	if out, err := exec.Command(py, script, gen).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "cannot generate ONNX files with %s %s: %v\n%s", py, script, err, out)
	}
	onnx, err := os.ReadFile(filepath.Join(gen, "toy.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"toy/config.pbtxt":     "platform: \"onnxruntime_onnx\"\n" + repoCheckContract,
		"toy/1/model.onnx":     string(onnx),
		"toy_bad/config.pbtxt": "platform: \"onnxruntime_onnx\"\n" + strings.Replace(repoCheckContract, "3, 4, 4", "3, 8, 8", 1),
		"toy_bad/1/model.onnx": string(onnx),
	})
	stdout, _, err := runCLI(t, "repo", "check", "-require-ort", "-ort-lib", lib, dir)
	for _, want := range []string{
		"ok   toy (onnxruntime, version 1; ONNX signature matches)",
		"FAIL toy_bad",
		`input "IMAGE": config.pbtxt expects UINT8 [-1,3,8,8], model.onnx has UINT8 [-1,3,4,4]`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "1 of 2 models have problems") {
		t.Errorf("err = %v", err)
	}
}
