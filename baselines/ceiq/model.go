package ceiq

import (
	"fmt"
	"io"
	"math"

	"github.com/agiqa-bench/agiqa/baselines/matfile"
	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/baselines/svr"
)

// Model is a CEIQ regression: an SVR over the five features, the published model.mat or one trained
// per split.
type Model struct {
	SVR *svr.Model
}

// ReadMAT reads the release's model.mat: the struct "model" that libsvm's MATLAB interface saves
// (Parameters, rho, sv_coef, SVs). A model whose support vectors do not have NumFeatures values is
// refused, naming both lengths.
func ReadMAT(r io.Reader) (*Model, error) {
	vars, err := matfile.Read(r)
	if err != nil {
		return nil, fmt.Errorf("ceiq: model.mat: %w", err)
	}
	s, ok := vars["model"]
	if !ok {
		return nil, fmt.Errorf("ceiq: model.mat has no variable \"model\"")
	}
	m, err := fromLibsvmStruct(s)
	if err != nil {
		return nil, fmt.Errorf("ceiq: model.mat: %w", err)
	}
	return &Model{SVR: m}, nil
}

// fromLibsvmStruct converts libsvm's MATLAB model struct (svr.FromMAT) and refuses one whose support
// vectors do not have CEIQ's NumFeatures values, naming both lengths.
func fromLibsvmStruct(s *matfile.Array) (*svr.Model, error) {
	m, err := svr.FromMAT(s)
	if err != nil {
		return nil, err
	}
	if len(m.SV) > 0 && len(m.SV[0]) != NumFeatures {
		return nil, fmt.Errorf("model.SVs has %d features, CEIQ computes %d", len(m.SV[0]), NumFeatures)
	}
	return m, nil
}

// Score is the model's CEIQ of im (svmpredict(1, feat, model) in CEIQ.m). A constant image scores
// NaN with an error wrapping ErrConstant.
func (m *Model) Score(im *matlab.RGB8) (float64, error) {
	f, err := Features(im)
	if err != nil {
		return math.NaN(), err
	}
	return m.SVR.Predict(f), nil
}
