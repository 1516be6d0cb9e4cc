package ortbackend

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func touch(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("not really a library"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindLibrary(t *testing.T) {
	dir := t.TempDir()
	name := libraryNames()[0]
	lib := filepath.Join(dir, "env", name)
	touch(t, lib)
	std := filepath.Join(dir, "std")
	touch(t, filepath.Join(std, name))
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, explicit, env string
		dirs                []string
		want                string // "" means an error is expected
		errHas              []string
	}{
		{name: "explicit file wins over env", explicit: lib, env: filepath.Join(std, name), want: lib},
		{name: "explicit folder", explicit: filepath.Dir(lib), want: lib},
		{name: "explicit missing is an error, not a fallback", explicit: filepath.Join(dir, "nope.so"), dirs: []string{std},
			errHas: []string{filepath.Join(dir, "nope.so")}},
		{name: "env file", env: lib, dirs: []string{std}, want: lib},
		{name: "env folder without the library", env: empty, dirs: []string{std},
			errHas: []string{EnvLibrary, empty, name}},
		{name: "first standard dir that has it", dirs: []string{empty, std}, want: filepath.Join(std, name)},
		{name: "nowhere lists what was tried", dirs: []string{empty},
			errHas: []string{filepath.Join(empty, name), EnvLibrary, "install-ort.sh"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := findLibrary(c.explicit, c.env, c.dirs)
			if c.want != "" {
				if err != nil || got != c.want {
					t.Fatalf("findLibrary = %q, %v; want %q", got, err, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("findLibrary = %q, want an error", got)
			}
			for _, s := range c.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
	if _, err := findLibrary("", "", []string{empty}); !errors.Is(err, ErrLibraryNotFound) {
		t.Errorf("not found error %v does not wrap ErrLibraryNotFound", err)
	}
}

func TestLibraryPathHonoursEnv(t *testing.T) {
	lib := filepath.Join(t.TempDir(), libraryNames()[0])
	touch(t, lib)
	t.Setenv(EnvLibrary, lib)
	got, err := LibraryPath("")
	if err != nil || got != lib {
		t.Fatalf("LibraryPath with $%s = %q, %v; want %q", EnvLibrary, got, err, lib)
	}
}
