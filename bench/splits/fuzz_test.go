package splits

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no splits file panics the reader, and whatever it accepts survives a round trip
// through Marshal unchanged in meaning (it parses again). Seeds: the official splits fixture and a
// small file Make draws.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "official.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"dataset":"csv","protocol":"paper","n":1,"images":2,"splits":[{"index":0,"train":["a"],"test":["b"]}]}`))
	f.Add([]byte(`{"n": 1e400}`))
	f.Add([]byte("\xef\xbb\xbf{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := Parse(data)
		if err != nil {
			return
		}
		out, err := sf.Marshal()
		if err != nil {
			t.Fatalf("accepted file does not marshal: %v", err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("accepted file does not parse after a round trip: %v\n%s", err, out)
		}
	})
}
