package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sync"
)

// Prediction is one cached line: a model's outputs for one image, or the error
// that stopped it after retries.
//
// JSON fields: image (name as in the label file), quality and alignment (model
// outputs, absent when the model has no such output or failed), error (why the
// item failed, absent on success), latency_ms (client-side time of the request
// that produced it, shared by the items of one batch), batch (items in that request).
type Prediction struct {
	Image     string   `json:"image"`
	Quality   *float64 `json:"quality,omitempty"`
	Alignment *float64 `json:"alignment,omitempty"`
	Error     string   `json:"error,omitempty"`
	LatencyMS float64  `json:"latency_ms,omitempty"`
	Batch     int      `json:"batch,omitempty"`
}

// Value returns the named output (QUALITY or ALIGNMENT), NaN when absent.
func (p Prediction) Value(output string) float64 {
	v := p.Quality
	if output == OutputAlignment {
		v = p.Alignment
	}
	if v == nil {
		return math.NaN()
	}
	return *v
}

// CacheFile is the append-only JSON-lines file of one (dataset, model, version).
// Lines are written as predictions arrive, so a killed run loses at most the
// requests in flight; a torn last line is ignored on reload.
type CacheFile struct {
	Path string
	mu   sync.Mutex
	f    *os.File
	size int64 // bytes of whole lines in the file
	done map[string]Prediction
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// OpenCache opens (creating) dir/<dataset>/<model>/<version>.jsonl and loads
// what earlier runs recorded. version "" is stored as "default".
func OpenCache(dir, dataset, model, version string) (*CacheFile, error) {
	if version == "" {
		version = "default"
	}
	path := filepath.Join(dir, unsafeName.ReplaceAllString(dataset, "_"), unsafeName.ReplaceAllString(model, "_"), unsafeName.ReplaceAllString(version, "_")+".jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("prediction cache: %w", err)
	}
	c := &CacheFile{Path: path, done: map[string]Prediction{}}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("prediction cache: %w", err)
	}
	valid, lineNo := 0, 0
	for len(data) > 0 {
		lineNo++
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		if !complete {
			break // torn write from an interrupted run: drop it
		}
		data = rest
		var p Prediction
		if err := json.Unmarshal(line, &p); err != nil {
			return nil, fmt.Errorf("prediction cache %s: line %d: %w (delete the file to start over)", path, lineNo, err)
		}
		valid += len(line) + 1
		// Successful predictions win over earlier failures of the same image.
		if old, ok := c.done[p.Image]; !ok || old.Error != "" {
			c.done[p.Image] = p
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("prediction cache: %w", err)
	}
	// Cut a torn tail so the next line starts clean.
	if err := f.Truncate(int64(valid)); err != nil {
		f.Close()
		return nil, fmt.Errorf("prediction cache %s: %w", path, err)
	}
	if _, err := f.Seek(int64(valid), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("prediction cache %s: %w", path, err)
	}
	c.f, c.size = f, int64(valid)
	return c, nil
}

// Lookup returns the recorded prediction for an image.
func (c *CacheFile) Lookup(image string) (Prediction, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.done[image]
	return p, ok
}

// Append records predictions, one line each, in one write.
func (c *CacheFile) Append(ps ...Prediction) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, p := range ps {
		if err := enc.Encode(p); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.f.Write(buf.Bytes())
	if err != nil {
		// Cut a short write back, or the next line would extend the fragment
		// and the file could not be reopened.
		if n > 0 {
			if terr := c.f.Truncate(c.size); terr != nil {
				err = errors.Join(err, terr)
			} else if _, serr := c.f.Seek(c.size, io.SeekStart); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		return fmt.Errorf("prediction cache %s: %w", c.Path, err)
	}
	c.size += int64(n)
	for _, p := range ps {
		if old, ok := c.done[p.Image]; !ok || old.Error != "" {
			c.done[p.Image] = p
		}
	}
	return nil
}

// Close flushes the file to disk.
func (c *CacheFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Sync()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f = nil
	return err
}

// reader for tests and tools: all predictions currently known.
func (c *CacheFile) all() map[string]Prediction {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Prediction, len(c.done))
	for k, v := range c.done {
		out[k] = v
	}
	return out
}
