package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/preprocmodel"
)

// feed-bench's encoded input: the first feed model behind an ensemble whose first step decodes and
// resizes on the server (modelrepo/preprocmodel), so the client sends each JPEG's bytes.

// feedBoth is feed-bench's --input measuring tensor and encoded input in one run.
const feedBoth = "both"

func feedE2E(names []string) string { return preprocmodel.E2EName(names[0]) }

// writeFeedEnsemble adds to the feed repository the preprocessing model for --size and --method
// (the "preprocess" loader, any size) and model's ensemble.
func writeFeedEnsemble(dir string, f *feedBenchFlags, model string) error {
	m, err := preprocess.ParseMethod(f.method)
	if err != nil {
		return err
	}
	spec := preprocmodel.Spec{Method: m, Size: f.size}
	repo, err := modelrepo.Open(dir)
	if err != nil {
		return err
	}
	base := repo.Model(model)
	if base == nil {
		return fmt.Errorf("feed repository: model %s does not load", model)
	}
	e2e, err := preprocmodel.E2EConfig(base.Config, -1)
	if err != nil {
		return err
	}
	files := map[string]string{
		filepath.Join(spec.Name(), "config.pbtxt"):                  preprocmodel.PreprocessConfig(spec, "native"),
		filepath.Join(spec.Name(), "1", "model.native"):             preprocmodel.LoaderName + "\n",
		filepath.Join(spec.Name(), "1", preprocmodel.SpecFile):      fmt.Sprintf("%s %d\n", m, f.size),
		filepath.Join(preprocmodel.E2EName(model), "config.pbtxt"):  e2e,
		filepath.Join(preprocmodel.E2EName(model), "1", "ENSEMBLE"): "no model file\n",
	}
	for rel, text := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// printEncodedRatios compares encoded with tensor input in the request: how much less client CPU
// and how many more bytes on the wire per image server-side preprocessing costs.
func printEncodedRatios(w io.Writer, rows []feedRow) {
	var tensor, encoded *feedRow
	for i := range rows {
		switch rows[i].label {
		case "tensor, in the request":
			tensor = &rows[i]
		case "encoded, in the request":
			encoded = &rows[i]
		}
	}
	if tensor == nil || encoded == nil {
		return
	}
	fmt.Fprintf(w, "\nencoded vs tensor input (both in the request): %.2fx the images/s, %.2fx the client CPU per image (%.1fx the images/s one client core feeds), %.3fx the bytes on the wire per image\n",
		encoded.perSec/tensor.perSec, encoded.cpuMS/tensor.cpuMS, tensor.cpuMS/encoded.cpuMS, encoded.wireBytes/tensor.wireBytes)
}
