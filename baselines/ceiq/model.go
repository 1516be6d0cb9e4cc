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

// fromLibsvmStruct converts libsvm's MATLAB model struct of a regression (svm_type 3 or 4).
// TODO(svr): use svr.FromMAT once baselines/svr has it.
func fromLibsvmStruct(s *matfile.Array) (*svr.Model, error) {
	field := func(name string) (*matfile.Array, error) { return s.Field(name) }
	p, err := field("Parameters")
	if err != nil {
		return nil, err
	}
	if p.Len() < 5 {
		return nil, fmt.Errorf("model.Parameters has %d values, want 5", p.Len())
	}
	if t := p.Data[0]; t != 3 && t != 4 {
		return nil, fmt.Errorf("model.Parameters(1) = %g: not a regression (epsilon-SVR 3, nu-SVR 4)", t)
	}
	kernels := map[float64]svr.Kernel{0: svr.Linear, 1: svr.Poly, 2: svr.RBF, 3: svr.Sigmoid}
	k, ok := kernels[p.Data[1]]
	if !ok {
		return nil, fmt.Errorf("model.Parameters(2) = %g: unknown kernel", p.Data[1])
	}
	rho, err := field("rho")
	if err != nil {
		return nil, err
	}
	coef, err := field("sv_coef")
	if err != nil {
		return nil, err
	}
	svs, err := field("SVs")
	if err != nil {
		return nil, err
	}
	if len(svs.Dims) != 2 || len(rho.Data) != 1 || coef.Len() != svs.Dims[0] {
		return nil, fmt.Errorf("model: %d coefficients for SVs of size %v and %d rho", coef.Len(), svs.Dims, len(rho.Data))
	}
	if svs.Dims[1] != NumFeatures {
		return nil, fmt.Errorf("model.SVs has %d features, CEIQ computes %d", svs.Dims[1], NumFeatures)
	}
	m := &svr.Model{Kernel: k, Degree: int(p.Data[2]), Gamma: p.Data[3], Coef0: p.Data[4], Rho: rho.Data[0]}
	for i := 0; i < svs.Dims[0]; i++ {
		sv := make([]float64, svs.Dims[1])
		for j := range sv {
			sv[j] = svs.At(i, j)
		}
		m.SV = append(m.SV, sv)
		m.Coef = append(m.Coef, coef.Data[i])
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
