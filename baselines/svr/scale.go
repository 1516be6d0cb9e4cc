package svr

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Scaler is svm-scale's per-feature linear map to [Lower, Upper] (default [-1, 1]) fitted on
// training data only: Min[k] and Max[k] are feature k+1's range. A feature whose range is empty
// (Min == Max, or not in a range file) is scaled to 0, as svm-scale drops it from its output.
type Scaler struct {
	Lower, Upper float64
	Min, Max     []float64
	known        []bool
}

// FitScaler is svm-scale -s on x: the range of every feature, counting features missing from a
// shorter row as zeros (svm-scale's rule for sparse rows).
func FitScaler(x [][]float64) (*Scaler, error) {
	if len(x) == 0 {
		return nil, fmt.Errorf("svr: svm-scale fit on no samples")
	}
	n := 0
	for _, row := range x {
		n = max(n, len(row))
	}
	s := &Scaler{Lower: -1, Upper: 1, Min: make([]float64, n), Max: make([]float64, n), known: make([]bool, n)}
	for k := 0; k < n; k++ {
		s.Min[k], s.Max[k], s.known[k] = math.Inf(1), math.Inf(-1), true
	}
	for i, row := range x {
		for k := 0; k < n; k++ {
			v := 0.0
			if k < len(row) {
				v = row[k]
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("svr: svm-scale fit: sample %d feature %d is %v", i, k+1, v)
			}
			s.Min[k], s.Max[k] = math.Min(s.Min[k], v), math.Max(s.Max[k], v)
		}
	}
	return s, nil
}

// Apply scales x as svm-scale does (in full precision; ApplyText rounds as its output file does).
func (s *Scaler) Apply(x []float64) []float64 {
	out := make([]float64, len(x))
	for k, v := range x {
		out[k] = s.scale(k, v)
	}
	return out
}

// ApplyText is Apply with every value rounded to svm-scale's "%g" output (6 significant digits):
// what svm-predict sees when the scaled features go through a file, as in BRISQUE's MATLAB code.
func (s *Scaler) ApplyText(x []float64) []float64 {
	out := s.Apply(x)
	for k, v := range out {
		out[k], _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	}
	return out
}

func (s *Scaler) scale(k int, v float64) float64 {
	if k >= len(s.Min) || !s.known[k] || s.Min[k] == s.Max[k] {
		return 0
	}
	switch v {
	case s.Min[k]:
		return s.Lower
	case s.Max[k]:
		return s.Upper
	}
	return s.Lower + (s.Upper-s.Lower)*(v-s.Min[k])/(s.Max[k]-s.Min[k])
}

// WriteRange writes the range file of svm-scale -s.
func (s *Scaler) WriteRange(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "x\n%s %s\n", g17(s.Lower), g17(s.Upper))
	for k := range s.Min {
		if s.known[k] && s.Min[k] != s.Max[k] {
			fmt.Fprintf(bw, "%d %s %s\n", k+1, g17(s.Min[k]), g17(s.Max[k]))
		}
	}
	return bw.Flush()
}

// ReadRange reads a range file written by svm-scale -s (for svm-scale -r); a y section (target
// scaling) is read and ignored.
func ReadRange(r io.Reader) (*Scaler, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	s := &Scaler{}
	var lines []string
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			lines = append(lines, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("svr: range file: %w", err)
	}
	i := 0
	if i < len(lines) && lines[i] == "y" {
		i += 3 // "y", its bounds, the target's min and max
	}
	if i >= len(lines) || lines[i] != "x" {
		return nil, fmt.Errorf("svr: range file: no x line (line %d)", i+1)
	}
	if i+1 >= len(lines) {
		return nil, fmt.Errorf("svr: range file: no lower/upper line")
	}
	b, err := floats(lines[i+1], 2)
	if err != nil {
		return nil, fmt.Errorf("svr: range file line %d: %w", i+2, err)
	}
	s.Lower, s.Upper = b[0], b[1]
	for n, line := range lines[i+2:] {
		f := strings.Fields(line)
		idx, err := strconv.Atoi(f[0])
		if err != nil || idx < 1 || idx > 1<<24 || len(f) != 3 {
			return nil, fmt.Errorf("svr: range file line %d: want 'index min max', got %q", i+3+n, line)
		}
		v, err := floats(f[1]+" "+f[2], 2)
		if err != nil {
			return nil, fmt.Errorf("svr: range file line %d: %w", i+3+n, err)
		}
		for len(s.Min) < idx {
			s.Min, s.Max, s.known = append(s.Min, 0), append(s.Max, 0), append(s.known, false)
		}
		s.Min[idx-1], s.Max[idx-1], s.known[idx-1] = v[0], v[1], true
	}
	return s, nil
}

func floats(line string, n int) ([]float64, error) {
	f := strings.Fields(line)
	if len(f) != n {
		return nil, fmt.Errorf("want %d numbers, got %q", n, line)
	}
	v := make([]float64, n)
	for i, s := range f {
		var err error
		if v[i], err = strconv.ParseFloat(s, 64); err != nil {
			return nil, err
		}
	}
	return v, nil
}
