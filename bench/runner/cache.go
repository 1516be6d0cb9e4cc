package runner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/internal/linefile"
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
// killed run loses at most the requests in flight; a torn last line is cut
// on reload. The first line is the cache key (cacheKey), also digested into
// the file name: a model re-served with another input size, resize method,
// prompt prefix or outputs, or a newer latest version, gets a file of its own
// instead of the old predictions.
type CacheFile struct {
	Path string
	// Version is the model version the predictions are from: the one asked
	// for, or for "" the latest version the server listed (what it serves).
	Version  string
	key      cacheKey
	mu       sync.Mutex
	lf       *linefile.File
	done     map[string]Prediction
	warnings []string // from opening: reported by the first Run
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
//
// The file is locked until Close: a second run sharing the cache folder gets an
// error naming the run that holds it (pid and command) instead of interleaving
// its lines. A line that cannot be read (not JSON, no image, or a success with
// no value for one of the model's outputs) is skipped and dropped from the
// file, and its image is inferred again; the run's warnings say how many and
// where the first was.
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
	lf, sk, err := linefile.Open(path, header, func(n int, line []byte) error {
		if n == 1 {
			if !bytes.Equal(append(line, '\n'), header) {
				return fmt.Errorf("line 1 is %.200s, want the key %s (delete the file to start over)", line, bytes.TrimSpace(header))
			}
			return nil
		}
		p, err := parseCacheLine(line, key.Outputs)
		if err == nil {
			c.remember(p)
		}
		return err
	})
	if err != nil {
		var busy *linefile.BusyError
		if errors.As(err, &busy) {
			return nil, fmt.Errorf("prediction cache %w", err)
		}
		return nil, fmt.Errorf("prediction cache %s: %w", path, err)
	}
	c.lf = lf
	if sk.Lines > 0 {
		c.warnings = append(c.warnings, fmt.Sprintf("prediction cache %s: skipped %d unreadable line(s), first line %d (%s); "+
			"their images are inferred again", path, sk.Lines, sk.FirstLine, sk.FirstWhy))
	}
	return c, nil
}

// parseCacheLine reads one prediction line of a cache whose model has outputs.
// A success must carry a value for every output: one without is not an answer.
func parseCacheLine(line []byte, outputs []string) (Prediction, error) {
	var p Prediction
	if err := json.Unmarshal(line, &p); err != nil {
		return p, fmt.Errorf("not a prediction: %v", err)
	}
	if p.Image == "" {
		return p, errors.New("no image name")
	}
	if p.Error != "" {
		p.Quality, p.Alignment = nil, nil
		return p, nil
	}
	for _, o := range outputs {
		if math.IsNaN(p.Value(o)) {
			return p, fmt.Errorf("image %s: no %s value", p.Image, o)
		}
	}
	return p, nil
}

// takeWarnings returns what opening the cache found (bad lines) once: the
// file was repaired then, so a later run on it has nothing to report.
func (c *CacheFile) takeWarnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.warnings
	c.warnings = nil
	return w
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
	if err := c.lf.Append(buf.Bytes()); err != nil {
		return fmt.Errorf("prediction cache %s: %w", c.Path, err)
	}
	for _, p := range ps {
		c.remember(p)
	}
	return nil
}

// Close flushes the file to disk and releases its lock.
func (c *CacheFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lf == nil {
		return nil
	}
	err := c.lf.Close()
	c.lf = nil
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
