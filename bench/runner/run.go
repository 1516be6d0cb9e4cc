package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client"
)

// Options tune one run. Zero values get sensible defaults.
type Options struct {
	Concurrency int           // requests in flight (default 4)
	Batch       int           // images per request, capped by the model's max_batch_size (default 8)
	Workers     int           // preprocessing goroutines (default GOMAXPROCS)
	Retries     int           // extra attempts for a failed request (0: the default 2; NoRetries: none)
	Backoff     time.Duration // first retry delay, doubled each time (default 200ms)
	Tokenizer   Tokenizers    // for prompt models (TOKENS), by the model's agiqa.tokenizer
	Progress    Progress      // a StageProgress also gets the stage rates
	// TensorCache, shared by the runs of models with one (size, method), decodes and resizes each
	// image once for all of them; nil decodes for every run.
	TensorCache *TensorCache
	// SharedMemory sends inputs through system shared memory (one region per request in flight)
	// instead of in the request: only for a server on this host (ProbeSharedMemory checks).
	SharedMemory bool
}

// NoRetries as Options.Retries sends each request once: a zero Retries means the default.
const NoRetries = -1

func (o *Options) defaults(workers int) {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.Workers <= 0 {
		o.Workers = workers
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 2
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
}

// ItemError is an item that failed after retries.
type ItemError struct {
	Image string `json:"image"`
	Error string `json:"error"`
}

// Report summarises one (model, version) run.
//
// JSON fields: model, version; total (items asked for), cached (found in the
// cache from earlier runs), inferred (sent now and answered), failed (recorded
// with an error); errors (the first few failures); elapsed_s (wall time);
// stages (what preprocessing and inference each sustained, StageRates);
// request_latency_ms (client-side latency of every request sent now, in order of
// completion) and request_batch (images in each of those requests); truncated
// (distinct prompts cut to fit TOKENS) and warnings (what the run should tell).
type Report struct {
	Model            string      `json:"model"`
	Version          string      `json:"version"`
	Total            int         `json:"total"`
	Cached           int         `json:"cached"`
	Inferred         int         `json:"inferred"`
	Failed           int         `json:"failed"`
	Errors           []ItemError `json:"errors,omitempty"`
	ElapsedSeconds   float64     `json:"elapsed_s"`
	RequestLatencyMS []float64   `json:"request_latency_ms,omitempty"`
	RequestBatch     []int       `json:"request_batch,omitempty"`
	Truncated        int         `json:"truncated,omitempty"`
	Warnings         []string    `json:"warnings,omitempty"`
	Stages           *StageRates `json:"stages,omitempty"`
}

const maxReportedErrors = 10

// ErrServerGone is wrapped by Run when the server stays unavailable after retries.
var ErrServerGone = errors.New("server unavailable")

// ErrSharedMemory is wrapped by Run when Options.SharedMemory is set and a region cannot be made
// or registered: the run stops rather than fail every item the same way.
var ErrSharedMemory = errors.New("shared memory for inputs")

type prepared struct {
	item    dataset.Item
	input   string // inputKey of the bytes that were decoded
	image   preprocess.CHW
	encoded []byte // the file's bytes, for a model taking encoded images (encoded.go)
	tokens  []int64
	mask    []int64 // TOKENS_MASK row, for models that take one
}

// Run scores items with one version of a model. Items already in the cache are
// not sent again; each answer is appended to the cache as it arrives. A request
// that keeps failing is retried item by item, and items that still fail are
// recorded with their error; the run goes on. When the server stays
// unreachable Run stops and returns an error wrapping ErrServerGone: everything
// answered so far is in the cache.
func Run(ctx context.Context, c *client.Client, m *Model, version string, items []dataset.Item, cache *CacheFile, opt Options) (*Report, error) {
	opt.defaults(defaultWorkers())
	if err := opt.Tokenizer.Check(m); err != nil {
		return nil, err
	}
	batch := opt.Batch
	if m.MaxBatch == 0 {
		batch = 1
	} else if batch > m.MaxBatch {
		batch = m.MaxBatch
	}
	if want := newCacheKey(cache.key.Dataset, m, resolveVersion(m, version)); !reflect.DeepEqual(cache.key, want) {
		return nil, fmt.Errorf("model %s version %s: prediction cache %s was opened for another model, version or contract", m.Name, versionLabel(version), cache.Path)
	}
	// Ask for the version the cache holds: with "" a version deployed
	// mid-run would answer into the older one's cache.
	reqVersion := version
	if reqVersion == "" && cache.Version != "latest" {
		reqVersion = cache.Version
	}
	rep := &Report{Model: m.Name, Version: version, Total: len(items), Warnings: cache.takeWarnings()}
	if n, w := opt.Tokenizer.truncationWarning(m, items); n > 0 {
		rep.Truncated, rep.Warnings = n, append(rep.Warnings, w)
	}
	start := time.Now()
	// Only items with a cached answer are hashed here; the others are hashed
	// by preprocessing from the bytes it reads anyway.
	var hits []dataset.Item
	for _, it := range items {
		if p, ok := cache.Lookup(it.Image); ok && p.Error == "" {
			hits = append(hits, it)
		}
	}
	inputs, err := inputKeys(ctx, m, hits, opt.Workers)
	if err != nil {
		return rep, fmt.Errorf("model %s: interrupted: %w (predictions so far kept in %s)", m.Name, err, cache.Path)
	}
	fresh := make(map[string]bool, len(hits))
	for i, it := range hits {
		// A cached answer counts only for the same image bytes and prompt:
		// another dataset under the same name, or an edited label file,
		// must be inferred again.
		if p, _ := cache.Lookup(it.Image); inputs[i] != "" && p.Input == inputs[i] {
			fresh[it.Image] = true
		}
	}
	var todo, later []dataset.Item
	for _, it := range items {
		switch {
		case fresh[it.Image]:
			rep.Cached++
		case opt.TensorCache.likelyCached(it.Path, m.Preprocess, m.ImageSize):
			todo = append(todo, it)
		default:
			later = append(later, it)
		}
	}
	// Images whose tensors an earlier model left in memory go first: a dataset larger than the
	// cache would otherwise evict each tensor just before it is asked for again.
	todo = append(todo, later...)
	meter := &stageMeter{workers: opt.Workers, inFlight: opt.Concurrency}
	opt.Progress.Start(fmt.Sprintf("%s v%s", m.Name, versionLabel(version)), len(items), rep.Cached)
	if sp, ok := opt.Progress.(StageProgress); ok {
		sp.Stages(meter.rates)
	}
	defer opt.Progress.Finish()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex // guards rep
	fail := func(img, input string, err error) {
		mu.Lock()
		rep.Failed++
		if len(rep.Errors) < maxReportedErrors {
			rep.Errors = append(rep.Errors, ItemError{Image: img, Error: err.Error()})
		}
		mu.Unlock()
		if cerr := cache.Append(Prediction{Image: img, Input: input, Error: err.Error()}); cerr != nil {
			cancel(cerr)
		}
		opt.Progress.Add(1)
	}

	// Stage 1: decode, resize and tokenize on a worker pool.
	in := make(chan dataset.Item)
	ready := make(chan prepared, opt.Workers*2)
	go func() {
		defer close(in)
		for _, it := range todo {
			select {
			case in <- it:
			case <-ctx.Done():
				return
			}
		}
	}()
	var prepWG sync.WaitGroup
	for w := 0; w < opt.Workers; w++ {
		prepWG.Add(1)
		go func() {
			defer prepWG.Done()
			for it := range in {
				t0 := time.Now()
				p, err := prepare(ctx, m, it, opt.Tokenizer, opt.TensorCache)
				meter.prepared(time.Since(t0))
				if err != nil {
					fail(it.Image, p.input, err)
					continue
				}
				select {
				case ready <- p:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { prepWG.Wait(); close(ready) }()

	// Stage 2: group into batches of one image size.
	batches := make(chan []prepared)
	go func() {
		defer close(batches)
		groupBySize(ctx, ready, batches, batch)
	}()

	// Stage 3: bounded concurrent requests.
	var sendWG sync.WaitGroup
	for s := 0; s < opt.Concurrency; s++ {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			var shm *shmInputs
			if opt.SharedMemory {
				shm = &shmInputs{c: c}
				defer func() {
					if err := shm.close(); err != nil {
						mu.Lock()
						rep.Warnings = append(rep.Warnings, err.Error())
						mu.Unlock()
					}
				}()
			}
			for b := range batches {
				t0 := time.Now()
				preds, lat, err := inferWithRetry(ctx, c, m, reqVersion, b, opt, shm)
				meter.inferred(len(b), time.Since(t0))
				if errors.Is(err, ErrSharedMemory) {
					cancel(fmt.Errorf("model %s: %w", m.Name, err))
					return
				}
				if err != nil && isTransient(err) {
					cancel(fmt.Errorf("%w: model %s version %s: %v", ErrServerGone, m.Name, versionLabel(version), err))
					return
				}
				if err != nil && len(b) > 1 {
					// Find the bad item: retry one by one.
					for _, p := range b {
						one, l1, err1 := inferWithRetry(ctx, c, m, reqVersion, []prepared{p}, opt, shm)
						if err1 != nil && isTransient(err1) {
							cancel(fmt.Errorf("%w: model %s version %s: %v", ErrServerGone, m.Name, versionLabel(version), err1))
							return
						}
						if err1 != nil {
							fail(p.item.Image, p.input, err1)
							continue
						}
						record(rep, &mu, cache, opt, m, one, l1, cancel)
					}
					continue
				}
				if err != nil {
					fail(b[0].item.Image, b[0].input, err)
					continue
				}
				record(rep, &mu, cache, opt, m, preds, lat, cancel)
			}
		}()
	}
	sendWG.Wait()
	// Drain so the producers exit when a send stage stopped early, and wait
	// for the preparers: one still decoding would record its item (rep, the
	// cache, Progress) after Run returned. ready closes once they are done.
	for range batches {
	}
	for range ready {
	}
	rep.ElapsedSeconds = time.Since(start).Seconds()
	if st := meter.rates(); st.Prep > 0 || st.Infer > 0 {
		rep.Stages = &st
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return rep, fmt.Errorf("%w (%d predictions kept in %s)", cause, rep.Cached+rep.Inferred, cache.Path)
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("model %s: interrupted: %w (%d predictions kept in %s)", m.Name, err, rep.Cached+rep.Inferred, cache.Path)
	}
	return rep, nil
}

// record appends answered predictions to the cache and counts them. An output
// that is NaN or infinite makes its item a failure, named with the value: JSON
// cannot hold it, and one such answer must not stop the run.
func record(rep *Report, mu *sync.Mutex, cache *CacheFile, opt Options, m *Model, preds []Prediction, lat time.Duration, cancel context.CancelCauseFunc) {
	var bad []ItemError
	for i := range preds {
		p := &preds[i]
		for _, o := range []struct {
			name string
			v    *float64
		}{{OutputQuality, p.Quality}, {OutputAlignment, p.Alignment}} {
			if o.v != nil && (math.IsNaN(*o.v) || math.IsInf(*o.v, 0)) && p.Error == "" {
				p.Error = fmt.Sprintf("model %s output %s is %v for image %s", m.Name, o.name, *o.v, p.Image)
			}
		}
		if p.Error != "" {
			p.Quality, p.Alignment = nil, nil
			bad = append(bad, ItemError{Image: p.Image, Error: p.Error})
		}
	}
	if err := cache.Append(preds...); err != nil {
		cancel(err)
		return
	}
	mu.Lock()
	rep.Inferred += len(preds) - len(bad)
	rep.Failed += len(bad)
	for _, e := range bad {
		if len(rep.Errors) < maxReportedErrors {
			rep.Errors = append(rep.Errors, e)
		}
	}
	rep.RequestLatencyMS = append(rep.RequestLatencyMS, float64(lat)/float64(time.Millisecond))
	rep.RequestBatch = append(rep.RequestBatch, len(preds))
	mu.Unlock()
	opt.Progress.Add(len(preds))
}
