package dataset

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// within runs f and fails the test if it has not returned after d: a hang then fails fast instead of
// stalling the package's tests until go test's own timeout.
func within[T any](t *testing.T, d time.Duration, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("%s: still running after %v (hangs)", what, d)
		panic("unreachable")
	}
}

// pngHeader is a PNG declaring w x h 8-bit RGB pixels but holding one byte of them (66 bytes), which
// Go's image.Decode answers by allocating 3*w*h bytes before it finds the data short.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	// An IDAT holding one zlib-compressed filter byte, then IEND: the file the hostile test used.
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte{0})
	zw.Close()
	for _, c := range [][]byte{append([]byte("IDAT"), z.Bytes()...), []byte("IEND")} {
		binary.Write(&b, binary.BigEndian, uint32(len(c)-4))
		b.Write(c)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	return b.Bytes()
}

func oneItem(dir, name string) *Dataset {
	return &Dataset{Name: CSV, ImagesDir: dir, Items: []Item{{Image: name, Path: filepath.Join(dir, name), MOSAlign: math.NaN()}}}
}

// The hostile test's 74-byte PNG declaring 100000 x 100000 pixels killed data --preflight: the
// preflight decoded with image.Decode, without the pixel limit. It is now a failure naming the path,
// the declared size and the limit, found from the header alone.
func TestPreflightRefusesADecompressionBomb(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bomb.png"), pngHeader(100000, 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := within(t, 20*time.Second, "preflight of bomb.png", func() PreflightReport {
		return Preflight(context.Background(), oneItem(dir, "bomb.png"), 1)
	})
	if rep.Bad != 1 || len(rep.Failures) != 1 {
		t.Fatalf("report %+v, want bomb.png bad", rep)
	}
	msg := rep.Failures[0].String()
	for _, want := range []string{filepath.Join(dir, "bomb.png"), "100000x100000", "178956970"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure %q does not name %q", msg, want)
		}
	}
}

