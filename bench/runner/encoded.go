package runner

import (
	"errors"
	"fmt"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// Encoded input (issue 15): a model whose IMAGE input is BYTES [1] (an
// ensemble chaining server-side preprocessing and a model, `<model>_e2e`)
// gets each image file's bytes as they are, not decoded: the server decodes
// and resizes with the same Go code (modelrepo/preprocmodel). Prompts are
// still tokenised here. The prediction cache needs nothing more: its file is
// per (model, version), the ensemble's own name, and each prediction's input
// key is the digest of the image bytes (and prompt) sent.

// ErrHelperModel is wrapped by Describe for a model the harness does not
// score: a server-side preprocessing model (agiqa.role "preprocess").
var ErrHelperModel = errors.New("a preprocessing model, not a scoring one")

// encodedImage is the IMAGE input of a batch of encoded images: BYTES [n, 1]
// ([1] when the model does not batch).
func encodedImage(m *Model, b []prepared) (*tensor.Tensor, error) {
	elems := make([][]byte, len(b))
	for i, p := range b {
		if p.encoded == nil {
			return nil, fmt.Errorf("model %s: image %s has no encoded bytes", m.Name, p.item.Image)
		}
		elems[i] = p.encoded
	}
	shape := []int64{int64(len(b)), 1}
	if m.MaxBatch == 0 {
		shape = shape[1:]
	}
	return tensor.NewBytes(InputImage, shape, elems)
}

// isEncodedImage: IMAGE BYTES [1] (config spelling STRING, metadata BYTES).
func isEncodedImage(datatype string, d []int64) bool {
	return (datatype == "STRING" || datatype == "BYTES") && len(d) == 1 && d[0] == 1
}

// helperRole reports a config parameter marking a model the harness skips.
func helperRole(role string) bool { return role == modelrepo.RolePreprocess }

// target is the served model and version a request for version goes to: the
// model itself, or for a per-split ensemble family the ensemble of that
// version, asked for its only version.
func (m *Model) target(version string) (string, string) {
	if name, ok := m.VersionModels[version]; ok {
		return name, ""
	}
	return m.Name, version
}
