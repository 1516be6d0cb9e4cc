package featcache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/internal/linefile"
)

// A second Extract on a cache another run is writing is refused with the holder named, instead of
// interleaving lines with it; once the first is done the second runs on the whole file.
func TestExtractRefusedWhileCacheHeld(t *testing.T) {
	imgDir, cache := t.TempDir(), t.TempDir()
	its := items(t, imgDir, 3)
	var calls atomic.Int64
	ex := meanRGB(&calls)
	inner := ex.Features
	var secondErr error
	ex.Features = func(img preprocess.RGB) ([]float64, error) {
		if calls.Load() == 0 { // while the first run holds the file
			_, secondErr = Extract(context.Background(), meanRGB(new(atomic.Int64)), "ds", its, cache, Options{})
		}
		return inner(img)
	}
	if _, err := Extract(context.Background(), ex, "ds", its, cache, Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	var busy *linefile.BusyError
	if !errors.As(secondErr, &busy) || !strings.Contains(secondErr.Error(), Path(cache, "ds", ex)+" is in use by pid ") {
		t.Fatalf("Extract while another holds the cache: %v; want it refused, naming file and holder", secondErr)
	}
	calls.Store(0)
	res, err := Extract(context.Background(), meanRGB(&calls), "ds", its, cache, Options{})
	if err != nil || res.Cached != 3 || calls.Load() != 0 {
		t.Errorf("after the first run: %v, %+v, %d calls", err, res, calls.Load())
	}
}

// A bad line (garbage, a vector of the wrong length, no image) no longer stops or silently shrinks
// the run: it is reported with the count and first line, its image extracted again, and the file
// repaired so a third run reports nothing.
func TestExtractBadLinesReportedAndRedone(t *testing.T) {
	imgDir, cache := t.TempDir(), t.TempDir()
	its := items(t, imgDir, 4)
	var calls atomic.Int64
	ex := meanRGB(&calls)
	if _, err := Extract(context.Background(), ex, "ds", its, cache, Options{}); err != nil {
		t.Fatal(err)
	}
	p := Path(cache, "ds", ex)
	b, _ := os.ReadFile(p)
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines[2] = []byte("\xff not json\n")
	var l Line
	json.Unmarshal(lines[3], &l)
	l.Features = l.Features[:2]
	short, _ := json.Marshal(l)
	lines[3] = append(short, '\n')
	os.WriteFile(p, bytes.Join(lines, nil), 0o644)

	calls.Store(0)
	res, err := Extract(context.Background(), ex, "ds", its, cache, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || res.Cached != 2 || len(res.Features) != 4 {
		t.Errorf("%d extracted, %d cached, %d vectors; want the 2 bad lines' images extracted again", calls.Load(), res.Cached, len(res.Features))
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "skipped 2 unreadable line(s), first line 3 (not a feature line") {
		t.Errorf("warnings %q", res.Warnings)
	}
	calls.Store(0)
	res, err = Extract(context.Background(), ex, "ds", its, cache, Options{})
	if err != nil || res.Warnings != nil || res.Cached != 4 || calls.Load() != 0 {
		t.Errorf("third run: %v, %+v, %d calls; want all cached, nothing reported", err, res, calls.Load())
	}
}

// FuzzFeatureLine: no line panics the parser; an accepted line has an image and either an error or
// exactly n finite features, and survives a write and re-read unchanged.
func FuzzFeatureLine(f *testing.F) {
	for _, s := range []string{
		`{"image":"a.png","input":"00ff","features":[1,2.5,-3e-7]}`,
		`{"image":"a.png","input":"00ff","error":"a.png: not a regular file"}`,
		`{"image":"a.png","features":[1,2]}`,
		`{"image":"","features":[1,2,3]}`,
		`{"image":"a.png","features":[1,2,1e999]}`,
		`{"agiqa_feature_cache":1,"extractor":"gmlf","version":"1","len":3}`,
		`{"image":"a.png","features":null}`,
		"{\"image\":\"a\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const n = 3
		l, err := parseLine(b, n)
		if err != nil {
			return
		}
		if l.Image == "" || (l.Error == "" && len(l.Features) != n) || (l.Error != "" && l.Features != nil) {
			t.Fatalf("accepted %q as %+v", b, l)
		}
		for _, v := range l.Features {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted %q with feature %v", b, v)
			}
		}
		out, err := json.Marshal(l)
		if err != nil {
			t.Fatalf("accepted %q but cannot write it back: %v", b, err)
		}
		l2, err := parseLine(out, n)
		if err != nil {
			t.Fatalf("%q written back as %s, which is refused: %v", b, out, err)
		}
		if out2, _ := json.Marshal(l2); !bytes.Equal(out, out2) {
			t.Fatalf("%q round trip changed it: %s then %s", b, out, out2)
		}
	})
}
