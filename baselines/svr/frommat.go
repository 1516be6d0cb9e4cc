package svr

import (
	"fmt"

	"github.com/agiqa-bench/agiqa/baselines/matfile"
)

// FromMAT converts the model struct that libsvm's MATLAB interface (svmtrain) returns and MATLAB
// saves (fields Parameters, nr_class, totalSV, rho, Label, sv_indices, ProbA, ProbB, nSV, sv_coef,
// SVs, the last possibly sparse) into a Model. Parameters is [svm_type kernel_type degree gamma
// coef0]; only regression (svm_type 3 epsilon-SVR or 4 nu-SVR) is accepted.
func FromMAT(s *matfile.Array) (*Model, error) {
	field := func(name string) (*matfile.Array, error) { return s.Field(name) }
	par, err := field("Parameters")
	if err != nil {
		return nil, err
	}
	if len(par.Data) < 5 {
		return nil, fmt.Errorf("svr: %s.Parameters has %d values, want 5", s.Name, len(par.Data))
	}
	if t := par.Data[0]; t != 3 && t != 4 {
		return nil, fmt.Errorf("svr: %s.Parameters(1) = %v: svm_type is not regression (3 or 4)", s.Name, t)
	}
	m := &Model{Degree: int(par.Data[2]), Gamma: par.Data[3], Coef0: par.Data[4]}
	found := false
	for k, code := range libsvmCode {
		if float64(code) == par.Data[1] {
			m.Kernel, found = k, true
		}
	}
	if !found {
		return nil, fmt.Errorf("svr: %s.Parameters(2) = %v: kernel type not supported", s.Name, par.Data[1])
	}
	rho, err := field("rho")
	if err != nil {
		return nil, err
	}
	if len(rho.Data) != 1 {
		return nil, fmt.Errorf("svr: %s.rho has %d values, want 1", s.Name, len(rho.Data))
	}
	m.Rho = rho.Data[0]
	coef, err := field("sv_coef")
	if err != nil {
		return nil, err
	}
	svs, err := field("SVs")
	if err != nil {
		return nil, err
	}
	n := len(coef.Data)
	if len(svs.Dims) != 2 || svs.Dims[0] != n {
		return nil, fmt.Errorf("svr: %s.SVs is %v, want %d rows (one per sv_coef)", s.Name, svs.Dims, n)
	}
	if tot, err := field("totalSV"); err == nil && len(tot.Data) == 1 && int(tot.Data[0]) != n {
		return nil, fmt.Errorf("svr: %s.totalSV = %v but sv_coef has %d values", s.Name, tot.Data[0], n)
	}
	m.Coef = append([]float64(nil), coef.Data...)
	for i := 0; i < n; i++ {
		row := make([]float64, svs.Dims[1])
		for j := range row {
			row[j] = svs.At(i, j)
		}
		m.SV = append(m.SV, row)
	}
	if idx, err := field("sv_indices"); err == nil && len(idx.Data) == n {
		for _, v := range idx.Data {
			m.SVIndices = append(m.SVIndices, int(v))
		}
	}
	if pa, err := field("ProbA"); err == nil && len(pa.Data) == 1 {
		m.ProbA, m.HasProbA = pa.Data[0], true
	}
	return m, nil
}
