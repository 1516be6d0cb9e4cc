package runner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// Prediction is one cached line: a model's outputs for one image, or the error
// that stopped it after retries.
//
// JSON fields: image (name as in the label file), quality and alignment (model
// outputs, absent when the model has no such output or failed), error (why the
// item failed, absent on success), latency_ms (client-side time of the request
// that produced it, shared by the items of one batch), batch (items in that
// request), input (digest of the image file's bytes and the prompt as sent: a
// line answers only for the same input).
type Prediction struct {
	Image     string   `json:"image"`
	Input     string   `json:"input,omitempty"`
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

// CacheFile is the append-only JSON-lines file of one (dataset, model,
// version, model contract). Lines are written as predictions arrive, so a
// killed run loses at most the requests in flight; a torn last line is ignored
// on reload. The first line is the cache key (cacheKey), also digested into
// the file name: a model re-served with another input size, resize method,
// prompt prefix or outputs, or a newer latest version, gets a file of its own
// instead of the old predictions.
type CacheFile struct {
	Path string
	// Version is the model version the predictions are from: the one asked
	// for, or for "" the latest version the server listed (what it serves).
	Version string
	key     cacheKey
	mu      sync.Mutex
	f       *os.File
	size    int64 // bytes of whole lines in the file
	done    map[string]Prediction
}

// cacheKey is what a cached prediction depends on besides its image and prompt
// (those are in Prediction.Input).
type cacheKey struct {
	Format       int      `json:"agiqa_prediction_cache"`
	Dataset      string   `json:"dataset"`
	Model        string   `json:"model"`
	Version      string   `json:"version"`
	ImageSize    int      `json:"image_size"`
	Preprocess   string   `json:"preprocess"`
	JPEGDecoder  string   `json:"jpeg_decoder"` // libjpeg-turbo and Go's decoder differ by a few grey levels
	Prompt       bool     `json:"prompt"`
	PromptPrefix string   `json:"prompt_prefix"`
	Outputs      []string `json:"outputs"`
	// Set only for what CLIP's TOKENS [77] did not have, so that caches written before keep their key.
	Tokenizer   string `json:"tokenizer,omitempty"`
	TokenLength int    `json:"token_length,omitempty"`
	TokenMask   bool   `json:"token_mask,omitempty"`
}

func newCacheKey(dataset string, m *Model, version string) cacheKey {
	dec := "go"
	if (preprocess.Decoder{}).UsesTurbo() {
		dec = "libjpeg-turbo"
	}
	outs := slices.Clone(m.Outputs)
	sort.Strings(outs)
	k := cacheKey{Format: 1, Dataset: dataset, Model: m.Name, Version: version, ImageSize: m.ImageSize,
		Preprocess: m.Preprocess.String(), JPEGDecoder: dec, Prompt: m.Prompt, PromptPrefix: m.PromptPrefix, Outputs: outs}
	if m.Prompt && (m.Tokenizer != modelrepo.TokenizerCLIP || m.TokenLength != TokenLength) {
		k.Tokenizer, k.TokenLength = m.Tokenizer, m.TokenLength
	}
	k.TokenMask = m.Prompt && m.TokenMask
	return k
}

func (k cacheKey) line() []byte {
	b, _ := json.Marshal(k) // strings, ints and bools only: cannot fail
	return append(b, '\n')
}

// resolveVersion is the version whose predictions a run asking for version
// gets: "" means the server's latest, the highest version it lists as ready.
// "latest" stands for it when the server lists none.
func resolveVersion(m *Model, version string) string {
	if version != "" {
		return version
	}
	best, bestN := "", int64(-1)
	for _, v := range m.Versions {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > bestN {
			best, bestN = v, n
		}
	}
	if best == "" {
		return "latest"
	}
	return best
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// OpenCache opens (creating) the cache of model m's version on a dataset,
// dir/<dataset>/<model>/<version>-<key digest>.jsonl, and loads what earlier
// runs recorded there. version "" is resolved to the latest version m lists
// (CacheFile.Version), so deploying a newer version does not reuse the older
// one's predictions.
func OpenCache(dir, dataset string, m *Model, version string) (*CacheFile, error) {
	version = resolveVersion(m, version)
	key := newCacheKey(dataset, m, version)
	header := key.line()
	sum := sha256.Sum256(header)
	path := filepath.Join(dir, unsafeName.ReplaceAllString(dataset, "_"), unsafeName.ReplaceAllString(m.Name, "_"),
		unsafeName.ReplaceAllString(version, "_")+"-"+hex.EncodeToString(sum[:6])+".jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("prediction cache: %w", err)
	}
	c := &CacheFile{Path: path, Version: version, key: key, done: map[string]Prediction{}}
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
		if lineNo == 1 {
			if !bytes.Equal(append(line, '\n'), header) {
				return nil, fmt.Errorf("prediction cache %s: line 1 is %.200s, want the key %s (delete the file to start over)", path, line, bytes.TrimSpace(header))
			}
			valid += len(line) + 1
			continue
		}
		var p Prediction
		if err := json.Unmarshal(line, &p); err != nil {
			return nil, fmt.Errorf("prediction cache %s: line %d: %w (delete the file to start over)", path, lineNo, err)
		}
		valid += len(line) + 1
		c.remember(p)
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
	if valid == 0 {
		if _, err := f.Write(header); err != nil {
			f.Close()
			return nil, fmt.Errorf("prediction cache %s: %w", path, err)
		}
		c.size = int64(len(header))
	}
	return c, nil
}

// remember makes p the prediction known for its image: the latest line wins,
// except that a failure does not hide a success for the same input.
func (c *CacheFile) remember(p Prediction) {
	if old, ok := c.done[p.Image]; ok && p.Error != "" && old.Error == "" && old.Input == p.Input {
		return
	}
	c.done[p.Image] = p
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
		c.remember(p)
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
