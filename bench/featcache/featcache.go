// Package featcache extracts handcrafted feature vectors from a dataset's images once and keeps them
// in an append-only JSON-lines file, so training an SVR per split (and again after an interruption)
// never decodes an image twice.
//
// The file <dir>/<dataset>/<extractor>-<version>.jsonl starts with its key line
//
//	{"agiqa_feature_cache": 1, "extractor": "gmlf", "version": "1", "len": 40}
//
// then one line per image: {"image": NAME, "input": sha256 of the file's bytes, "features": [...]} or,
// when extraction failed, {"image", "input", "error"}. A line answers only for the same bytes (an image
// replaced on disk is extracted again); a torn last line (a killed run) is cut, and any other line
// that cannot be read is dropped and its image extracted again (Result.Warnings says so). The file
// is locked while Extract runs: a second run on the same cache is refused, naming the first.
// Floats are written in Go's shortest round-trip form, so a cached vector is bit-identical to a fresh one.
package featcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/internal/linefile"
)

// Extractor is a feature function with the name and version that key its cache.
type Extractor struct {
	Name string
	// Version changes whenever the function's output changes, so old vectors are not reused.
	Version string
	// Len is the length of every vector Features returns.
	Len      int
	Features func(img preprocess.RGB) ([]float64, error)
}

// Line is one cached result. JSON fields: image, input (hex sha256 of the image file), features
// (absent on failure), error (why extraction failed, absent on success).
type Line struct {
	Image    string    `json:"image"`
	Input    string    `json:"input"`
	Features []float64 `json:"features,omitempty"`
	Error    string    `json:"error,omitempty"`
}

type key struct {
	Format    int    `json:"agiqa_feature_cache"`
	Extractor string `json:"extractor"`
	Version   string `json:"version"`
	Len       int    `json:"len"`
}

// Options tune Extract.
type Options struct {
	// Workers extract in parallel (default GOMAXPROCS).
	Workers int
	// Progress, when set, is called after each image with the count done (cached ones included) and
	// the total; calls are serialised.
	Progress func(done, total int)
}

// Result is what Extract found: the vectors by image name, the failures by image name (the error
// text), and how many came from the cache.
type Result struct {
	Features map[string][]float64
	Failed   map[string]string
	Cached   int
	// Warnings: lines of the cache that could not be read (their images were extracted again).
	Warnings []string
}

// Path is the cache file of extractor ex on dataset under dir.
func Path(dir, datasetName string, ex Extractor) string {
	return filepath.Join(dir, datasetName, ex.Name+"-"+ex.Version+".jsonl")
}

