package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/linefile"
)

// Two runs sharing a cache folder used to write one file at once: their lines interleaved, each
// truncated the other's newest line as a torn tail, and the next open refused the file. Now the
// second open is refused while the first holds the file, naming the holder, and the file stays
// whole.
func TestCacheSecondOpenRefusedWhileHeld(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenCache(dir, "ds", cacheOnly, "1")
	if err != nil {
		t.Fatal(err)
	}
	q := 0.5
	if err := a.Append(Prediction{Image: "x", Input: "i", Quality: &q}); err != nil {
		t.Fatal(err)
	}
	_, err = OpenCache(dir, "ds", cacheOnly, "1")
	var busy *linefile.BusyError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), "prediction cache "+a.Path+" is in use by pid ") ||
		!strings.Contains(err.Error(), "this process") {
		t.Fatalf("second OpenCache while the first is open: %v; want it refused, naming the file and holder", err)
	}
	if err := a.Append(Prediction{Image: "y", Input: "i", Quality: &q}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b, err := OpenCache(dir, "ds", cacheOnly, "1")
	if err != nil {
		t.Fatalf("OpenCache after Close: %v", err)
	}
	defer b.Close()
	if all := b.all(); len(all) != 2 || b.takeWarnings() != nil {
		t.Errorf("reopened cache holds %v", all)
	}
}

// One bad line (garbage, or a success with no value) no longer condemns the file: Run reports it
// in its warnings with the count and first line, infers those images again and only those, and
// the file is clean afterwards.
func TestCacheBadLinesSkippedAndReinferred(t *testing.T) {
	c, _ := startServer(t)
	ctx := context.Background()
	m, _ := Describe(ctx, c, "mean")
	items := makeItems(t, 6)
	dir := t.TempDir()
	cf, err := OpenCache(dir, "ds", m, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, c, m, "", items, cf, Options{Batch: 1, Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	cf.Close()

	// Line 3 becomes garbage; img04's line loses its ALIGNMENT value.
	data, _ := os.ReadFile(cf.Path)
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines[2] = []byte("{\"image\": \x00garbage\n")
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"img04.png"`)) {
			var p Prediction
			json.Unmarshal(l, &p)
			p.Alignment = nil
			b, _ := json.Marshal(p)
			lines[i] = append(b, '\n')
		}
	}
	os.WriteFile(cf.Path, bytes.Join(lines, nil), 0o644)

	cf, err = OpenCache(dir, "ds", m, "")
	if err != nil {
		t.Fatalf("OpenCache with two bad lines: %v", err)
	}
	if p, ok := cf.Lookup("img04.png"); ok {
		t.Errorf("a line without ALIGNMENT is a hit: %+v", p)
	}
	before := meanCalls.Load()
	rep, err := Run(ctx, c, m, "", items, cf, Options{Batch: 1, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if sent := meanCalls.Load() - before; sent != 2 || rep.Inferred != 2 || rep.Cached != 4 {
		t.Errorf("sent %d, report %+v; want the two images of the bad lines inferred again, 4 cached", sent, rep)
	}
	want := "skipped 2 unreadable line(s), first line 3 (not a prediction: "
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], want) || !strings.Contains(rep.Warnings[0], cf.Path) {
		t.Errorf("warnings %q; want one naming the file and %q", rep.Warnings, want)
	}
	cf.Close()
	cf, err = OpenCache(dir, "ds", m, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	if w := cf.takeWarnings(); w != nil {
		t.Errorf("bad lines reported again after the repair: %q", w)
	}
	for i, it := range items {
		p, ok := cf.Lookup(it.Image)
		if !ok || p.Quality == nil || p.Alignment == nil || math.Abs(*p.Quality-float64(10*i)) > 1e-4 {
			t.Errorf("%s after the rerun: %+v", it.Image, p)
		}
	}
}

func TestParseCacheLine(t *testing.T) {
	both := []string{OutputAlignment, OutputQuality}
	for _, c := range []struct {
		line, err string
		outputs   []string
	}{
		{`{"image":"a","quality":1,"alignment":2}`, "", both},
		{`{"image":"a","quality":1}`, "", []string{OutputQuality}},
		{`{"image":"a","quality":1}`, "image a: no ALIGNMENT value", both},
		{`{"image":"a","quality":null,"alignment":2}`, "image a: no QUALITY value", both},
		{`{"image":"a","error":"boom"}`, "", both},
		{`{"quality":1,"alignment":2}`, "no image name", both},
		{`{"image":"a","quality":1e999}`, "not a prediction", []string{OutputQuality}},
		{`[1,2]`, "not a prediction", both},
		{``, "not a prediction", both},
	} {
		_, err := parseCacheLine([]byte(c.line), c.outputs)
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s (outputs %v): err %v, want %q", c.line, c.outputs, err, c.err)
		}
	}
}

// FuzzCacheLine: no line panics the parser; a line it accepts is a usable answer (an image, and
// every output's value on a success) and survives a write and re-read unchanged.
func FuzzCacheLine(f *testing.F) {
	for _, s := range []string{
		`{"image":"img01.png","input":"ab12","quality":0.5,"alignment":-1.25,"latency_ms":3.5,"batch":4}`,
		`{"image":"img01.png","input":"ab12","error":"model m output QUALITY is NaN for image img01.png"}`,
		`{"image":"a","quality":null}`,
		`{"image":"","quality":1}`,
		`{"image":"a","quality":"1"}`,
		`{"image":"a","quality":1e400}`,
		`{"agiqa_prediction_cache":1,"dataset":"ds"}`,
		"{\"image\": \x00",
		`null`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, line []byte, both bool) {
		outputs := []string{OutputQuality}
		if both {
			outputs = append(outputs, OutputAlignment)
		}
		p, err := parseCacheLine(line, outputs)
		if err != nil {
			return
		}
		if p.Image == "" {
			t.Fatalf("accepted %q without an image", line)
		}
		if p.Error == "" {
			for _, o := range outputs {
				if v := p.Value(o); math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("accepted %q with %s = %v", line, o, v)
				}
			}
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("accepted %q but cannot write it back: %v", line, err)
		}
		q, err := parseCacheLine(b, outputs)
		if err != nil {
			t.Fatalf("%q written back as %s, which is refused: %v", line, b, err)
		}
		if b2, _ := json.Marshal(q); !bytes.Equal(b, b2) {
			t.Fatalf("%q round trip changed it: %s then %s", line, b, b2)
		}
	})
}
