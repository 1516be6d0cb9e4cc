package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// WriteFile leaves the old file whole, and no temporary file behind,
// when the new one cannot be put in its place.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.csv")
	if err := WriteFile(p, []byte("old\n")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new\n" {
		t.Errorf("content %q, want new", b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	// A non-empty folder in the way: the rename fails.
	blocked := filepath.Join(dir, "blocked")
	os.MkdirAll(filepath.Join(blocked, "x"), 0o755)
	if err := WriteFile(blocked, []byte("x")); err == nil {
		t.Error("writing over a non-empty folder succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files left in %s: %v, want out.csv and blocked only", dir, names)
	}
	// Through a symbolic link the target is replaced, the link kept.
	link := filepath.Join(t.TempDir(), "link.csv")
	os.Symlink(p, link)
	if err := WriteFile(link, []byte("via link\n")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "via link\n" {
		t.Errorf("target content %q", b)
	}
	var pe *os.PathError
	if err := WriteFile(filepath.Join(dir, "no", "such", "f"), nil); !errors.As(err, &pe) {
		t.Errorf("missing folder: %v", err)
	}
}

// A fill that fails keeps the old content and leaves no temporary file.
func TestWriteFillFailure(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "plot.png")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("encoder failed")
	err := Write(p, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Write = %v, want the fill's error", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("content %q, want the old file whole", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries in %s, want only plot.png", len(ents), dir)
	}
}
