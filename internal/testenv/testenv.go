// Package testenv holds what the project's tests share: finding optional inputs (the module root, the
// ../shared folder beside it with label files, CLIP vocabulary and paper text), the rule that a test
// whose dependency is missing skips, unless CI asks for it with AGIQA_REQUIRE_*=1, when it fails so
// that a broken setup cannot pass by skipping (scripts/test.sh sets them), and golden-file checks.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The environment variables that make a missing dependency a failure when set to "1".
const (
	RequireShared = "AGIQA_REQUIRE_SHARED"
	RequirePython = "AGIQA_REQUIRE_PYTHON"
	RequireORT    = "AGIQA_REQUIRE_ORT"
)

// SkipOrFail skips tb with the formatted reason, or fails it when the environment variable env is "1".
func SkipOrFail(tb testing.TB, env, format string, args ...any) {
	tb.Helper()
	if os.Getenv(env) == "1" {
		tb.Fatalf(format+" ($"+env+"=1 requires it)", args...)
	}
	tb.Skipf(format, args...)
}

// ModuleRoot returns the folder holding go.mod at or above the working directory (the test's package
// folder); it fails tb when there is none.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod at or above the test's folder")
		}
		dir = parent
	}
}

// Shared returns the path of rel inside ../shared next to the module root; when that path does not
// exist it skips tb (or fails it under AGIQA_REQUIRE_SHARED=1), naming the path.
func Shared(tb testing.TB, rel ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{ModuleRoot(tb), "..", "shared"}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		SkipOrFail(tb, RequireShared, "%s is not available on this machine: %v", filepath.Join(append([]string{"../shared"}, rel...)...), err)
	}
	return p
}

// Golden compares got with testdata/<name>.golden under the test's package folder; with update set
// (each package's -update flag) it writes got there instead.
func Golden(tb testing.TB, name string, got []byte, update bool) {
	tb.Helper()
	path := filepath.Join("testdata", name+".golden")
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden file %s: %v (run the package's tests with -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("output differs from %s (run with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// Python is the interpreter tests drive: $AGIQA_PYTHON, else Debian's /usr/bin/python3 (the one with
// torch, numpy and onnx here), else python3 on PATH; without one it skips tb, or fails it under
// AGIQA_REQUIRE_PYTHON=1, saying what it was needed for (purpose).
func Python(tb testing.TB, purpose string) string {
	tb.Helper()
	if p := os.Getenv("AGIQA_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		SkipOrFail(tb, RequirePython, "no python3 %s: %v", purpose, err)
	}
	return p
}
