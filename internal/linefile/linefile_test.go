package linefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const header = "{\"key\":1}\n"

// checkDigits accepts the header as line 1 and, after it, lines that are all digits.
func checkDigits(n int, line []byte) error {
	if n == 1 {
		if string(line)+"\n" != header {
			return fmt.Errorf("line 1 is %q, not the key", line)
		}
		return nil
	}
	if len(line) == 0 || strings.Trim(string(line), "0123456789") != "" {
		return fmt.Errorf("line %d: %q is not a number", n, line)
	}
	return nil
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A new file starts with the header; appends follow it; a reopen reads them back.
func TestOpenNewAppendReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	lf, sk, err := Open(path, []byte(header), checkDigits)
	if err != nil || sk.Lines != 0 {
		t.Fatalf("Open: %v, skipped %+v", err, sk)
	}
	if err := lf.Append([]byte("1\n22\n")); err != nil {
		t.Fatal(err)
	}
	if err := lf.Close(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	lf, _, err = Open(path, []byte(header), func(n int, line []byte) error {
		seen = append(seen, string(line))
		return checkDigits(n, line)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if got := strings.Join(seen, "|"); got != `{"key":1}|1|22` {
		t.Errorf("lines read back %q", got)
	}
}

// A torn last line is cut, so the next append starts a line of its own.
func TestOpenCutsTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	os.WriteFile(path, []byte(header+"1\n2"), 0o644)
	lf, sk, err := Open(path, []byte(header), checkDigits)
	if err != nil || sk.Lines != 0 {
		t.Fatalf("Open: %v, skipped %+v", err, sk)
	}
	lf.Append([]byte("3\n"))
	lf.Close()
	if got := read(t, path); got != header+"1\n3\n" {
		t.Errorf("file is %q", got)
	}
}

// A bad line in the middle is skipped (counted, with the first one's number and reason) and
// removed, so the next Open finds none; the good lines around it stay.
func TestOpenSkipsAndRemovesBadLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	os.WriteFile(path, []byte(header+"1\nx{\n2\n\n3\n"), 0o644)
	lf, sk, err := Open(path, []byte(header), checkDigits)
	if err != nil {
		t.Fatal(err)
	}
	if sk.Lines != 2 || sk.FirstLine != 3 || !strings.Contains(sk.FirstWhy, `"x{" is not a number`) {
		t.Errorf("skipped %+v; want 2 lines, first line 3 with its reason", sk)
	}
	lf.Append([]byte("4\n"))
	lf.Close()
	if got := read(t, path); got != header+"1\n2\n3\n4\n" {
		t.Errorf("file is %q", got)
	}
	lf, sk, err = Open(path, []byte(header), checkDigits)
	if err != nil || sk.Lines != 0 {
		t.Errorf("second Open: %v, skipped %+v; want the file clean", err, sk)
	}
	lf.Close()
}

// A wrong line 1 refuses the file and leaves it as it was (and the lock free).
func TestOpenWrongHeaderRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	os.WriteFile(path, []byte("{\"key\":2}\n1\n"), 0o644)
	if _, _, err := Open(path, []byte(header), checkDigits); err == nil || !strings.Contains(err.Error(), "not the key") {
		t.Fatalf("Open: %v", err)
	}
	if got := read(t, path); got != "{\"key\":2}\n1\n" {
		t.Errorf("refused file changed to %q", got)
	}
	if _, _, err := Open(path, []byte(header), checkDigits); err == nil || strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open: %v; want the header error again, not a held lock", err)
	}
}

// A second Open of a file that is open is refused with the holder named, and succeeds after Close.
func TestOpenBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	lf, _, err := Open(path, []byte(header), checkDigits)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Open(path, []byte(header), checkDigits)
	var busy *BusyError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), path+" is in use by pid ") ||
		!strings.Contains(err.Error(), "wait for that run to finish") {
		t.Errorf("second Open: %v; want a BusyError naming the file, the holder and what to do", err)
	}
	lf.Close()
	lf, _, err = Open(path, []byte(header), checkDigits)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	lf.Close()
}

// A directory where the file should be is refused by name, not read.
func TestOpenNotRegular(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl")
	os.Mkdir(path, 0o755)
	if _, _, err := Open(path, []byte(header), checkDigits); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Open of a directory: %v", err)
	}
}
