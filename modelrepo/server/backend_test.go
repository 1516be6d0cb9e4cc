package server

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// servertest.scaled reads its one parameter from the version folder, as an
// SVR model reads model.svr: Y = k * X.
func init() {
	native.RegisterLoader("servertest.scaled", func(_ context.Context, files fs.FS) (native.Func, error) {
		data, err := fs.ReadFile(files, "params/scale.txt")
		if err != nil {
			return nil, err
		}
		k, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 32)
		if err != nil {
			return nil, fmt.Errorf("params/scale.txt: %w", err)
		}
		return func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			x, _ := native.TensorByName(in, "X")
			v, err := x.Float32s()
			if err != nil {
				return nil, err
			}
			for i := range v {
				v[i] *= float32(k)
			}
			y, err := tensor.NewFP32("Y", x.Shape, v)
			return []*tensor.Tensor{y}, err
		}, nil
	})
}

const scaledConfig = `backend: "native"
max_batch_size: 4
input { name: "X" data_type: TYPE_FP32 dims: [ 2 ] }
output { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] }
version_policy { all {} }
parameters { key: "native.function" value { string_value: "servertest.scaled" } }
`

// scaledFiles: version 1 scales by 2, version 2 by 3, version 3 lacks its file, version 4 has a bad one.
var scaledFiles = map[string]string{
	"scaled/config.pbtxt":          scaledConfig,
	"scaled/1/params/scale.txt":    "2\n",
	"scaled/2/params/scale.txt":    "3",
	"scaled/3/README":              "no parameters",
	"scaled/4/params/scale.txt":    "three",
	"named/config.pbtxt":           strings.Replace(scaledConfig, "servertest.scaled", "servertest.nothing", 1),
	"named/1/" + NativeFile:        "# model.native wins over the parameter\nservertest.scaled\n",
	"named/1/params/scale.txt":     "5",
	"plain/config.pbtxt":           strings.Replace(scaledConfig, "servertest.scaled", "servertest.echo", 1),
	"plain/1/" + NativeFile + ".x": "a version folder needs a file",
}

// The two repositories a native model is served from: an OS folder and an
// embedded file system. Both must give each version its own files.
func scaledRepos(t *testing.T) map[string]*modelrepo.Repository {
	dir := t.TempDir()
	mfs := fstest.MapFS{}
	for p, content := range scaledFiles {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(p)), content)
		mfs[p] = &fstest.MapFile{Data: []byte(content)}
	}
	osRepo, err := modelrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := modelrepo.OpenFS(mfs, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*modelrepo.Repository{"os": osRepo, "embedded": embedded}
}

func runScaled(t *testing.T, inst Instance) []float32 {
	t.Helper()
	x, _ := tensor.NewFP32("X", []int64{1, 2}, []float32{1, 10})
	out, err := inst.Execute(context.Background(), []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	y, err := out[0].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func TestNativeLoaderReadsEachVersionFolder(t *testing.T) {
	for kind, repo := range scaledRepos(t) {
		m := repo.Model("scaled")
		if m == nil {
			t.Fatalf("%s: no model scaled: %v", kind, repo.Errors)
		}
		for v, k := range map[int64]float32{1: 2, 2: 3} {
			inst, err := NativeBackend{}.Load(context.Background(), m, v)
			if err != nil {
				t.Fatalf("%s version %d: %v", kind, v, err)
			}
			if y := runScaled(t, inst); y[0] != k || y[1] != 10*k {
				t.Errorf("%s version %d: Y = %v, want scale %g", kind, v, y, k)
			}
		}
		named := repo.Model("named")
		inst, err := NativeBackend{}.Load(context.Background(), named, 1)
		if err != nil {
			t.Fatalf("%s: model.native naming a loader: %v", kind, err)
		}
		if y := runScaled(t, inst); y[0] != 5 {
			t.Errorf("%s: named model Y = %v, want scale 5", kind, y)
		}
		if err := (NativeBackend{}).Check(context.Background(), repo.Model("plain"), 1); err != nil {
			t.Errorf("%s: stateless function: %v", kind, err)
		}
	}
}

// Errors name the model, the version, the function and the file.
func TestNativeLoaderErrorsNameModelVersionFile(t *testing.T) {
	for kind, repo := range scaledRepos(t) {
		m := repo.Model("scaled")
		for v, want := range map[int64][]string{
			3: {`model "scaled" version 3`, `native loader "servertest.scaled"`, "open params/scale.txt"},
			4: {`model "scaled" version 4`, `native loader "servertest.scaled"`, "params/scale.txt:", `"three"`},
			9: {`model "scaled" has no version 9`},
		} {
			err := NativeBackend{}.Check(context.Background(), m, v)
			if err == nil {
				t.Errorf("%s version %d: no error", kind, v)
				continue
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s version %d: error %q lacks %q", kind, v, err, w)
				}
			}
		}
	}
}

// The embedded repository's version folder behaves as a file system should
// (open, read, stat, list the folder itself), as testing/fstest checks it.
func TestVersionFSOfEmbeddedRepository(t *testing.T) {
	repo := scaledRepos(t)["embedded"]
	m := repo.Model("named")
	files, err := VersionFS(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files.(repoVersionFS); !ok {
		t.Fatalf("embedded repository gave %T", files)
	}
	entries, err := fs.ReadDir(files, ".")
	if err != nil || len(entries) != 2 || entries[0].Name() != NativeFile || !entries[1].IsDir() {
		t.Fatalf("ReadDir(.) = %v, %v", entries, err)
	}
	if data, err := fs.ReadFile(files, "params/scale.txt"); err != nil || string(data) != "5" {
		t.Errorf("params/scale.txt = %q, %v", data, err)
	}
	// fstest walks every listed folder; this version's only listable one is ".", so check a flat version.
	flat, err := VersionFS(repo.Model("plain"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(flat, NativeFile+".x"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"../named/1/" + NativeFile, "/etc/passwd", "nope"} {
		if _, err := files.Open(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Open(%q): error %v does not name it", bad, err)
		}
	}
}
