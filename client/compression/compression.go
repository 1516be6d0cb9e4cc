// Package compression registers the gRPC message compressors Triton accepts, gzip and deflate,
// so that a client or server importing it decodes requests compressed with either and can send
// compressed messages. Triton's clients name them "gzip" and "deflate" in grpc-encoding
// (tritonclient.grpc: compression_algorithm="gzip"|"deflate"); grpc-go ships only gzip.
package compression

import (
	"compress/zlib"
	"io"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/gzip" // registers "gzip"
)

// Names of the registered compressors, as they appear in grpc-encoding.
const (
	Gzip    = gzip.Name
	Deflate = "deflate"
)

// Names lists the compressors this package registers.
var Names = []string{Gzip, Deflate}

// Supported reports whether name is a compressor registered here.
func Supported(name string) bool { return name == Gzip || name == Deflate }

func init() { encoding.RegisterCompressor(&deflateCompressor{}) }

// deflateCompressor is grpc-encoding "deflate" as gRPC's C core (Triton's server and client)
// writes it: the zlib format (RFC 1950: a 2-byte header, DEFLATE data, an Adler-32 trailer),
// zlib's deflateInit2 with windowBits 15 -- not raw RFC 1951 DEFLATE. Writers are pooled: each
// holds several hundred KiB of state.
type deflateCompressor struct {
	writers sync.Pool
}

type deflateWriter struct {
	*zlib.Writer
	pool *sync.Pool
}

// Close flushes the stream and returns the writer to the pool.
func (w *deflateWriter) Close() error {
	defer w.pool.Put(w)
	return w.Writer.Close()
}

func (c *deflateCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	if dw, ok := c.writers.Get().(*deflateWriter); ok {
		dw.Reset(w)
		return dw, nil
	}
	return &deflateWriter{Writer: zlib.NewWriter(w), pool: &c.writers}, nil
}

// Decompress reads one zlib stream; a corrupt header or checksum is an error, which grpc-go
// turns into codes.Internal for the message.
func (c *deflateCompressor) Decompress(r io.Reader) (io.Reader, error) {
	return zlib.NewReader(r)
}

func (c *deflateCompressor) Name() string { return Deflate }