// A FIFO named like an image hung the preflight in open(2), deaf to SIGINT; a zero-byte file and a
// folder named like an image got unhelpful messages. Each is now refused at once, saying what it is.
func TestPreflightRefusesWhatIsNotAnImageFile(t *testing.T) {
	dir := t.TempDir()
	testenv.Mkfifo(t, filepath.Join(dir, "pipe.jpg"))
	if err := os.WriteFile(filepath.Join(dir, "empty.jpg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.jpg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, ".jpg"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"pipe.jpg":   "named pipe",
		"empty.jpg":  "empty file (0 bytes)",
		"folder.jpg": "is a directory",
		".jpg":       "is a directory",
	} {
		rep := within(t, 10*time.Second, "preflight of "+name, func() PreflightReport {
			return Preflight(context.Background(), oneItem(dir, name), 1)
		})
		if rep.Bad != 1 || !strings.Contains(rep.Failures[0].Err, want) {
			t.Errorf("%s: report %+v, want a failure saying %q", name, rep, want)
		}
	}
}

// Label files that are not UTF-8 text, or hold a NUL byte, are refused with file and line, the same
// verdict as the training code's reader (modelrepo/python/tests/test_data.py reads the same fixtures).
func TestLabelsMustBeUTF8WithoutNUL(t *testing.T) {
	for _, c := range badTextFixtures(t) {
		_, err := Load(c.Dataset, filepath.Join("testdata", "badtext", c.File), "")
		wantErr(t, err, c.File+":"+itoa(c.Line), c.Says)
	}
}

type badTextCase struct {
	File    string `json:"file"`
	Dataset string `json:"dataset"`
	Line    int    `json:"line"`
	Says    string `json:"says"`
}

// MOS written as a hex float ("0x1p-2" is 0.25 to strconv.ParseFloat) or with Go-only syntax is a
// mistake, not a score.
func TestLabelsRefuseNonDecimalMOS(t *testing.T) {
	for _, v := range []string{"0x1p-2", "0X1P-2", "-0x1.8p1", "0x_1p0", "1_000", "Inf", "+nan"} {
		p := writeFile(t, t.TempDir(), "labels.csv", "image,prompt,mos\na.jpg,a cat,1.5\nb.jpg,a dog,"+v+"\n")
		_, err := Load(CSV, p, "")
		wantErr(t, err, "labels.csv:3", `"`+v+`"`)
	}
	for _, v := range []string{"2", "-1.5", "+.5", "3.", "1e-3", "2.5E+2", " 4.25 "} {
		p := writeFile(t, t.TempDir(), "labels.csv", "image,prompt,mos\na.jpg,a cat,"+v+"\n")
		if _, err := Load(CSV, p, ""); err != nil {
			t.Errorf("mos %q: %v", v, err)
		}
	}
}

// An xlsx whose sheet XML was cut short loaded the rows before the cut, silently.
func TestLoadTruncatedXLSXFails(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full.xlsx")
	rows := [][]any{{"Image", "Prompt", "MOS"}}
	for i := 0; i < 2; i++ {
		for obj := 0; obj < 12; obj++ {
			rows = append(rows, []any{"deepai_" + itoa(obj) + "_" + itoa(i) + "_0_0.jpg", "", 1.5})
		}
	}
	writeXLSX(t, full, rows)
	cut := filepath.Join(dir, "AIGC_MOS_Zscore.xlsx")
	rewriteZip(t, full, cut, func(name string, b []byte) []byte {
		if strings.HasPrefix(name, "xl/worksheets/") {
			return b[:len(b)/2]
		}
		return b
	})
	if ds, err := Load(AGIQA1k, full, ""); err != nil || len(ds.Items) != 24 {
		t.Fatalf("the untruncated workbook: %v", err)
	}
	ds, err := Load(AGIQA1k, cut, "")
	if err == nil {
		t.Fatalf("truncated sheet loaded %d of 24 rows without an error", len(ds.Items))
	}
	wantErr(t, err, "AIGC_MOS_Zscore.xlsx", "sheet")
}

// rewriteZip copies the zip src to dst passing each member through edit.
func rewriteZip(t *testing.T, src, dst string, edit func(string, []byte) []byte) {
	t.Helper()
	r, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, err := w.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(edit(f.Name, b))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// /dev/zero as a label file grew the process to 24 GB; a FIFO hung it. Only regular files are read,
// and no more than the size cap.
func TestLoadRefusesDevicesPipesAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "labels.csv")
	testenv.Mkfifo(t, fifo)
	for _, c := range []struct{ path, says string }{
		{fifo, "named pipe"},
		{testenv.DevFull(t), "character device"},
		{"/dev/zero", "character device"},
		{dir, "is a directory"},
	} {
		err := within(t, 10*time.Second, "Load "+c.path, func() error {
			_, err := Load(CSV, c.path, "")
			return err
		})
		wantErr(t, err, c.path, c.says)
	}
	p := writeFile(t, t.TempDir(), "labels.csv", "image,prompt,mos\n"+strings.Repeat("a.jpg,a cat,1\n", 20))
	_, err := LoadLimited(CSV, p, "", Limits{MaxLabelBytes: 100})
	wantErr(t, err, p, "100 bytes", "--max-label-bytes")
	if _, err := LoadLimited(CSV, p, "", Limits{MaxLabelBytes: -1}); err == nil {
		t.Error("a negative cap was accepted")
	}
	xlsx := filepath.Join(t.TempDir(), "AIGC_MOS_Zscore.xlsx")
	writeXLSX(t, xlsx, [][]any{{"Image", "Prompt", "MOS"}, {"deepai_0_0_0_0.jpg", "", 1}})
	_, err = LoadLimited(AGIQA1k, xlsx, "", Limits{MaxLabelBytes: 1000})
	wantErr(t, err, xlsx, "1000 bytes")
}

func badTextFixtures(t *testing.T) []badTextCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "badtext", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []badTextCase
	if err := json.Unmarshal(b, &cases); err != nil || len(cases) == 0 {
		t.Fatalf("testdata/badtext/cases.json: %v (%d cases)", err, len(cases))
	}
	return cases
}

func itoa(n int) string { return strconv.Itoa(n) }
