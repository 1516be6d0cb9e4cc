package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/preprocmodel"
)

// The sample through the native models' <model>_e2e ensembles (and a per-split SVR's <model>_e2e_v<k>) (encoded image bytes, decoded and
// resized on the server by preprocess_native and preprocess_resize_512) scores exactly what the
// tensor run scores: the same per-split correlations, to the bit. The reference is the tensor run,
// whose preprocessing is checked against Pillow in bench/preprocess.
func TestTablesEncodedEqualsTensor(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("AGIQA_CACHE", cache)
	for name, file := range map[string][]string{
		"niqe-params": {"niqe", "modelparameters.mat"}, "brisque-model": {"brisque", "allmodel"},
		"brisque-range": {"brisque", "allrange"}, "ceiq-model": {"ceiq", "model.mat"},
	} {
		if _, _, err := runCLI(t, "fetch", name, "--from", testenv.Shared(t, append([]string{"data"}, file...)...)); err != nil {
			t.Fatal(err)
		}
	}
	// gmlf_sample: an SVR trained per split on the sample, scored through one ensemble per split.
	models := []string{"brisque", "ceiq", "contrast_rms", "gmlf_sample", "niqe", "sharpness_laplacian"}
	run := func(input string) ([]runner.ModelResult, string) {
		t.Helper()
		report := filepath.Join(cache, input+".json")
		_, stderr, err := runCLI(t, "tables", "--cache", filepath.Join(cache, "predictions"), "--sample-size", "40", "--splits", "2",
			"--models", strings.Join(models, ","), "--input", input, "--report", report)
		if err != nil {
			t.Fatalf("--input %s: %v\n%s", input, err, stderr)
		}
		var results []runner.ModelResult
		b, _ := os.ReadFile(report)
		if err := json.Unmarshal(b, &results); err != nil || len(results) != len(models) {
			t.Fatalf("--input %s report: %v %s", input, err, b)
		}
		return results, stderr
	}
	tensor, _ := run("tensor")
	encoded, stderr := run("encoded")
	for i, want := range tensor {
		got := encoded[i]
		if want.Model != models[i] || got.Model != models[i]+"_e2e" {
			t.Fatalf("rows %d: %s (tensor) and %s (encoded), want %s and %s_e2e", i, want.Model, got.Model, models[i], models[i])
		}
		if s := want.Summary["quality"]; s.Splits != 2 {
			t.Errorf("%s: tensor summary %+v: no quality scores to compare", models[i], s)
		}
		if got.Failed != 0 || want.Failed != 0 || len(got.Runs) != len(want.Runs) || got.Runs[0].Inferred != want.Runs[0].Inferred || got.Runs[0].Inferred == 0 {
			t.Errorf("%s: failed %d/%d, %d runs inferring %d (tensor: %d runs)", got.Model, want.Failed, got.Failed, len(got.Runs), got.Runs[0].Inferred, len(want.Runs))
		}
		if got.Catalog != want.Catalog || !reflect.DeepEqual(got.Splits, want.Splits) || !reflect.DeepEqual(got.Summary, want.Summary) {
			t.Errorf("%s: encoded scores differ from the tensor run:\n encoded %+v\n tensor  %+v", models[i], got.Summary, want.Summary)
		}
	}
	if strings.Contains(stderr, "scored from tensors") {
		t.Errorf("a model fell back to tensors:\n%s", stderr)
	}
	// The encoded predictions are cached under the ensemble: a second run infers nothing.
	_, stderr = run("encoded")
	lines := regexp.MustCompile(`(\d+) images, (\d+) already cached`).FindAllStringSubmatch(stderr, -1)
	for _, l := range lines {
		if l[1] != l[2] {
			t.Errorf("second encoded run re-inferred: %s", l[0])
		}
	}
	if len(lines) != len(models)+1 { // the per-split model runs once per split
		t.Errorf("second encoded run: %d runs, want %d:\n%s", len(lines), len(models)+1, stderr)
	}
}

// repo check checks an ensemble's steps against its models, naming the step and the tensor: the
// generated ensembles of the committed repository pass, a broken one fails.
func TestRepoCheckEnsembles(t *testing.T) {
	dir := t.TempDir()
	pre := preprocmodel.Spec{Method: preprocess.MethodResize, Size: 512}
	model := readRepoFile(t, "baselines/builtin/sharpness_laplacian/config.pbtxt")
	good := readRepoFile(t, "baselines/builtin/sharpness_laplacian_e2e/config.pbtxt")
	writeTree(t, dir, map[string]string{
		"sharpness_laplacian/config.pbtxt":     model,
		"sharpness_laplacian/1/model.native":   "laplacian_variance\n",
		pre.Name() + "/config.pbtxt":           preprocmodel.PreprocessConfig(pre, "native"),
		pre.Name() + "/1/model.native":         pre.Name() + "\n",
		"sharpness_laplacian_e2e/config.pbtxt": good,
		"sharpness_laplacian_e2e/1/ENSEMBLE":   "-\n",
		"bad_type/config.pbtxt":                strings.ReplaceAll(strings.Replace(good, `data_type: TYPE_STRING`, `data_type: TYPE_UINT8`, 1), "sharpness_laplacian_e2e", "bad_type"),
		"bad_type/1/ENSEMBLE":                  "-\n",
		"unknown_model/config.pbtxt":           strings.ReplaceAll(strings.Replace(good, `model_name: "sharpness_laplacian"`, `model_name: "nosuch"`, 1), "sharpness_laplacian_e2e", "unknown_model"),
		"unknown_model/1/ENSEMBLE":             "-\n",
	})
	stdout, _, err := runCLI(t, "repo", "check", "-no-ort", dir)
	if err == nil {
		t.Fatalf("repo check passed broken ensembles:\n%s", stdout)
	}
	for _, want := range []string{
		"ok   sharpness_laplacian_e2e (ensemble, version 1)",
		"ok   " + pre.Name() + " (native, version 1)",
		"FAIL bad_type",
		`ensemble step 1 (model "preprocess_resize_512"): tensor "IMAGE" is TYPE_UINT8 (ensemble input "IMAGE") but model "preprocess_resize_512" input "ENCODED" is TYPE_STRING`,
		"FAIL unknown_model",
		`ensemble step 2 (model "nosuch"): model "nosuch" is not in repository`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("repo check output lacks %q:\n%s", want, stdout)
		}
	}
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
