package preprocmodel

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// paperSplits is how many versions a per-split model of modelrepo/models has (IP-IQA's protocol).
const paperSplits = 10

var update = flag.Bool("update", false, "rewrite the committed preprocess_* and *_e2e configs")

// repoFiles is every file the two repositories should hold for preprocessing and ensembles:
// path -> content. The built-in repository (baselines/builtin) serves them on the native backend;
// modelrepo/models, Triton's, runs preprocessing in the Python backend through libagiqa.so (the
// generic model.py) and ensembles for its zero-shot models.
func repoFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	modelPy, err := os.ReadFile(filepath.Join(root, "modelrepo", "triton", "model.py"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range []struct {
		dir, backend, versionFile, versionText string
	}{
		{filepath.Join(root, "baselines", "builtin"), "native", native.FunctionFile, ""},
		{filepath.Join(root, "modelrepo", "models"), "python", "model.py", string(modelPy)},
	} {
		repo, err := modelrepo.Open(r.dir)
		if err != nil {
			t.Fatal(err)
		}
		need := map[Spec]bool{}
		for _, c := range configs(repo) {
			if modelrepo.IsEnsemble(c) {
				continue
			}
			if role, _ := modelrepo.Parameter(c, RoleParameter); role == RolePreprocess {
				continue
			}
			s, ok := SpecOf(c)
			if !ok {
				continue
			}
			need[s] = true
			if ps, _ := modelrepo.Parameter(c, "agiqa.per_split"); ps == "true" {
				// One ensemble per split: the paper protocol's 10 (agiqa tables --splits 10).
				for k := int64(1); k <= paperSplits; k++ {
					cfg, err := E2ESplitConfig(c, k)
					if err != nil {
						t.Fatal(err)
					}
					out[filepath.Join(r.dir, E2ESplitName(c.Name, k), "config.pbtxt")] = cfg
					out[filepath.Join(r.dir, E2ESplitName(c.Name, k), "1", "ENSEMBLE")] = "An ensemble's version folder holds no model file; the steps are in ../config.pbtxt.\n"
				}
				continue
			}
			cfg, err := E2EConfig(c, -1)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Join(r.dir, E2EName(c.Name), "config.pbtxt")] = cfg
			out[filepath.Join(r.dir, E2EName(c.Name), "1", "ENSEMBLE")] = "An ensemble's version folder holds no model file; the steps are in ../config.pbtxt.\n"
		}
		for s := range need {
			out[filepath.Join(r.dir, s.Name(), "config.pbtxt")] = PreprocessConfig(s, r.backend)
			text := r.versionText
			if text == "" {
				text = s.Name() + "\n"
			}
			out[filepath.Join(r.dir, s.Name(), "1", r.versionFile)] = text
		}
	}
	return out
}

// configs are the parsed configs of every model, those whose files are missing (ONNX weights not
// exported yet) included.
func configs(repo *modelrepo.Repository) []*pb.ModelConfig {
	var out []*pb.ModelConfig
	for _, m := range repo.Models {
		out = append(out, m.Config)
	}
	for _, e := range repo.Errors {
		if e.Config != nil {
			out = append(out, e.Config)
		}
	}
	return out
}

// The committed preprocessing models and ensembles are what configs.go writes, and each loads.
func TestCommittedConfigs(t *testing.T) {
	root := testenv.ModuleRoot(t)
	files := repoFiles(t, root)
	for path, want := range files {
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is not what configs.go writes (go test ./modelrepo/preprocmodel -run TestCommittedConfigs -update): %v", path, err)
		}
	}
	for _, dir := range []string{filepath.Join(root, "baselines", "builtin"), filepath.Join(root, "modelrepo", "models")} {
		repo, err := modelrepo.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range repo.Errors {
			if _, ours := files[filepath.Join(dir, e.Name, "config.pbtxt")]; ours {
				t.Errorf("%s: %v", dir, e)
			}
		}
		n := 0
		for _, m := range repo.Models {
			if !modelrepo.IsEnsemble(m.Config) {
				continue
			}
			n++
			if p := modelrepo.CheckEnsemble(m.Config, repo.EnsembleLookup); len(p) > 0 {
				t.Errorf("%s: %v", m.Name, p)
			}
		}
		if n == 0 {
			t.Errorf("%s: no ensemble loads", dir)
		}
	}
}
