package runner

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
)

// DefaultTensorCacheBytes bounds the in-memory tensor cache when a caller asks for the default: 1 GiB
// holds about 1300 IMAGE tensors at 512 px (768 KiB each), so models sharing a (size, method) reuse
// a mid-sized dataset's tensors; a larger dataset still reuses the part that fits (Run sends the
// images whose tensors are cached first).
const DefaultTensorCacheBytes int64 = 1 << 30

// entryOverhead is what one cached tensor costs besides its pixels (map, list element, key).
const entryOverhead = 160

// TensorKey names one preprocessed IMAGE tensor: the sha256 of the image file's bytes and the
// preprocessing applied to them (method and side; 0 for native, the decoded pixels as they are).
// Keyed by content, not path: an edited file misses, and two files with one content share.
type TensorKey struct {
	Digest [sha256.Size]byte
	Method preprocess.Method
	Size   int
}

func (k TensorKey) String() string {
	return fmt.Sprintf("%s-%s-%d", hex.EncodeToString(k.Digest[:]), k.Method, k.Size)
}

// TensorCacheOptions configure NewTensorCache.
type TensorCacheOptions struct {
	// MaxBytes bounds the tensors kept in memory, least recently used evicted first; 0 keeps none
	// in memory (only Dir, if given, is used).
	MaxBytes int64
	// Dir, when set, also keeps every tensor on disk (one file each, never evicted: delete the
	// folder to reclaim it), so a later run skips decoding too.
	Dir string
}

// TensorCacheStats count what a cache did.
type TensorCacheStats struct {
	Hits      int64 `json:"hits"`       // served from memory
	DiskHits  int64 `json:"disk_hits"`  // read from Dir
	Misses    int64 `json:"misses"`     // decoded
	Shared    int64 `json:"shared"`     // waited for another worker decoding the same key
	Evictions int64 `json:"evictions"`  // dropped from memory to stay under MaxBytes
	Bytes     int64 `json:"bytes"`      // in memory now
	Entries   int   `json:"entries"`    // in memory now
	DiskError int64 `json:"disk_error"` // disk reads or writes that failed (the tensor was decoded or kept in memory instead)
}

// TensorCache keeps preprocessed IMAGE tensors across the runs of one process, so models that share
// a (size, method) decode and resize each image once. Safe for concurrent use; the tensors it
// returns are shared and must not be modified. A nil *TensorCache decodes every time.
type TensorCache struct {
	max  int64
	disk *tensorDisk

	mu       sync.Mutex
	lru      *list.List // of *tensorEntry, most recent at the front
	byKey    map[TensorKey]*list.Element
	inflight map[TensorKey]*tensorFlight
	bytes    int64
	hints    map[tensorHint]TensorKey // last key seen for a path: Run orders likely hits first

	hits, diskHits, misses, shared, evictions, diskErr atomic.Int64
}

type tensorEntry struct {
	key TensorKey
	t   preprocess.CHW
}

type tensorFlight struct {
	done chan struct{}
	t    preprocess.CHW
	err  error
}

type tensorHint struct {
	path   string
	method preprocess.Method
	size   int
}

// NewTensorCache validates o and returns an empty cache.
func NewTensorCache(o TensorCacheOptions) (*TensorCache, error) {
	if o.MaxBytes < 0 {
		return nil, fmt.Errorf("tensor cache: memory bound %d bytes: want 0 or more", o.MaxBytes)
	}
	c := &TensorCache{max: o.MaxBytes, lru: list.New(), byKey: map[TensorKey]*list.Element{},
		inflight: map[TensorKey]*tensorFlight{}, hints: map[tensorHint]TensorKey{}}
	if o.Dir != "" {
		d, err := newTensorDisk(o.Dir)
		if err != nil {
			return nil, err
		}
		c.disk = d
	}
	return c, nil
}

// Get returns the tensor for k: from memory, from disk, or from decode (called once per key however
// many workers ask at the same time; the others wait for its result). Errors are not cached.
func (c *TensorCache) Get(k TensorKey, decode func() (preprocess.CHW, error)) (preprocess.CHW, error) {
	if c == nil {
		return decode()
	}
	c.mu.Lock()
	if el, ok := c.byKey[k]; ok {
		c.lru.MoveToFront(el)
		t := el.Value.(*tensorEntry).t
		c.mu.Unlock()
		c.hits.Add(1)
		return t, nil
	}
	if f, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		<-f.done
		c.shared.Add(1)
		return f.t, f.err
	}
	f := &tensorFlight{done: make(chan struct{})}
	c.inflight[k] = f
	c.mu.Unlock()

	f.t, f.err = c.load(k, decode)
	c.mu.Lock()
	delete(c.inflight, k)
	if f.err == nil {
		c.insertLocked(k, f.t)
	}
	c.mu.Unlock()
	close(f.done)
	return f.t, f.err
}

// load reads k from disk or decodes it (and writes it to disk).
func (c *TensorCache) load(k TensorKey, decode func() (preprocess.CHW, error)) (preprocess.CHW, error) {
	if c.disk != nil {
		t, ok, err := c.disk.read(k)
		if err != nil {
			c.diskErr.Add(1)
		}
		if ok {
			c.diskHits.Add(1)
			return t, nil
		}
	}
	c.misses.Add(1)
	t, err := decode()
	if err != nil {
		return t, err
	}
	if c.disk != nil {
		if err := c.disk.write(k, t); err != nil {
			c.diskErr.Add(1)
		}
	}
	return t, nil
}

func (c *TensorCache) insertLocked(k TensorKey, t preprocess.CHW) {
	size := int64(len(t.Pix)) + entryOverhead
	if size > c.max {
		return // larger than the whole bound: keeping it would evict everything for one image
	}
	if _, ok := c.byKey[k]; ok {
		return
	}
	for c.bytes+size > c.max {
		last := c.lru.Back()
		e := last.Value.(*tensorEntry)
		c.lru.Remove(last)
		delete(c.byKey, e.key)
		c.bytes -= int64(len(e.t.Pix)) + entryOverhead
		c.evictions.Add(1)
	}
	c.byKey[k] = c.lru.PushFront(&tensorEntry{key: k, t: t})
	c.bytes += size
}

// note records that path had content k: likelyCached then tells Run which items to send first.
func (c *TensorCache) note(path string, k TensorKey) {
	if c == nil || path == "" {
		return
	}
	c.mu.Lock()
	c.hints[tensorHint{path, k.Method, k.Size}] = k
	c.mu.Unlock()
}

// likelyCached reports whether the tensor path had when last seen is in memory. Only a hint for
// ordering (the file may have changed since): Get still looks the content up.
func (c *TensorCache) likelyCached(path string, method preprocess.Method, size int) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.hints[tensorHint{path, method, size}]
	if !ok {
		return false
	}
	_, ok = c.byKey[k]
	return ok
}

// Stats returns the counters so far.
func (c *TensorCache) Stats() TensorCacheStats {
	if c == nil {
		return TensorCacheStats{}
	}
	c.mu.Lock()
	b, n := c.bytes, len(c.byKey)
	c.mu.Unlock()
	return TensorCacheStats{Hits: c.hits.Load(), DiskHits: c.diskHits.Load(), Misses: c.misses.Load(), Shared: c.shared.Load(),
		Evictions: c.evictions.Load(), Bytes: b, Entries: n, DiskError: c.diskErr.Load()}
}
