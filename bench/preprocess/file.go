package preprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/agiqa-bench/agiqa/internal/regfile"
)

// ReadFile reads the image file at path for Decode, refusing at once what cannot be an image: a
// path that is not a regular file (a FIFO would block in open(2), a device never ends), an empty
// file, a header declaring more pixels than d's limit, or a file far larger than its declared size
// can need (maxFileBytes). Only the first headerWindow bytes are read before the size is known.
// Cancelling ctx stops the read. Errors name the path and say what it is.
func (d Decoder) ReadFile(ctx context.Context, path string) ([]byte, error) {
	if err := d.Limits.Validate(); err != nil {
		return nil, err
	}
	f, st, err := regfile.Open(path)
	var nr *regfile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return nil, fmt.Errorf("preprocess: image %s is %s, not an image file", path, regfile.Kind(nr.Mode))
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("preprocess: image %s: no such file", path)
	case err != nil:
		return nil, fmt.Errorf("preprocess: read image: %w", err)
	}
	defer f.Close()
	if st.Size() == 0 {
		return nil, fmt.Errorf("preprocess: image %s is an empty file (0 bytes), not an image", path)
	}
	n := min(st.Size(), headerWindow)
	head, err := regfile.Read(ctx, path, io.LimitReader(f, n), make([]byte, 0, n), n)
	if err != nil {
		return nil, fmt.Errorf("preprocess: read image: %w", err)
	}
	return d.readRest(ctx, path, f, st.Size(), head)
}

// readRest checks the header in head (the file's first bytes) and reads the rest of the file.
func (d Decoder) readRest(ctx context.Context, path string, r io.Reader, size int64, head []byte) ([]byte, error) {
	limit := int64(headerWindow)
	h, err := ParseHeader(head)
	switch {
	case err == nil:
		if err := checkPixels(h.W, h.H, d.Limits.maxPixels()); err != nil {
			return nil, fmt.Errorf("preprocess: decode image %s: %w", path, err)
		}
		limit = maxFileBytes(h)
	case int64(len(head)) == size:
		return head, nil // the whole file: Decode reports what is wrong with it
	default:
		return nil, fmt.Errorf("preprocess: decode image %s: %w in its first %d MiB", path, err, headerWindow>>20)
	}
	if size > limit {
		return nil, fmt.Errorf("preprocess: image %s is %d bytes, more than a %dx%d image can need (%d)", path, size, h.W, h.H, limit)
	}
	data, err := regfile.Read(ctx, path, r, head, limit)
	if err != nil {
		return nil, fmt.Errorf("preprocess: read image: %w", err)
	}
	return data, nil
}

// ReadFile reads an image file with the default Decoder's limits; see Decoder.ReadFile.
func ReadFile(ctx context.Context, path string) ([]byte, error) { return Decoder{}.ReadFile(ctx, path) }
