//go:build cgo && !noturbojpeg

package preprocess

import (
	"reflect"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

func TestTurboCandidates(t *testing.T) {
	if got := turboCandidates(""); !reflect.DeepEqual(got, []string{"libturbojpeg.so.0", "libturbojpeg.so"}) {
		t.Errorf("turboCandidates(\"\") = %q", got)
	}
	if got := turboCandidates("/opt/tj/libturbojpeg.so.0"); !reflect.DeepEqual(got, []string{"/opt/tj/libturbojpeg.so.0"}) {
		t.Errorf("an override must be the only candidate, got %q", got)
	}
}

// The loader is tested with explicit paths, leaving the process-wide library alone.
func TestLoadTurboFromErrors(t *testing.T) {
	cases := []struct {
		name  string
		paths []string
		want  []string // substrings of the error
	}{
		{"missing files", []string{"/nonexistent/a/libturbojpeg.so.0", "/nonexistent/b/libturbojpeg.so"},
			[]string{"/nonexistent/a/libturbojpeg.so.0: ", "; /nonexistent/b/libturbojpeg.so: ", "No such file"}},
		{"not a shared library", []string{"testdata/c420.jpg"}, []string{"testdata/c420.jpg: "}},
		// libc loads but lacks the TurboJPEG API: the first missing function is named.
		{"library without the API", []string{"libc.so.6"}, []string{"libc.so.6: ", "tjInitDecompress"}},
		{"no candidates", nil, []string{"cannot load libjpeg-turbo"}},
	}
	for _, c := range cases {
		api, err := loadTurboFrom(c.paths)
		if err == nil {
			unloadTurbo(api)
			t.Errorf("%s: loaded %q", c.name, c.paths)
			continue
		}
		if api != nil {
			t.Errorf("%s: non-nil API with error %v", c.name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
}

func TestLoadTurboFromFallsThrough(t *testing.T) {
	if !TurboAvailable() {
		testenv.SkipOrFail(t, requireTurboEnv, "libjpeg-turbo not available: %s", TurboUnavailableReason())
	}
	// A bad first candidate is skipped for the next one that loads.
	api, err := loadTurboFrom(append([]string{"/nonexistent/libturbojpeg.so.0"}, defaultTurboLibs...))
	if err != nil {
		t.Fatalf("loadTurboFrom: %v", err)
	}
	unloadTurbo(api)
}
