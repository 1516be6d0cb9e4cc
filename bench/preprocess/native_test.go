package preprocess

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MethodNative hands over the decoded pixels at the image's own size, only
// reordered channel-first: checked against Pillow's decode of every decode
// fixture (the .rgb files, packed RGB), on every path that gives exact pixels.
func TestNativeIsPillowsDecodeChannelFirst(t *testing.T) {
	f := loadFixtures(t)
	for _, c := range f.Decode {
		isJPEG := strings.HasSuffix(c.File, ".jpg") && c.File != "png_named.jpg"
		if isJPEG && !(Decoder{}).UsesTurbo() {
			continue // pure-Go JPEG is within pureGoJPEGTolerance of Pillow, tested in TestDecodeMatchesPillow
		}
		packed := readRaw(t, c.Pixels, 3*c.W*c.H)
		data, err := os.ReadFile(filepath.Join("testdata", c.File))
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeCHW(data, c.File, 0, MethodNative)
		if err != nil {
			t.Errorf("%s: %v", c.File, err)
			continue
		}
		if got.W != c.W || got.H != c.H || len(got.Pix) != 3*c.W*c.H {
			t.Errorf("%s: native %dx%d with %d bytes, want %dx%d", c.File, got.W, got.H, len(got.Pix), c.W, c.H)
			continue
		}
		plane := c.W * c.H
		for i := 0; i < plane; i++ {
			for k := 0; k < 3; k++ {
				if got.Pix[k*plane+i] != packed[3*i+k] {
					t.Fatalf("%s: pixel %d channel %d is %d, Pillow %d", c.File, i, k, got.Pix[k*plane+i], packed[3*i+k])
				}
			}
		}
	}
}

// A resize method through ToCHW is ToTensor's result, square.
func TestToCHWResizeIsToTensor(t *testing.T) {
	img := NewRGB(37, 21)
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	want, err := ToTensor(img, 16, MethodResizeCenterCrop)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ToCHW(img, 16, MethodResizeCenterCrop)
	if err != nil || got.H != 16 || got.W != 16 || !bytes.Equal(got.Pix, want) {
		t.Errorf("ToCHW = %dx%d, %v; want ToTensor's 16x16", got.W, got.H, err)
	}
}

func TestNativeRefusesAFixedSize(t *testing.T) {
	if _, err := ToCHW(NewRGB(4, 3), 8, MethodNative); err == nil || !strings.Contains(err.Error(), "own size") {
		t.Errorf("native with size 8: err = %v", err)
	}
	if _, err := ToTensor(NewRGB(4, 3), 8, MethodNative); err == nil {
		t.Error("ToTensor with MethodNative: no error")
	}
	if m, err := ParseMethod("native"); err != nil || m != MethodNative || m.String() != "native" {
		t.Errorf("ParseMethod(native) = %v, %v", m, err)
	}
}

// The pixel limit holds without a resize too: a PNG header claiming
// 20000 x 20000 is refused before any pixel buffer is allocated.
func TestNativeKeepsThePixelLimit(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 20000)
	binary.BigEndian.PutUint32(ihdr[4:], 20000)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	_, err := DecodeCHW(b.Bytes(), "huge.png", 0, MethodNative)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "huge.png") || !strings.Contains(err.Error(), "20000x20000") {
		t.Errorf("err = %v, want ErrTooLarge naming huge.png and its size", err)
	}
}
