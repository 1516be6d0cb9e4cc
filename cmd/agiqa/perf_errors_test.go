package main

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/perf"
)

// perf.Run names Config fields in its errors; the CLI names the flags that
// set them. The golden file holds refusals only Run can make (they need
// the model's config), as the user sees them.
func TestPerfLibraryErrorsNameFlags(t *testing.T) {
	repo := perfRepo(t)
	port := regexp.MustCompile(`127\.0\.0\.1:\d+`)
	var b strings.Builder
	for _, args := range [][]string{
		{"--model", "sum", "--batch", "1,16"},
		{"--model", "sum", "--shape", "Z:1"},
		{"--model", "sum", "--shape", "X:5"},
		{"--model", "sum", "--shape", "X:4,1"},
	} {
		args = append([]string{"perf", "-q", "--repo", repo}, args...)
		_, _, err := runCLI(t, args...)
		if err == nil {
			t.Fatalf("%q: no error", args)
		}
		msg := port.ReplaceAllString(err.Error(), "127.0.0.1:PORT")
		if strings.Contains(msg, "Config.") {
			t.Errorf("%q: %s names a Go field, not the flag", args, msg)
		}
		b.WriteString("$ agiqa " + strings.ReplaceAll(strings.Join(args, " "), repo, "$REPO") + "\n" + msg + "\n")
	}
	checkGolden(t, "perf_library_errors", []byte(b.String()))
}

// Every Config field the user can set has its flag; the others are set by
// the CLI itself.
func TestPerfFlagForEveryConfigField(t *testing.T) {
	notFlags := []string{"ScrapeInterval", "DialOptions", "Logf", "Progress"}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[perf.Config]()) {
		name, ok := perfFlagNames[f.Name]
		switch {
		case slices.Contains(notFlags, f.Name):
			if ok {
				t.Errorf("Config.%s is not a flag but is mapped to %s", f.Name, name)
			}
		case !ok:
			t.Errorf("Config.%s has no flag in perfFlagNames: its errors would name the Go field", f.Name)
		}
	}
	fe := &perf.FieldError{Field: "Warmup", Value: "-1", Reason: "must be >= 0"}
	if got := perfFlagError(fe, perf.Config{}).Error(); got != "--warmup -1: must be >= 0" {
		t.Errorf("perfFlagError(%v) = %q", fe, got)
	}
}
