package runner

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
)

// tensorDiskMagic starts every tensor file; the version after it changes with the layout.
const (
	tensorDiskMagic   = "AGIQACHW"
	tensorDiskVersion = 1
	tensorHeaderSize  = 8 + 4*5 + sha256.Size + sha256.Size
)

// tensorDisk keeps tensors as files under dir. A file records its key and the fingerprint of the
// preprocessing that made it, and is used only when both match: a tensor decoded by another
// decoder (libjpeg-turbo or pure Go) or an older resize is never served.
type tensorDisk struct {
	dir string

	mu           sync.Mutex
	fingerprints map[tensorHint][sha256.Size]byte // by (method, size); path unused
}

func newTensorDisk(dir string) (*tensorDisk, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensor cache dir %s: %w (give a writable folder)", dir, err)
	}
	return &tensorDisk{dir: dir, fingerprints: map[tensorHint][sha256.Size]byte{}}, nil
}

// fingerprint digests what this build's preprocessing makes of a fixed synthetic JPEG with k's
// method and size: a change to the decoder or the resize changes it, and so the file names.
func (d *tensorDisk) fingerprint(k TensorKey) ([sha256.Size]byte, error) {
	h := tensorHint{method: k.Method, size: k.Size}
	d.mu.Lock()
	defer d.mu.Unlock()
	if fp, ok := d.fingerprints[h]; ok {
		return fp, nil
	}
	data, err := fingerprintJPEG()
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	t, err := preprocess.DecodeCHW(data, "tensor cache fingerprint", k.Size, k.Method)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("tensor cache fingerprint for %s at %d: %w", k.Method, k.Size, err)
	}
	fp := sha256.Sum256(t.Pix)
	d.fingerprints[h] = fp
	return fp, nil
}

// fingerprintJPEG is the synthetic image fingerprint preprocesses, encoded once.
var fingerprintJPEG = sync.OnceValues(func() ([]byte, error) {
	// 97 x 61: odd sides and an aspect ratio that exercise chroma subsampling, crop and padding.
	img := image.NewRGBA(image.Rect(0, 0, 97, 61))
	for y := 0; y < 61; y++ {
		for x := 0; x < 97; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 5), uint8(y * 7), uint8((x * y) % 251), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		return nil, fmt.Errorf("tensor cache fingerprint image: %w", err)
	}
	return b.Bytes(), nil
})

func (d *tensorDisk) path(k TensorKey, fp [sha256.Size]byte) string {
	name := k.String()
	return filepath.Join(d.dir, name[:2], fmt.Sprintf("%s-%x.chw", name, fp[:6]))
}

// read returns the tensor stored for k; ok is false when there is none (or it does not match).
func (d *tensorDisk) read(k TensorKey) (t preprocess.CHW, ok bool, err error) {
	fp, err := d.fingerprint(k)
	if err != nil {
		return t, false, err
	}
	p := d.path(k, fp)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return t, false, nil
	}
	if err != nil {
		return t, false, err
	}
	t, err = decodeTensorFile(b, k, fp)
	if err != nil {
		return t, false, fmt.Errorf("tensor cache file %s: %w", p, err)
	}
	return t, true, nil
}

func (d *tensorDisk) write(k TensorKey, t preprocess.CHW) error {
	fp, err := d.fingerprint(k)
	if err != nil {
		return err
	}
	p := d.path(k, fp)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, encodeTensorFile(k, fp, t))
}

func encodeTensorFile(k TensorKey, fp [sha256.Size]byte, t preprocess.CHW) []byte {
	b := make([]byte, 0, tensorHeaderSize+len(t.Pix))
	b = append(b, tensorDiskMagic...)
	for _, v := range []int{tensorDiskVersion, int(k.Method), k.Size, t.H, t.W} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	b = append(b, k.Digest[:]...)
	b = append(b, fp[:]...)
	return append(b, t.Pix...)
}

// decodeTensorFile parses a tensor file, refusing one whose header does not name k and fp exactly
// or whose pixels are not 3*H*W bytes (a torn or foreign file).
func decodeTensorFile(b []byte, k TensorKey, fp [sha256.Size]byte) (preprocess.CHW, error) {
	if len(b) < tensorHeaderSize || string(b[:8]) != tensorDiskMagic {
		return preprocess.CHW{}, errors.New("not a tensor cache file")
	}
	u := func(i int) int { return int(binary.LittleEndian.Uint32(b[8+4*i:])) }
	if u(0) != tensorDiskVersion {
		return preprocess.CHW{}, fmt.Errorf("format version %d, want %d", u(0), tensorDiskVersion)
	}
	if u(1) != int(k.Method) || u(2) != k.Size || !bytes.Equal(b[28:60], k.Digest[:]) || !bytes.Equal(b[60:92], fp[:]) {
		return preprocess.CHW{}, fmt.Errorf("header names another image or preprocessing than %s", hex.EncodeToString(k.Digest[:8]))
	}
	h, w := u(3), u(4)
	pix := b[tensorHeaderSize:]
	if h <= 0 || w <= 0 || int64(len(pix)) != 3*int64(h)*int64(w) || (k.Size > 0 && (h != k.Size || w != k.Size)) {
		return preprocess.CHW{}, fmt.Errorf("%dx%d tensor with %d bytes of pixels", w, h, len(pix))
	}
	return preprocess.CHW{H: h, W: w, Pix: pix}, nil
}
