package ortbackend

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// python is the interpreter that has onnx (testenv.Python).
func python(t *testing.T) string { return testenv.Python(t, "to generate test ONNX files") }

// writeRepo lays out a repository: models maps a name to its config text and
// the files of its version 1.
func writeRepo(t *testing.T, models map[string]repoModel) *modelrepo.Repository {
	t.Helper()
	dir := t.TempDir()
	for name, m := range models {
		if err := os.MkdirAll(filepath.Join(dir, name, "1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, modelrepo.ConfigFile), []byte(m.config), 0o644); err != nil {
			t.Fatal(err)
		}
		for f, data := range m.files {
			if err := os.WriteFile(filepath.Join(dir, name, "1", f), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	repo, err := modelrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range repo.Errors {
		t.Fatalf("test repository: %v", e)
	}
	return repo
}

type repoModel struct {
	config string
	files  map[string][]byte
}

// serve runs srv on a loopback port and returns a client for it.
func serve(t *testing.T, srv *server.Server) *client.Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.GracefulStop(context.Background()) })
	c, err := client.New(context.Background(), lis.Addr().String(), client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// reasonOf is the RepositoryIndex reason of a model's versions, joined.
func reasonOf(t *testing.T, c *client.Client, model string) string {
	t.Helper()
	idx, err := c.RepositoryIndex(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	var rs []string
	for _, m := range idx {
		if m.GetName() == model {
			rs = append(rs, m.GetReason())
		}
	}
	return strings.Join(rs, " | ")
}

var generated struct {
	sync.Once
	dir string
	err error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if generated.dir != "" {
		_ = os.RemoveAll(generated.dir)
	}
	os.Exit(code)
}

// toyONNX returns the bytes of testdata/make_models.py's toy.onnx, generated
// once per test binary.
func toyONNX(t *testing.T) []byte { return generatedONNX(t, "toy.onnx") }

func generatedONNX(t *testing.T, name string) []byte {
	t.Helper()
	py := python(t)
	generated.Do(func() {
		generated.dir, generated.err = os.MkdirTemp("", "ortbackend-test-")
		if generated.err != nil {
			return
		}
		out, err := exec.Command(py, filepath.Join("testdata", "make_models.py"), generated.dir).CombinedOutput()
		if err != nil {
			generated.err = fmt.Errorf("%s testdata/make_models.py: %v\n%s", py, err, out)
		}
	})
	if generated.err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "cannot generate the test ONNX files (python3 with the onnx package): %v", generated.err)
	}
	data, err := os.ReadFile(filepath.Join(generated.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
