package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// checkGolden compares got with testdata/<name>.golden, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testenv.Golden(t, name, got, *update)
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(&o, &e, args)
	return o.String(), e.String(), err
}

func TestUnknownCommand(t *testing.T) {
	_, stderr, err := runCLI(t, "frobnicate")
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("err = %v, want unknown command", err)
	}
	if !strings.Contains(stderr, "Commands:") {
		t.Errorf("usage not printed on stderr: %q", stderr)
	}
}

// Every command must answer --help with an example and exit cleanly.
func TestEveryCommandHasHelpWithExample(t *testing.T) {
	for name := range commands {
		t.Run(name, func(t *testing.T) {
			_, stderr, err := runCLI(t, name, "--help")
			if err != nil {
				t.Fatalf("%s --help: %v", name, err)
			}
			if !strings.Contains(stderr, "Example:") {
				t.Errorf("%s --help has no example:\n%s", name, stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, _, err := runCLI(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "agiqa devel (go") {
		t.Errorf("version output %q", out)
	}
}
