package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
)

// writeOutput writes a finished run's output file whole (atomically). After a run that stopped
// (runErr set) the file is left as it was, so a good earlier table is never replaced by part of
// one; the partial output goes to path + ".partial" and the returned error says so. A finished
// run removes the .partial an earlier stopped run left.
func writeOutput(flag, path string, data []byte, runErr error) error {
	partial := path + ".partial"
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		runErr = nil // /dev/stdout, a FIFO: nothing to keep, and no place beside it for a .partial
	}
	if runErr != nil {
		if err := atomicfile.WriteFile(partial, data); err != nil {
			return fmt.Errorf("%s %s left as it was (the run did not complete); the partial output could not be written to %s: %w",
				flag, path, partial, err)
		}
		return fmt.Errorf("%s %s left as it was (the run did not complete); the partial output is in %s", flag, path, partial)
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if st, err := os.Lstat(partial); err == nil && st.Mode().IsRegular() {
		if err := os.Remove(partial); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: remove the stale %s: %w", flag, partial, err)
		}
	}
	return nil
}

// writeOutputJSON is writeOutput for an indented JSON document.
func writeOutputJSON(flag, path string, v any, runErr error) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return writeOutput(flag, path, append(b, '\n'), runErr)
}

// retriesOption maps --retries to runner.Options.Retries, whose zero value means its default:
// --retries 0 means no retry.
func retriesOption(n int) int {
	if n == 0 {
		return runner.NoRetries
	}
	return n
}
