package niqe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/agiqa-bench/agiqa/baselines/matfile"
	"github.com/agiqa-bench/agiqa/baselines/matlab"
)

// Model is a pristine multivariate Gaussian: the mean and covariance of
// block feature vectors of high-quality images.
type Model struct {
	Mu  []float64 // NumFeatures
	Cov []float64 // NumFeatures x NumFeatures, row-major (symmetric)
}

// Check reports a model of the wrong size or with non-finite values.
func (m *Model) Check() error {
	if len(m.Mu) != NumFeatures || len(m.Cov) != NumFeatures*NumFeatures {
		return fmt.Errorf("niqe: model has %d means and %d covariances, the extractor makes %d features (want %d and %d)",
			len(m.Mu), len(m.Cov), NumFeatures, NumFeatures, NumFeatures*NumFeatures)
	}
	for i, v := range append(append([]float64(nil), m.Mu...), m.Cov...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("niqe: model value %d is %v", i, v)
		}
	}
	return nil
}

// ReadMAT reads a pristine model from a MAT file holding mu_prisparam
// (1 x 36) and cov_prisparam (36 x 36), as the release's
// modelparameters.mat and estimatemodelparam.m's output do.
func ReadMAT(r io.Reader) (*Model, error) {
	vars, err := matfile.Read(r)
	if err != nil {
		return nil, err
	}
	mu, ok := vars["mu_prisparam"]
	if !ok {
		return nil, fmt.Errorf("niqe: MAT file has no mu_prisparam")
	}
	cov, ok := vars["cov_prisparam"]
	if !ok {
		return nil, fmt.Errorf("niqe: MAT file has no cov_prisparam")
	}
	if mu.Len() != NumFeatures {
		return nil, fmt.Errorf("niqe: mu_prisparam has %d values %v, the extractor makes %d features", mu.Len(), mu.Dims, NumFeatures)
	}
	if len(cov.Dims) != 2 || cov.Dims[0] != NumFeatures || cov.Dims[1] != NumFeatures {
		return nil, fmt.Errorf("niqe: cov_prisparam is %v, the extractor makes %d features (want %dx%d)", cov.Dims, NumFeatures, NumFeatures, NumFeatures)
	}
	m := &Model{Mu: append([]float64(nil), mu.Data...), Cov: make([]float64, NumFeatures*NumFeatures)}
	for i := 0; i < NumFeatures; i++ {
		for j := 0; j < NumFeatures; j++ {
			m.Cov[i*NumFeatures+j] = cov.At(i, j)
		}
	}
	return m, m.Check()
}

// FileFormat identifies this package's JSON model files.
const FileFormat = "agiqa-niqe-model/1"

// modelJSON is the JSON model file: {"format": FileFormat, "mu": [36],
// "cov": [[36] x 36] (rows), "blocks": rows fitted, "images": images used,
// "threshold": sharpness threshold}. The last three are informative.
type modelJSON struct {
	Format    string      `json:"format"`
	Mu        []float64   `json:"mu"`
	Cov       [][]float64 `json:"cov"`
	Blocks    int         `json:"blocks,omitempty"`
	Images    int         `json:"images,omitempty"`
	Threshold float64     `json:"threshold,omitempty"`
}

// WriteJSON writes m as a JSON model file (values with 17 significant
// digits, so reading it back gives the same model).
func (m *Model) WriteJSON(w io.Writer, info FitInfo) error {
	if err := m.Check(); err != nil {
		return err
	}
	out := modelJSON{Format: FileFormat, Mu: m.Mu, Blocks: info.Blocks, Images: info.Images, Threshold: info.Threshold}
	for i := 0; i < NumFeatures; i++ {
		out.Cov = append(out.Cov, m.Cov[i*NumFeatures:(i+1)*NumFeatures])
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}

// Read reads a model in either format: a MAT file (by its header) or this
// package's JSON.
func Read(r io.Reader) (*Model, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(6)
	if bytes.HasPrefix(head, []byte("MATLAB")) {
		return ReadMAT(br)
	}
	var in modelJSON
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("niqe: model is neither a MAT file nor %s JSON: %w", FileFormat, err)
	}
	if in.Format != FileFormat {
		return nil, fmt.Errorf("niqe: model format %q, want %q", in.Format, FileFormat)
	}
	m := &Model{Mu: in.Mu}
	for i, row := range in.Cov {
		if len(row) != NumFeatures {
			return nil, fmt.Errorf("niqe: model cov row %d has %d values, the extractor makes %d features", i, len(row), NumFeatures)
		}
		m.Cov = append(m.Cov, row...)
	}
	return m, m.Check()
}

// Score is the NIQE of an 8-bit RGB image against the pristine model m.
// An image under one block gives a *SmallImageError; a constant image NaN
// and a *ZeroVarianceError.
func (m *Model) Score(ctx context.Context, im *matlab.RGB8) (float64, error) {
	b, err := BlockFeatures(ctx, im)
	if err != nil {
		if _, ok := err.(*ZeroVarianceError); ok {
			return math.NaN(), err
		}
		return 0, err
	}
	return m.Distance(b)
}

// Distance is computequality.m's last step: the MVG of the blocks
// (nanmean, nancov) and sqrt(d * pinv((cov_pris + cov_dist)/2) * d') with
// d = mu_pris - mu_dist. Blocks that are all NaN leave the score NaN, with
// an error saying so.
func (m *Model) Distance(b *Blocks) (float64, error) {
	mu := nanMean(b.Feat, b.N, NumFeatures)
	cov, complete := nanCov(b.Feat, b.N, NumFeatures)
	if complete == 0 || hasNaN(mu) {
		return math.NaN(), fmt.Errorf("niqe: no block of the image has finite features (flat blocks): the score is undefined (NaN)")
	}
	const d = NumFeatures
	avg := make([]float64, d*d)
	for i := range avg {
		avg[i] = (m.Cov[i] + cov[i]) / 2
	}
	inv := pinvSym(avg, d)
	diff := make([]float64, d)
	for i := range diff {
		diff[i] = m.Mu[i] - mu[i]
	}
	var q float64
	for j := 0; j < d; j++ { // (diff * inv) then * diff', as MATLAB evaluates it
		var s float64
		for i := 0; i < d; i++ {
			s += diff[i] * inv[i*d+j]
		}
		q += s * diff[j]
	}
	return math.Sqrt(q), nil
}
