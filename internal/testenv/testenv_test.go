package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModuleRootHoldsGoMod(t *testing.T) {
	root := ModuleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("ModuleRoot %s: %v", root, err)
	}
	// This package lives in internal/testenv, two levels below the root.
	wd, _ := os.Getwd()
	if want := filepath.Dir(filepath.Dir(wd)); root != want {
		t.Errorf("ModuleRoot = %s, want %s", root, want)
	}
}

// A missing path skips (the subtest is marked skipped, not failed) unless AGIQA_REQUIRE_SHARED=1.
func TestSharedMissingSkips(t *testing.T) {
	t.Setenv(RequireShared, "")
	var got string
	ok := t.Run("missing", func(t *testing.T) {
		got = Shared(t, "no-such-folder-for-testenv")
		t.Error("Shared returned for a missing path")
	})
	if !ok {
		t.Fatal("the subtest failed instead of skipping")
	}
	if got != "" {
		t.Errorf("Shared returned %q", got)
	}
}

// $AGIQA_PYTHON names the interpreter whatever else is installed.
func TestPythonHonoursAGIQAPython(t *testing.T) {
	t.Setenv("AGIQA_PYTHON", "/opt/some/python3.12")
	if got := Python(t, "for this test"); got != "/opt/some/python3.12" {
		t.Errorf("Python = %q, want $AGIQA_PYTHON", got)
	}
}
