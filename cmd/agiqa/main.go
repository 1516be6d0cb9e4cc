// Command agiqa serves, evaluates and benchmarks AI-generated-image quality
// assessment models over Triton's gRPC protocol.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// cmdIO carries a command's output streams, so tests can capture them.
type cmdIO struct {
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io cmdIO, args []string) error
}

var commands = map[string]command{}

// register adds a subcommand; each lives in its own cmd_<name>.go file.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("agiqa: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errHelpShown means the usage text was printed on request: exit 0.
var errHelpShown = errors.New("help shown")

// errUsage marks errors in how a command was invoked (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// newFlags returns a flag set that reports to stderr and prints usage (which
// should end with an "Example:" line) followed by the flag defaults.
func newFlags(io cmdIO, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("agiqa "+name, flag.ContinueOnError)
	fs.SetOutput(io.stderr)
	fs.Usage = func() {
		fmt.Fprintln(io.stderr, strings.TrimSpace(usage))
		fmt.Fprintln(io.stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps -h/--help to errHelpShown. Flags may come
// after positional arguments ("repo check DIR --require-ort"): Go's flag
// package would stop at DIR and hand "--require-ort" over as a second
// argument. "--" still ends the flags; what follows it is positional.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return errHelpShown
		}
		if err != nil {
			return &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if n := len(args) - len(rest); len(rest) == 0 || (n > 0 && args[n-1] == "--") {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	// Leave fs.Args() holding every positional argument, in order.
	return fs.Parse(append([]string{"--"}, pos...))
}

// noArgs refuses positional arguments for commands that take none, rather
// than ignoring a typo such as "agiqa infer --image a.jpg b.jpg".
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "agiqa: AI-generated image quality assessment on Triton Inference Server")
	fmt.Fprintln(w, "\nUsage: agiqa <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'agiqa <command> --help' for a command's flags and an example.")
}

// run is main without the process: it returns every error, and exits only on
// a second SIGINT or SIGTERM (see notifyContext).
func run(stdout, stderr io.Writer, args []string) error {
	ctx, stop := notifyContext(stderr, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, stdout, stderr, args)
}

// notifyContext is cancelled by the first of sigs, after which commands drain
// (serve finishes in-flight requests, tables and perf stop at the next request).
// A second signal while they do exits at once, with the status a shell gives
// death by that signal (130 for SIGINT, 143 for SIGTERM): draining may wait on
// a stuck client or model for as long as its grace period.
func notifyContext(stderr io.Writer, sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			fmt.Fprintf(stderr, "agiqa: %v: stopping (send it again to exit at once)\n", sig)
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-ch:
			fmt.Fprintf(stderr, "agiqa: second %v: exiting without draining\n", sig)
			code := 128 + 2
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			os.Exit(code)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

func runContext(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		usage(stderr)
		return usagef("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			// 'agiqa help CMD' is 'agiqa CMD --help'.
			return runContext(ctx, stdout, stderr, []string{args[1], "--help"})
		}
		usage(stdout)
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		usage(stderr)
		return usagef("unknown command %q", args[0])
	}
	err := c.run(ctx, cmdIO{stdout: stdout, stderr: stderr}, args[1:])
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

func main() {
	err := run(os.Stdout, os.Stderr, os.Args[1:])
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "agiqa:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}
