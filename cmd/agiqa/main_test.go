package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestMain points the agiqa cache (where the sample dataset and, by
// default, predictions go) at a fresh folder, so that tests neither read
// nor write the user's cache; a test that needs its own sets AGIQA_CACHE.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agiqa-cmd-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("AGIQA_CACHE", dir)
	os.Setenv(EnvOffline, "1") // the tests never download; the goldens show the offline rows
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// checkGolden compares got with testdata/<name>.golden, or rewrites it with -update.
// The test cache folder (TestMain's AGIQA_CACHE, named in messages) reads as $AGIQA_CACHE.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = bytes.ReplaceAll(got, []byte(os.Getenv("AGIQA_CACHE")), []byte("$AGIQA_CACHE"))
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

// Flags may follow positional arguments; "--" ends the flags.
func TestParseFlagsInterspersed(t *testing.T) {
	var stderr bytes.Buffer
	fs := newFlags(cmdIO{stdout: &stderr, stderr: &stderr}, "x", "Usage: x\n\nExample:\n  x")
	pad := fs.Bool("pad", false, "")
	n := fs.Int("n", 0, "")
	if err := parseFlags(fs, []string{"a", "--pad", "b", "-n", "3", "-", "--", "--n", "c"}); err != nil {
		t.Fatal(err)
	}
	if !*pad || *n != 3 {
		t.Errorf("pad %v n %d: flags after a positional argument were not parsed", *pad, *n)
	}
	if got, want := strings.Join(fs.Args(), "|"), "a|b|-|--n|c"; got != want {
		t.Errorf("Args() = %q, want %q", got, want)
	}
	var ue *usageError
	if err := parseFlags(fs, []string{"a", "--bogus"}); !errors.As(err, &ue) || !strings.Contains(err.Error(), "-bogus") {
		t.Errorf("unknown flag after an argument: %v, want a usage error naming it", err)
	}
}

// Commands without positional arguments refuse them instead of ignoring them.
func TestStrayArgumentsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"version", "extra"},
		{"serve", "--addr", "127.0.0.1:0", "extra"},
		{"models", "--server", "127.0.0.1:1", "extra"},
		{"infer", "--server", "127.0.0.1:1", "--model", "m", "--image", "a.jpg", "b.jpg"},
		{"eval", "--dataset", "csv", "--labels", "l.csv", "--predictions", "p.csv", "extra"},
	} {
		_, _, err := runCLI(t, args...)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), `unexpected arguments ["`) {
			t.Errorf("%q: %v, want a usage error about the unexpected argument", args, err)
		}
	}
}

// 'agiqa repo --help' shows the flags of its only subcommand, check.
func TestRepoHelpShowsCheckFlags(t *testing.T) {
	_, stderr, err := runCLI(t, "repo", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "-require-ort") {
		t.Errorf("repo --help lists no flags of repo check:\n%s", stderr)
	}
}
