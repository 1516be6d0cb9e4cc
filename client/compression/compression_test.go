package compression

import (
	"bytes"
	"encoding/hex"
	"io"
	"testing"

	"google.golang.org/grpc/encoding"
)

// pythonZlib is CPython's zlib.compress(b"agiqa deflate " * 8) -- what gRPC's C core (Triton)
// sends as grpc-encoding "deflate": the zlib format. Made with
//
//	python3 -c "import zlib; print(zlib.compress(b'agiqa deflate ' * 8).hex())"
const pythonZlib = "789c4b4ccf2c4c5448494dcb492c495548a4390f0008ef28c1"

// The registered "deflate" reads zlib streams made by another implementation and writes the
// zlib format (header 0x78, Adler-32 trailer), not raw DEFLATE, so that Triton can read it.
func TestDeflateIsZlibFormat(t *testing.T) {
	comp := encoding.GetCompressor(Deflate)
	if comp == nil || encoding.GetCompressor(Gzip) == nil {
		t.Fatal("deflate or gzip is not registered")
	}
	want := bytes.Repeat([]byte("agiqa deflate "), 8)
	fixture, _ := hex.DecodeString(pythonZlib)
	r, err := comp.Decompress(bytes.NewReader(fixture))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("decompressing Python's zlib output: %q, %v", got, err)
	}
	for range 2 { // the second round uses a pooled writer
		var buf bytes.Buffer
		w, err := comp.Compress(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(want); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out := buf.Bytes()
		if len(out) < 6 || out[0] != 0x78 || (int(out[0])<<8|int(out[1]))%31 != 0 {
			t.Fatalf("compressed stream %x lacks a zlib header", out)
		}
		r, err := comp.Decompress(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(r); !bytes.Equal(got, want) {
			t.Errorf("round trip: %q", got)
		}
	}
	if _, err := comp.Decompress(bytes.NewReader([]byte{0x12, 0x34})); err == nil {
		t.Error("a stream without a zlib header was accepted")
	}
}
