package plot

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func decode(t *testing.T, path string) (w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	b := img.Bounds()
	return b.Dx(), b.Dy()
}

func TestScatterWritesPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.png")
	pred := []float64{0.1, 0.4, 0.35, 0.8, math.NaN()}
	mos := []float64{1.2, 2.0, 2.5, 3.9, 3.0}
	if err := Scatter(path, "ipiqa", pred, mos, "prediction", "MOS"); err != nil {
		t.Fatal(err)
	}
	if w, h := decode(t, path); w != SidePixels || h != SidePixels {
		t.Errorf("PNG is %dx%d, want %dx%d", w, h, SidePixels, SidePixels)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".plot-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestScatterErrors(t *testing.T) {
	dir := t.TempDir()
	if err := Scatter(filepath.Join(dir, "a.png"), "", []float64{1}, []float64{1, 2}, "", ""); err == nil || !strings.Contains(err.Error(), "1 predictions but 2 MOS") {
		t.Errorf("length mismatch error = %v", err)
	}
	if err := Scatter(filepath.Join(dir, "b.png"), "", []float64{math.Inf(1)}, []float64{1}, "", ""); err == nil || !strings.Contains(err.Error(), "no finite") {
		t.Errorf("all non-finite error = %v", err)
	}
	if err := Scatter(filepath.Join(dir, "missing", "c.png"), "", []float64{1}, []float64{1}, "", ""); err == nil || !strings.Contains(err.Error(), "c.png") {
		t.Errorf("missing directory error = %v", err)
	}
}

func TestFileName(t *testing.T) {
	cases := map[[2]string]string{
		{"ipiqa", "agiqa-3k split 3"}:  "ipiqa_agiqa-3k_split_3.png",
		{"resnet50*", ""}:              "resnet50_all.png",
		{"../../etc/passwd", "x"}:      "etc_passwd_x.png",
		{"CLIP IQA", "a/b\\c:d"}:       "CLIP_IQA_a_b_c_d.png",
		{"模型", "试"}:                    "plot.png",
		{"sharpness_laplacian", "all"}: "sharpness_laplacian_all.png",
	}
	for in, want := range cases {
		if got := FileName(in[0], in[1]); got != want {
			t.Errorf("FileName(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}

func TestWriteAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plots")
	pred, mos := []float64{1, 2, 3}, []float64{1.5, 2.5, 2.0}
	paths, err := WriteAll(dir, []Series{
		{Model: "ipiqa", Group: "split 0", Pred: pred, MOS: mos},
		{Model: "ipiqa", Group: "split/0", Pred: pred, MOS: mos}, // same safe name
		{Model: "clipiqa", Pred: pred, MOS: mos},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ipiqa_split_0.png", "ipiqa_split_0-2.png", "clipiqa_all.png"}
	if len(paths) != len(want) {
		t.Fatalf("paths = %v", paths)
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("path %d = %s, want %s", i, p, want[i])
		}
		if w, h := decode(t, p); w != SidePixels || h != SidePixels {
			t.Errorf("%s is %dx%d", p, w, h)
		}
	}
	if _, err := WriteAll(dir, []Series{{Model: "bad", Pred: []float64{1}}}); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("bad series error = %v", err)
	}
}

// os.CreateTemp makes 0600 files and the rename kept that, so plots written for a report or a
// shared volume were unreadable to anyone but the writer.
func TestScatterFileIsWorldReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	if err := Scatter(path, "m", []float64{1, 2}, []float64{2, 1}, "", ""); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o644 {
		t.Errorf("%s has mode %v, want -rw-r--r--", path, mode)
	}
}

// Names that differ only in case are one file on case-insensitive file systems (macOS, Windows,
// many Docker volume mounts there), where the second plot replaced the first.
func TestWriteAllNamesDifferBeyondCase(t *testing.T) {
	pred, mos := []float64{1, 2, 3}, []float64{1.5, 2.5, 2.0}
	paths, err := WriteAll(t.TempDir(), []Series{{Model: "IPIQA", Pred: pred, MOS: mos}, {Model: "ipiqa", Pred: pred, MOS: mos}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.EqualFold(paths[0], paths[1]) {
		t.Errorf("paths %s and %s differ only in case", paths[0], paths[1])
	}
}
