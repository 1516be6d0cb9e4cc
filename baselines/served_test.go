package baselines

import (
	"path/filepath"
	"testing"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// repositoryConfigs returns every model config of modelrepo/models and of the
// built-in repository by name, including configs the loader reports with
// errors (modelrepo/models has no weights committed, so its ONNX models lack
// version folders here).
func repositoryConfigs(t *testing.T) map[string]*pb.ModelConfig {
	t.Helper()
	out := map[string]*pb.ModelConfig{}
	add := func(repo *modelrepo.Repository) {
		for _, m := range repo.Models {
			out[m.Config.GetName()] = m.Config
		}
		for _, e := range repo.Errors {
			if e.Config != nil {
				out[e.Config.GetName()] = e.Config
			}
		}
	}
	committed, err := modelrepo.Open(filepath.Join(testenv.ModuleRoot(t), "modelrepo", "models"))
	if err != nil {
		t.Fatal(err)
	}
	add(committed)
	builtin, err := modelrepo.OpenFS(BuiltinRepository(), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	add(builtin)
	return out
}

// Catalogue honesty: a row names a served model only where a repository has
// it, and that model's agiqa.catalog (else its name) points back at the row.
// Rows whose models are not in the repository yet keep no Served names; add
// a name when the model lands.
func TestServedNamesExist(t *testing.T) {
	cfgs := repositoryConfigs(t)
	for _, e := range Catalog() {
		for _, name := range e.Served {
			cfg, ok := cfgs[name]
			if !ok {
				t.Errorf("table %d row %q lists served model %q, which neither modelrepo/models nor the built-in repository has", e.Table, e.Key, name)
				continue
			}
			key := name
			if v := cfg.GetParameters()["agiqa.catalog"].GetStringValue(); v != "" {
				key = v
			}
			if key != e.Key {
				t.Errorf("table %d row %q lists %q, whose agiqa.catalog is %q", e.Table, e.Key, name, key)
			}
		}
	}
}
