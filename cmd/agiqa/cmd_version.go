package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); otherwise the
// module version recorded by the Go toolchain is used.
var version = ""

func init() {
	register(command{name: "version", summary: "print the agiqa version", run: runVersion})
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func runVersion(_ context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "version", `
Usage: agiqa version

Prints the agiqa version and the Go runtime it was built with.

Example:
  agiqa version`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	fmt.Fprintf(io.stdout, "agiqa %s (%s, %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
