package matfile

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

const python = "/usr/bin/python3"

type refVar struct {
	Class  string            `json:"class"`
	Dims   []int             `json:"dims"`
	Data   []float64         `json:"data"`
	Text   string            `json:"text"`
	Fields map[string]refVar `json:"fields"`
	Cells  []refVar          `json:"cells"`
}

var classOf = map[string]Class{"float64": Double, "float32": Single, "int8": Int8, "uint8": Uint8, "int16": Int16,
	"uint16": Uint16, "int32": Int32, "uint32": Uint32, "int64": Int64, "uint64": Uint64, "bool": Uint8,
	"char": Char, "sparse": Sparse, "struct": Struct, "cell": Cell}

// scipyRef runs testdata/gen_mats.py (scipy.io.savemat writes the test files, scipy.io.loadmat reads
// them and the extra files back as the reference).
func scipyRef(t *testing.T, extra ...string) (string, map[string]map[string]refVar) {
	t.Helper()
	if err := exec.Command(python, "-c", "import scipy.io").Run(); err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "%s has no scipy (Debian python3-scipy): %v", python, err)
	}
	dir := t.TempDir()
	out, err := exec.Command(python, append([]string{filepath.Join("testdata", "gen_mats.py"), dir}, extra...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gen_mats.py: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]map[string]refVar
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	return dir, ref
}

func readFile(t *testing.T, path string) map[string]*Array {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := Read(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func compare(t *testing.T, where string, got *Array, want refVar) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: missing", where)
		return
	}
	if c := classOf[want.Class]; got.Class != c || (want.Class == "bool") != got.Logical {
		t.Errorf("%s: class %v (logical %v), scipy %s", where, got.Class, got.Logical, want.Class)
	}
	if !equalDims(got.Dims, want.Dims) {
		t.Errorf("%s: dims %v, scipy %v", where, got.Dims, want.Dims)
	}
	switch want.Class {
	case "struct":
		for name, w := range want.Fields {
			f, err := got.Field(name)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			compare(t, where+"."+name, f, w)
		}
	case "cell":
		if len(got.Cells) != len(want.Cells) {
			t.Errorf("%s: %d cells, scipy %d", where, len(got.Cells), len(want.Cells))
			return
		}
		for i := range want.Cells {
			compare(t, where+"{}", got.Cells[i], want.Cells[i])
		}
	case "char":
		if s, err := got.String(); err != nil || s != want.Text {
			t.Errorf("%s: text %q (%v), scipy %q", where, s, err, want.Text)
		}
	default:
		if len(got.Data) != len(want.Data) {
			t.Errorf("%s: %d values, scipy %d", where, len(got.Data), len(want.Data))
			return
		}
		for i := range want.Data {
			if got.Data[i] != want.Data[i] { // exact: both are the stored values widened to float64
				t.Errorf("%s[%d] = %v, scipy %v", where, i, got.Data[i], want.Data[i])
				return
			}
		}
	}
}

func equalDims(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReadMatchesScipy reads every class the package supports, plain and compressed, and the
// shared NIQE and CEIQ parameter files, against scipy.io.loadmat.
func TestReadMatchesScipy(t *testing.T) {
	niqe := testenv.Shared(t, "data", "niqe", "modelparameters.mat")
	ceiq := testenv.Shared(t, "data", "ceiq", "model.mat")
	dir, ref := scipyRef(t, niqe, ceiq)
	for name, vars := range ref {
		path := name
		if !filepath.IsAbs(name) && !strings.Contains(name, string(filepath.Separator)) {
			path = filepath.Join(dir, name)
		}
		got := readFile(t, path)
		if len(got) != len(vars) {
			t.Errorf("%s: %d variables, scipy %d", filepath.Base(name), len(got), len(vars))
		}
		for v, want := range vars {
			compare(t, filepath.Base(name)+":"+v, got[v], want)
		}
	}
	m := readFile(t, ceiq)["model"]
	svs, err := m.Field("SVs")
	if err != nil || svs.Class != Sparse || svs.At(0, 0) != 0.705596 {
		t.Errorf("CEIQ model.SVs: class %v, SVs(1,1) %v (%v); want sparse, 0.705596", svs.Class, svs.At(0, 0), err)
	}
}

func TestReadErrors(t *testing.T) {
	header := func(text string, version uint16, endian string) []byte {
		h := make([]byte, 128)
		copy(h, text)
		h[124], h[125] = byte(version), byte(version>>8)
		copy(h[126:], endian)
		return h
	}
	hdf5 := append([]byte("\x89HDF\r\n\x1a\n"), make([]byte, 200)...)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"v7.3 header", header("MATLAB 7.3 MAT-file", 0x0200, "IM"), "7.3"},
		{"bare HDF5", hdf5, "HDF5"},
		{"v4", make([]byte, 200), "version 4"},
		{"short", []byte("MATLAB"), "too short"},
		{"bad endian", header("MATLAB 5.0 MAT-file", 0x0100, "XX"), "endian"},
		{"truncated element", append(header("MATLAB 5.0 MAT-file", 0x0100, "IM"), 14, 0, 0, 0, 200, 0, 0, 0), "claims 200 bytes"},
	}
	for _, c := range cases {
		_, err := Read(bytes.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}