// Extract returns the features of every item, reading cached lines and appending new ones to
// Path(dir, datasetName, ex) as they are computed. A failed image is reported, not fatal; a context
// cancellation stops the run with every finished vector already on disk.
func Extract(ctx context.Context, ex Extractor, datasetName string, items []dataset.Item, dir string, opt Options) (*Result, error) {
	if ex.Name == "" || ex.Version == "" || ex.Len <= 0 || ex.Features == nil {
		return nil, fmt.Errorf("featcache: extractor %q needs a name, a version, a length and a function", ex.Name)
	}
	path := Path(dir, datasetName, ex)
	f, cached, warnings, err := open(path, ex)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	res := &Result{Features: map[string][]float64{}, Failed: map[string]string{}, Warnings: warnings}
	var mu sync.Mutex
	done := 0
	record := func(l Line, fromCache bool) error {
		mu.Lock()
		defer mu.Unlock()
		if !fromCache {
			b, _ := json.Marshal(l)
			if err := f.Append(append(b, '\n')); err != nil {
				return fmt.Errorf("featcache: append to %s: %w", path, err)
			}
		} else {
			res.Cached++
		}
		if l.Error != "" {
			res.Failed[l.Image] = l.Error
		} else {
			res.Features[l.Image] = l.Features
		}
		done++
		if opt.Progress != nil {
			opt.Progress(done, len(items))
		}
		return nil
	}

	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan dataset.Item)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range jobs {
				if err := extractOne(ex, it, cached, record); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var runErr error
feed:
	for _, it := range items {
		select {
		case jobs <- it:
		case runErr = <-errc:
			break feed
		case <-ctx.Done():
			runErr = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if runErr == nil {
		select {
		case runErr = <-errc:
		default:
		}
	}
	if runErr != nil {
		return res, fmt.Errorf("featcache: %s features of %s stopped after %d of %d images (kept in %s): %w",
			ex.Name, datasetName, len(res.Features)+len(res.Failed), len(items), path, runErr)
	}
	return res, nil
}

// extractOne reads one image, answers it from the cache when its bytes match, else extracts it.
// Only a failure to write the cache is returned; an image's own failure is recorded as its line.
func extractOne(ex Extractor, it dataset.Item, cached map[string]Line, record func(Line, bool) error) error {
	data, err := readRegular(it.Path)
	if err != nil {
		return record(Line{Image: it.Image, Error: err.Error()}, false)
	}
	sum := sha256.Sum256(data)
	input := hex.EncodeToString(sum[:])
	if l, ok := cached[it.Image]; ok && l.Input == input {
		return record(l, true)
	}
	l := Line{Image: it.Image, Input: input}
	img, err := preprocess.Decode(data, it.Path)
	if err == nil {
		l.Features, err = ex.Features(img)
	}
	switch {
	case err != nil:
		l.Error, l.Features = fmt.Sprintf("%s: %v", it.Path, err), nil
	case len(l.Features) != ex.Len:
		l.Error, l.Features = fmt.Sprintf("%s: %s gave %d features, want %d", it.Path, ex.Name, len(l.Features), ex.Len), nil
	default:
		for k, v := range l.Features {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				l.Error, l.Features = fmt.Sprintf("%s: %s feature %d is %v", it.Path, ex.Name, k, v), nil
				break
			}
		}
	}
	return record(l, false)
}

// readRegular reads a regular file; anything else (a FIFO, a device) is refused rather than read,
// since reading it could block for ever.
func readRegular(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no image path (the dataset has no image folder)")
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, st.Mode().Type())
	}
	return os.ReadFile(path)
}

// open locks path (a second run on the same cache is refused, naming the run that holds it), reads
// its cached lines and opens it for appending. A file whose key line is not ex's is refused: its
// name says which extractor and version it holds, so this is a mix-up. A line that cannot be read
// is skipped, dropped from the file and reported once; its image is extracted again.
func open(path string, ex Extractor) (*linefile.File, map[string]Line, []string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, nil, fmt.Errorf("featcache: %w", err)
	}
	k, _ := json.Marshal(keyOf(ex))
	out := map[string]Line{}
	f, sk, err := linefile.Open(path, append(k, '\n'), func(n int, b []byte) error {
		if n == 1 {
			var k key
			if err := json.Unmarshal(b, &k); err != nil || k != keyOf(ex) {
				return fmt.Errorf("%s:1: key line %.200q is not %s version %s with %d features (delete the file)",
					path, b, ex.Name, ex.Version, ex.Len)
			}
			return nil
		}
		l, err := parseLine(b, ex.Len)
		if err == nil {
			out[l.Image] = l
		}
		return err
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("featcache: %w", err) // each names the file
	}
	var warnings []string
	if sk.Lines > 0 {
		warnings = append(warnings, fmt.Sprintf("feature cache %s: skipped %d unreadable line(s), first line %d (%s); "+
			"their images are extracted again", path, sk.Lines, sk.FirstLine, sk.FirstWhy))
	}
	return f, out, warnings, nil
}

// parseLine reads one cached line of an extractor of n features: an image, the digest of its bytes,
// and either n finite features or an error.
func parseLine(b []byte, n int) (Line, error) {
	var l Line
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("not a feature line: %v", err)
	}
	switch {
	case l.Image == "":
		return l, errors.New("no image name")
	case l.Error != "":
		l.Features = nil
	case len(l.Features) != n:
		return l, fmt.Errorf("image %s: %d features, want %d", l.Image, len(l.Features), n)
	}
	return l, nil
}

func keyOf(ex Extractor) key {
	return key{Format: 1, Extractor: ex.Name, Version: ex.Version, Len: ex.Len}
}
