package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/perf"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/preprocmodel" // also registers the preprocess_* native functions
)

// --input values: what a run sends for IMAGE.
const (
	inputModeTensor  = "tensor"  // preprocessed here: UINT8 [3,S,S]
	inputModeEncoded = "encoded" // the file's bytes to <model>_e2e, which preprocesses on the server
)

const inputUsage = "IMAGE `mode`: tensor (decode and resize here) or encoded (send the image files' bytes to each model's <model>_e2e ensemble, which preprocesses on the server; a model without one is scored from tensors, with a note)"

func addInputFlag(fs *flag.FlagSet) *string {
	return fs.String("input", inputModeTensor, inputUsage)
}

func checkInputMode(mode string) error {
	if mode != inputModeTensor && mode != inputModeEncoded {
		return usagef("--input %q: want %s or %s", mode, inputModeTensor, inputModeEncoded)
	}
	return nil
}

// chooseInput picks, for each selected model, the form the run scores: with tensor the models as
// they are, leaving out ensembles taking encoded images when every model was selected (they would
// score the same rows twice); with encoded each model's <model>_e2e ensemble in its place.
func chooseInput(ctx context.Context, c *client.Client, models []*runner.Model, mode string, named bool, warn io.Writer) ([]*runner.Model, error) {
	var out []*runner.Model
	if mode == inputModeTensor {
		for _, m := range models {
			if !m.Encoded || named {
				out = append(out, m)
			}
		}
		return out, nil
	}
	replaced := map[string]bool{}
	for _, m := range models {
		if m.Encoded {
			continue
		}
		if m.PerSplit {
			e, err := splitEnsembles(ctx, c, m)
			if err != nil {
				fmt.Fprintf(warn, "note: model %s: scored from tensors: %v\n", m.Name, err)
				out = append(out, m)
				continue
			}
			out = append(out, e)
			replaced[m.Name] = true
			continue
		}
		name := preprocmodel.E2EName(m.Name)
		e, err := runner.Describe(ctx, c, name)
		switch {
		case err == nil && e.Encoded && e.EnsembleOf == m.Name:
			out = append(out, e)
			replaced[m.Name] = true
		case err == nil:
			return nil, fmt.Errorf("model %s: %s is not an ensemble of it taking encoded images (agiqa.ensemble_of %q)", m.Name, name, e.EnsembleOf)
		default:
			fmt.Fprintf(warn, "note: model %s: no %s ensemble served, scored from tensors: %v\n", m.Name, name, err)
			out = append(out, m)
		}
	}
	for _, m := range models {
		if m.Encoded && !replaced[m.EnsembleOf] {
			out = append(out, m)
		}
	}
	return out, nil
}

// splitEnsembles is the encoded form of a per-split model X: one model, X_e2e, whose version k is
// served by split k's ensemble X_e2e_v<k> (preprocmodel.E2ESplitConfig). Every version X serves
// needs its ensemble.
func splitEnsembles(ctx context.Context, c *client.Client, m *runner.Model) (*runner.Model, error) {
	var family *runner.Model
	for _, v := range m.Versions {
		k, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("version %q is not a number", v)
		}
		name := preprocmodel.E2ESplitName(m.Name, k)
		e, err := runner.Describe(ctx, c, name)
		if err != nil {
			return nil, fmt.Errorf("no ensemble for version %s: %v", v, err)
		}
		if !e.Encoded || e.EnsembleOf != m.Name {
			return nil, fmt.Errorf("%s is not an ensemble of %s taking encoded images", name, m.Name)
		}
		if family == nil {
			f := *e
			f.Name, f.PerSplit, f.Versions, f.VersionModels = preprocmodel.E2EName(m.Name), true, nil, map[string]string{}
			family = &f
		}
		family.Versions = append(family.Versions, v)
		family.VersionModels[v] = name
	}
	if family == nil {
		return nil, fmt.Errorf("it serves no version")
	}
	return family, nil
}

// writeSplitEnsembles writes, beside the per-split model name in the repository dir, the ensemble
// of each of its versions (X_e2e_v<k>), so the trained sample models can be scored from encoded
// images too.
func writeSplitEnsembles(dir, name string) error {
	repo, err := modelrepo.Open(dir)
	if err != nil {
		return err
	}
	m := repo.Model(name)
	if m == nil {
		return fmt.Errorf("model %s does not load from %s", name, dir)
	}
	for _, k := range m.Selected {
		text, err := preprocmodel.E2ESplitConfig(m.Config, k)
		if err != nil {
			return err
		}
		e := filepath.Join(dir, preprocmodel.E2ESplitName(name, k))
		if err := os.MkdirAll(filepath.Join(e, "1"), 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(e, modelrepo.ConfigFile), []byte(text)); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(e, "1", "ENSEMBLE"), []byte("An ensemble's version folder holds no model file.\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// perfEncoded points perf's --model at its ensemble for --input encoded: X_e2e, or X_e2e_v<k>
// for --version k (a per-split model's split ensemble, asked for its only version).
func perfEncoded(f *perfFlags) error {
	if err := checkInputMode(f.inputMode); err != nil {
		return err
	}
	if f.inputMode != inputModeEncoded {
		return nil
	}
	if f.datasetSpec == "" || (f.input != "" && f.input != "dataset") {
		return usagef("--input encoded sends real image files: give --dataset (and no --input-data %s)", f.input)
	}
	if f.version != "" {
		k, err := strconv.ParseInt(f.version, 10, 64)
		if err != nil || k < 1 {
			return usagef("--version %q: want a version number", f.version)
		}
		f.model, f.version = preprocmodel.E2ESplitName(f.model, k), ""
		return nil
	}
	f.model = preprocmodel.E2EName(f.model)
	return nil
}

// encodedSample is a perf sample of the image file's bytes, read as the runner reads them.
func encodedSample(ctx context.Context, it dataset.Item) (perf.Sample, error) {
	data, err := preprocess.ReadFile(ctx, it.Path)
	if err != nil {
		return perf.Sample{}, err
	}
	return perf.Sample{Name: it.Image, Encoded: data}, nil
}
