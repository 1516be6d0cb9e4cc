package preprocess

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// bombPNG is a PNG declaring w x h 8-bit RGB pixels with one byte of them.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	for _, c := range [][]byte{append([]byte("IHDR"), ihdr...), []byte("IDAT\x78\x9c\x63\x00\x00\x00\x01\x00\x01"), []byte("IEND")} {
		binary.Write(&b, binary.BigEndian, uint32(len(c)-4))
		b.Write(c)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	return b.Bytes()
}

// bombJPEG is a real 8x8 JPEG whose frame header is rewritten to declare w x h.
func bombJPEG(t testing.TB, w, h uint16) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	i := bytes.Index(data, []byte{0xFF, 0xC0})
	binary.BigEndian.PutUint16(data[i+5:], h)
	binary.BigEndian.PutUint16(data[i+7:], w)
	return data
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// One limit, one message: every path to the pixels (ReadFile's header check, Decode with
// libjpeg-turbo, pure Go, PNG) refuses an image declaring more than Limits.MaxPixels with an
// error naming the image, its declared size and the limit, and matching ErrTooLarge.
func TestPixelLimitIsOneCheckEverywhere(t *testing.T) {
	images := map[string][]byte{"bomb.png": bombPNG(100000, 100000), "bomb.jpg": bombJPEG(t, 65000, 65000)}
	for name, data := range images {
		path := writeTemp(t, name, data)
		w := map[bool]string{true: "100000x100000", false: "65000x65000"}[strings.HasSuffix(name, ".png")]
		check := func(how string, err error, limit string) {
			t.Helper()
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%s %s: err = %v, want ErrTooLarge", how, name, err)
			}
			for _, want := range []string{path, w, "limit of " + limit + " pixels", "--max-pixels"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %q does not say %q", how, err, want)
				}
			}
		}
		_, err := ReadFile(context.Background(), path)
		check("ReadFile", err, "178956970")
		for _, pure := range []bool{false, true} {
			_, err := Decoder{PureGoJPEG: pure}.Decode(data, path)
			check("Decode", err, "178956970")
		}
		_, err = LoadTensor(path, 8, MethodResize)
		check("LoadTensor", err, "178956970")
	}
	// A lower limit is honoured by a Decoder and, once set, by the package-level functions.
	small := writeTemp(t, "small.png", encodePNG(t, 40, 30))
	d := Decoder{Limits: Limits{MaxPixels: 1199}}
	if _, err := d.DecodeFile(small); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit of 1199 pixels") {
		t.Errorf("40x30 under a limit of 1199: %v", err)
	}
	if _, err := (Decoder{Limits: Limits{MaxPixels: 1200}}).DecodeFile(small); err != nil {
		t.Errorf("40x30 under a limit of 1200: %v", err)
	}
	if err := SetDefaultLimits(Limits{MaxPixels: 1199}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { SetDefaultLimits(Limits{}) })
	if _, err := DecodeFile(small); !errors.Is(err, ErrTooLarge) {
		t.Errorf("default limit 1199: %v", err)
	}
	if err := SetDefaultLimits(Limits{MaxPixels: -5}); err == nil || DefaultLimits().MaxPixels != 1199 {
		t.Errorf("a negative limit: err %v, limit now %d", err, DefaultLimits().MaxPixels)
	}
	SetDefaultLimits(Limits{})
	if DefaultLimits().MaxPixels != DefaultMaxPixels {
		t.Errorf("zero limits did not restore the default: %d", DefaultLimits().MaxPixels)
	}
}

func encodePNG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ParseHeader agrees with the standard library's DecodeConfig on every decode fixture.
func TestParseHeaderMatchesDecodeConfig(t *testing.T) {
	for _, c := range loadFixtures(t).Decode {
		data, err := os.ReadFile(filepath.Join("testdata", c.File))
		if err != nil {
			t.Fatal(err)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", c.File, err)
		}
		h, err := ParseHeader(data)
		if err != nil || h.Format != format || h.W != cfg.Width || h.H != cfg.Height {
			t.Errorf("%s: ParseHeader = %+v, %v; DecodeConfig %s %dx%d", c.File, h, err, format, cfg.Width, cfg.Height)
		}
	}
}

// A FIFO named like an image blocked open(2) for ever, deaf to SIGINT; a directory, a device, an
// empty file were reported in words that did not say what they were.
func TestReadFileRefusesWhatIsNotAnImageFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.jpg")
	testenv.Mkfifo(t, fifo)
	folder := filepath.Join(dir, ".jpg")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	empty := writeTemp(t, "empty.png", nil)
	for path, says := range map[string]string{
		fifo:                 "is a named pipe (FIFO), not an image file",
		folder:               "is a directory, not an image file",
		testenv.DevFull(t):   "is a character device",
		empty:                "is an empty file (0 bytes)",
		dir + "/missing.jpg": "no such file",
	} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(context.Background(), path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), says) {
				t.Errorf("%s: err = %v, want it named and %q", path, err, says)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadFile(%s) hangs", path)
		}
	}
}

// A file far larger than its header's size can need is refused before it is read into memory.
func TestReadFileRefusesAHugeFileBehindASmallHeader(t *testing.T) {
	path := writeTemp(t, "huge.png", encodePNG(t, 4, 4))
	if err := os.Truncate(path, 1<<30); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	_, err := ReadFile(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "1073741824 bytes, more than a 4x4 image can need") {
		t.Errorf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadFile(ctx, writeTemp(t, "ok.png", encodePNG(t, 4, 4))); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: err = %v", err)
	}
}

// FuzzDecode: no input panics or allocates past the limit; whatever the header declares over the
// limit is ErrTooLarge, and whatever decodes has the size the header declares. Seeds: every decode
// fixture and the bombs above.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.[jp][pn]g"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(bombPNG(100000, 100000))
	f.Add(bombJPEG(f, 65000, 65000))
	f.Add([]byte("\xff\xd8\xff"))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		h, herr := ParseHeader(data)
		for _, pure := range []bool{false, true} {
			img, err := Decoder{PureGoJPEG: pure, Limits: Limits{MaxPixels: limit}}.Decode(data, "fuzz")
			if herr == nil && h.W > 0 && h.H > 0 && int64(h.W)*int64(h.H) > limit && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("header %+v over the limit: err = %v", h, err)
			}
			if err == nil && (herr != nil || img.W != h.W || img.H != h.H || !img.valid()) {
				t.Fatalf("decoded %dx%d (%d bytes); header %+v, %v", img.W, img.H, len(img.Pix), h, herr)
			}
		}
	})
}
