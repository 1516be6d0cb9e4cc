package svr

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Write writes m in the text format of libsvm 3.24's svm_save_model (what svm-train -s 3 writes):
// parameters and coefficients with %.17g, support vector values with %.8g. Zero feature values are
// left out, as svm-scale's output leaves them out (svm-train writes whatever its input listed).
func (m *Model) Write(w io.Writer) error {
	if len(m.SV) != len(m.Coef) {
		return fmt.Errorf("svr: model has %d support vectors but %d coefficients", len(m.SV), len(m.Coef))
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "svm_type epsilon_svr\nkernel_type %s\n", m.Kernel)
	if m.Kernel == Poly {
		fmt.Fprintf(bw, "degree %d\n", m.Degree)
	}
	if m.Kernel != Linear {
		fmt.Fprintf(bw, "gamma %s\n", g17(m.Gamma))
	}
	if m.Kernel == Poly || m.Kernel == Sigmoid {
		fmt.Fprintf(bw, "coef0 %s\n", g17(m.Coef0))
	}
	fmt.Fprintf(bw, "nr_class 2\ntotal_sv %d\nrho %s\n", len(m.SV), g17(m.Rho))
	if m.HasProbA {
		fmt.Fprintf(bw, "probA %s\n", g17(m.ProbA))
	}
	bw.WriteString("SV\n")
	for i, sv := range m.SV {
		bw.WriteString(g17(m.Coef[i]))
		bw.WriteByte(' ')
		for k, v := range sv {
			if v != 0 {
				fmt.Fprintf(bw, "%d:%s ", k+1, strconv.FormatFloat(v, 'g', 8, 64))
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func g17(v float64) string { return strconv.FormatFloat(v, 'g', 17, 64) }

// ReadModel reads a libsvm model file of an epsilon-SVR or nu-SVR (both predict alike), as written by
// svm-train of any 3.x version.
func ReadModel(r io.Reader) (*Model, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	m := &Model{Kernel: RBF, Degree: 3}
	total := -1
	for {
		line, err := br.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return nil, fmt.Errorf("svr: model header: no SV line (%v)", err)
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "SV" {
			break
		}
		if err := m.header(f, &total); err != nil {
			return nil, err
		}
	}
	if total < 0 {
		return nil, fmt.Errorf("svr: model header has no total_sv")
	}
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if line == "" && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("svr: model SV line %d: %w", n, err)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		coef, sv, err := parseSV(line)
		if err != nil {
			return nil, fmt.Errorf("svr: model SV line %d: %w", n, err)
		}
		m.Coef = append(m.Coef, coef)
		m.SV = append(m.SV, sv)
	}
	if len(m.SV) != total {
		return nil, fmt.Errorf("svr: model says total_sv %d but lists %d support vectors", total, len(m.SV))
	}
	return m, nil
}

func (m *Model) header(f []string, total *int) error {
	arg := func() (string, error) {
		if len(f) < 2 {
			return "", fmt.Errorf("svr: model header %q has no value", f[0])
		}
		return f[1], nil
	}
	num := func() (float64, error) {
		s, err := arg()
		if err != nil {
			return 0, err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("svr: model header %s: %w", f[0], err)
		}
		return v, nil
	}
	var err error
	switch f[0] {
	case "svm_type":
		s, e := arg()
		if e == nil && s != "epsilon_svr" && s != "nu_svr" {
			e = fmt.Errorf("svr: model svm_type %q is not a regression (want epsilon_svr or nu_svr)", s)
		}
		err = e
	case "kernel_type":
		s, e := arg()
		if e != nil {
			return e
		}
		found := false
		for k, name := range kernelNames {
			if name == s {
				m.Kernel, found = k, true
			}
		}
		if !found {
			err = fmt.Errorf("svr: model kernel_type %q is not supported (linear, polynomial, rbf, sigmoid)", s)
		}
	case "degree":
		var v float64
		v, err = num()
		m.Degree = int(v)
	case "gamma":
		m.Gamma, err = num()
	case "coef0":
		m.Coef0, err = num()
	case "nr_class":
		var v float64
		if v, err = num(); err == nil && v != 2 {
			err = fmt.Errorf("svr: model nr_class %v, a regression model has 2", v)
		}
	case "total_sv":
		var v float64
		v, err = num()
		*total = int(v)
	case "rho":
		m.Rho, err = num()
	case "probA":
		m.ProbA, err = num()
		m.HasProbA = err == nil
	case "probB", "label", "nr_sv", "prob_density_marks":
	default:
		err = fmt.Errorf("svr: unknown text in model header: %q", f[0])
	}
	return err
}

func parseSV(line string) (float64, []float64, error) {
	f := strings.Fields(line)
	coef, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, nil, fmt.Errorf("coefficient: %w", err)
	}
	var sv []float64
	last := 0
	for _, tok := range f[1:] {
		is, vs, ok := strings.Cut(tok, ":")
		if !ok {
			return 0, nil, fmt.Errorf("%q is not index:value", tok)
		}
		idx, err := strconv.Atoi(is)
		if err != nil || idx <= last || idx > 1<<24 {
			return 0, nil, fmt.Errorf("index %q: want ascending indices from 1", is)
		}
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil {
			return 0, nil, fmt.Errorf("value of feature %d: %w", idx, err)
		}
		for len(sv) < idx {
			sv = append(sv, 0)
		}
		sv[idx-1] = v
		last = idx
	}
	return coef, sv, nil
}
