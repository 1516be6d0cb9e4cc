package main

import (
	"strings"
	"testing"
)

// One small in-process run: every measurement is printed, and the tables run with and without the
// tensor cache both finish (the ratio itself is a measurement, never asserted).
func TestFeedBenchInProcess(t *testing.T) {
	out, stderr, err := runCLI(t, "feed-bench", "--in-process", "--images", "20", "--source-px", "64", "--size", "32", "--models", "2", "--batch", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"tensor, in the request", "tensor, from the cache", "wire bytes/img",
		"preprocessing alone, one worker:", "agiqa tables, 2 models sharing 32 resize:", "client cores to keep a server at 2000 images/s busy"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFeedBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--images", "0"}, {"--models", "0"}, {"--method", "native"}, {"--input", "png"}, {"--target", "0"},
	} {
		if _, _, err := runCLI(t, append([]string{"feed-bench"}, args...)...); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: error %v, want one naming %s", args, err, args[0])
		}
	}
}

// The tables feed flags are checked before anything runs.
func TestTablesFeedFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"--shared-memory", "posix"}, {"--tensor-cache-mb", "-1"}} {
		if _, _, err := runCLI(t, append([]string{"tables"}, args...)...); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: error %v, want one naming %s", args, err, args[0])
		}
	}
	if !serversLocal(nil) || !serversLocal([]string{"127.0.0.1:8001,localhost:8002", "[::1]:1"}) || serversLocal([]string{"10.0.0.2:8001"}) {
		t.Error("serversLocal misjudges loopback and remote addresses")
	}
}
