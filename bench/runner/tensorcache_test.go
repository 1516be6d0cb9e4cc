package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client"
)

// fakeTensor is a side x side tensor filled with v; its cache cost is len(Pix) + entryOverhead.
func fakeTensor(side int, v uint8) preprocess.CHW {
	return preprocess.CHW{H: side, W: side, Pix: bytes.Repeat([]byte{v}, 3*side*side)}
}

func keyOf(s string) TensorKey {
	return TensorKey{Digest: sha256.Sum256([]byte(s)), Method: preprocess.MethodResize, Size: 8}
}

// counting returns a decode function that makes fakeTensor(8, v) and counts its calls.
func counting(n *atomic.Int64, v uint8) func() (preprocess.CHW, error) {
	return func() (preprocess.CHW, error) { n.Add(1); return fakeTensor(8, v), nil }
}

func TestTensorCacheHitMissEviction(t *testing.T) {
	per := int64(3*8*8 + entryOverhead)
	c, err := NewTensorCache(TensorCacheOptions{MaxBytes: 2 * per}) // room for two tensors
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	get := func(k string, v uint8) preprocess.CHW {
		t.Helper()
		got, err := c.Get(keyOf(k), counting(&n, v))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	get("a", 1)
	get("b", 2)
	if got := get("a", 99); got.Pix[0] != 1 { // a hit: a's tensor, not a new decode
		t.Errorf("a after a hit has pixel %d, want 1", got.Pix[0])
	}
	get("c", 3) // evicts b, the least recently used (a was just used)
	if n.Load() != 3 {
		t.Errorf("%d decodes after a, b, a, c; want 3", n.Load())
	}
	get("a", 99) // still cached
	get("b", 2)  // was evicted: decoded again
	st := c.Stats()
	if st.Hits != 2 || st.Misses != 4 || st.Evictions != 2 || st.Entries != 2 || st.Bytes != 2*per {
		t.Errorf("stats %+v; want 2 hits, 4 misses, 2 evictions, 2 entries of %d bytes", st, per)
	}
	// The same bytes under another preprocessing are another tensor.
	k := keyOf("a")
	k.Size = 16
	if _, err := c.Get(k, counting(&n, 7)); err != nil || c.Stats().Misses != 5 {
		t.Errorf("a at another size: err %v, misses %d; want a miss", err, c.Stats().Misses)
	}
	// A tensor larger than the bound is returned but not kept (it would evict everything).
	big := func() (preprocess.CHW, error) { return fakeTensor(64, 5), nil }
	if got, err := c.Get(keyOf("big"), big); err != nil || len(got.Pix) != 3*64*64 {
		t.Fatalf("big: %v, %d bytes", err, len(got.Pix))
	}
	if st := c.Stats(); st.Entries != 2 || st.Bytes > 2*per {
		t.Errorf("after a tensor over the bound: %+v", st)
	}
	// Errors are not cached: the next Get decodes again.
	fails := 0
	bad := func() (preprocess.CHW, error) { fails++; return preprocess.CHW{}, fmt.Errorf("broken") }
	c.Get(keyOf("bad"), bad)
	c.Get(keyOf("bad"), bad)
	if fails != 2 {
		t.Errorf("a failing decode ran %d times for two Gets, want 2", fails)
	}
	if _, err := NewTensorCache(TensorCacheOptions{MaxBytes: -1}); err == nil {
		t.Error("a negative bound was accepted")
	}
	// nil decodes every time.
	var none *TensorCache
	none.Get(keyOf("a"), counting(&n, 1))
	none.Get(keyOf("a"), counting(&n, 1))
	if n.Load() != 7 {
		t.Errorf("nil cache: %d decodes in all, want 7", n.Load())
	}
}

// Many workers asking for the same keys at once: each key is decoded once, and every caller gets
// that key's tensor (run with -race).
func TestTensorCacheConcurrent(t *testing.T) {
	c, _ := NewTensorCache(TensorCacheOptions{MaxBytes: 1 << 20})
	const keys, workers = 5, 16
	var decodes [keys]atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers*keys)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < keys; i++ {
				k := (i + w) % keys
				got, err := c.Get(keyOf(fmt.Sprint(k)), func() (preprocess.CHW, error) {
					decodes[k].Add(1)
					time.Sleep(5 * time.Millisecond) // let the other workers pile up on this key
					return fakeTensor(8, uint8(k)), nil
				})
				if err != nil || got.Pix[0] != uint8(k) {
					errs <- fmt.Errorf("key %d: pixel %v, err %v", k, got.Pix, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for k := range decodes {
		if n := decodes[k].Load(); n != 1 {
			t.Errorf("key %d decoded %d times, want once", k, n)
		}
	}
	if st := c.Stats(); st.Misses != keys || st.Hits+st.Shared != workers*keys-keys {
		t.Errorf("stats %+v: want %d misses and %d hits or shared waits", st, keys, workers*keys-keys)
	}
}

// On disk: a second cache over the same folder reads the tensor back without decoding; a damaged
// file is refused and decoded again; another image's bytes never get it.
func TestTensorCacheDisk(t *testing.T) {
	dir := t.TempDir()
	k := TensorKey{Digest: sha256.Sum256([]byte("img")), Method: preprocess.MethodResize, Size: 8}
	var n atomic.Int64
	c1, err := NewTensorCache(TensorCacheOptions{MaxBytes: 1 << 20, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := c1.Get(k, counting(&n, 42))
	c2, _ := NewTensorCache(TensorCacheOptions{Dir: dir}) // nothing in memory: disk only
	got, err := c2.Get(k, counting(&n, 0))
	if err != nil || !bytes.Equal(got.Pix, want.Pix) || got.H != 8 || got.W != 8 {
		t.Fatalf("disk read: %v, %dx%d, equal %v", err, got.W, got.H, bytes.Equal(got.Pix, want.Pix))
	}
	if n.Load() != 1 || c2.Stats().DiskHits != 1 {
		t.Errorf("%d decodes, stats %+v; want the second cache to read the file", n.Load(), c2.Stats())
	}
	other := k
	other.Digest[0] ^= 1
	if got, _ := c2.Get(other, counting(&n, 9)); got.Pix[0] != 9 {
		t.Errorf("other bytes got pixel %d from disk, want a fresh decode (9)", got.Pix[0])
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.chw"))
	if len(files) != 2 {
		t.Fatalf("tensor files %v, want 2", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		os.WriteFile(f, b[:len(b)-1], 0o644) // torn
	}
	c3, _ := NewTensorCache(TensorCacheOptions{Dir: dir})
	before := n.Load()
	if got, _ := c3.Get(k, counting(&n, 42)); got.Pix[0] != 42 || n.Load() != before+1 || c3.Stats().DiskError != 1 {
		t.Errorf("torn file: decodes %d (want %d), stats %+v", n.Load(), before+1, c3.Stats())
	}
}

// decodeTensorFile reads files anyone could have written into the cache folder: it must refuse
// what does not match, never panic, and never return pixels for another key.
func FuzzDecodeTensorFile(f *testing.F) {
	k := TensorKey{Digest: sha256.Sum256([]byte("x")), Method: preprocess.MethodResize, Size: 2}
	var fp [sha256.Size]byte
	good := encodeTensorFile(k, fp, fakeTensor(2, 7))
	f.Add(good)
	f.Add(good[:tensorHeaderSize])
	f.Add([]byte(tensorDiskMagic))
	native := k
	native.Size = 0
	f.Add(encodeTensorFile(native, fp, preprocess.CHW{H: 1, W: 3, Pix: make([]byte, 9)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, key := range []TensorKey{k, native} {
			got, err := decodeTensorFile(b, key, fp)
			if err != nil {
				continue
			}
			if len(got.Pix) != 3*got.H*got.W || (key.Size > 0 && (got.H != key.Size || got.W != key.Size)) {
				t.Fatalf("accepted %dx%d with %d bytes for size %d", got.W, got.H, len(got.Pix), key.Size)
			}
			if !bytes.Equal(b[28:60], key.Digest[:]) {
				t.Fatal("accepted a file naming another image")
			}
		}
	})
}

// writeGrey writes a 20 x 20 PNG of one grey level.
func writeGrey(t *testing.T, path string, v uint8) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 20, 20))
	for y := 0; y < 20; y++ {
		for x := 0; x < 20; x++ {
			img.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// countDecodes counts the decodes of the test (restored when it ends).
func countDecodes(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	decodeCHW = func(data []byte, name string, size int, m preprocess.Method) (preprocess.CHW, error) {
		n.Add(1)
		return preprocess.DecodeCHW(data, name, size, m)
	}
	t.Cleanup(func() { decodeCHW = preprocess.DecodeCHW })
	return &n
}

// startTwinServer serves "mean" and "mean2": two models with one (size, method).
func startTwinServer(t *testing.T) (*client.Client, *Model, *Model) {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, name := range []string{"mean", "mean2"} {
		fsys[name+"/config.pbtxt"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(meanConfig, name, "false"))}
		fsys[name+"/1/model.native"] = &fstest.MapFile{Data: []byte("runner_test_mean\n")}
	}
	c, _ := serveFS(t, fsys)
	ctx := context.Background()
	a, err := Describe(ctx, c, "mean")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Describe(ctx, c, "mean2")
	if err != nil {
		t.Fatal(err)
	}
	return c, a, b
}

// scores runs m over items into a fresh prediction cache and returns QUALITY by image.
func scores(t *testing.T, c *client.Client, m *Model, items []dataset.Item, opt Options) map[string]float64 {
	t.Helper()
	cf, err := OpenCache(t.TempDir(), "ds", m, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rep, err := Run(context.Background(), c, m, "", items, cf, opt)
	if err != nil || rep.Failed > 0 || rep.Inferred != len(items) {
		t.Fatalf("model %s: %v, report %+v", m.Name, err, rep)
	}
	out := map[string]float64{}
	for _, it := range items {
		p, _ := cf.Lookup(it.Image)
		out[it.Image] = p.Value(OutputQuality)
	}
	return out
}

// Two models sharing (size, method) decode each image once with a cache, twice without, and score
// exactly the same either way.
func TestRunSharedPreprocessingDecodesOnce(t *testing.T) {
	c, a, b := startTwinServer(t)
	items := makeItems(t, 9)
	decodes := countDecodes(t)
	opt := Options{Batch: 4, Concurrency: 2}
	plainA, plainB := scores(t, c, a, items, opt), scores(t, c, b, items, opt)
	if got := decodes.Load(); got != 2*int64(len(items)) {
		t.Errorf("without a tensor cache: %d decodes, want %d", got, 2*len(items))
	}
	decodes.Store(0)
	tc, _ := NewTensorCache(TensorCacheOptions{MaxBytes: DefaultTensorCacheBytes})
	opt.TensorCache = tc
	cachedA, cachedB := scores(t, c, a, items, opt), scores(t, c, b, items, opt)
	if got := decodes.Load(); got != int64(len(items)) {
		t.Errorf("with a tensor cache: %d decodes for two models, want %d (once per image)", got, len(items))
	}
	if st := tc.Stats(); st.Hits != int64(len(items)) || st.Misses != int64(len(items)) {
		t.Errorf("stats %+v: want %d hits and misses", st, len(items))
	}
	for _, it := range items {
		for _, got := range []float64{plainB[it.Image], cachedA[it.Image], cachedB[it.Image]} {
			if got != plainA[it.Image] {
				t.Errorf("%s: scores %v %v %v %v differ with the cache", it.Image, plainA[it.Image], plainB[it.Image], cachedA[it.Image], cachedB[it.Image])
			}
		}
	}
}

// An image file rewritten between two models' runs misses: the second model decodes it again and
// scores the new content, never the old tensor.
func TestRunChangedImageMisses(t *testing.T) {
	c, a, b := startTwinServer(t)
	items := makeItems(t, 4)
	decodes := countDecodes(t)
	tc, _ := NewTensorCache(TensorCacheOptions{MaxBytes: DefaultTensorCacheBytes})
	opt := Options{Batch: 4, Concurrency: 1, TensorCache: tc}
	before := scores(t, c, a, items, opt)
	writeGrey(t, items[2].Path, 200)
	decodes.Store(0)
	after := scores(t, c, b, items, opt)
	if got := decodes.Load(); got != 1 {
		t.Errorf("second model: %d decodes, want 1 (the changed image)", got)
	}
	if before[items[2].Image] != 20 || after[items[2].Image] != 200 {
		t.Errorf("changed image scored %v then %v, want 20 then 200", before[items[2].Image], after[items[2].Image])
	}
	for _, i := range []int{0, 1, 3} {
		if before[items[i].Image] != after[items[i].Image] {
			t.Errorf("%s: %v then %v", items[i].Image, before[items[i].Image], after[items[i].Image])
		}
	}
}

// A cache smaller than the dataset still serves the next model what it holds: Run sends those
// images first, before the misses evict them.
func TestRunSmallCacheStillHits(t *testing.T) {
	c, a, b := startTwinServer(t)
	items := makeItems(t, 10)
	per := int64(3*16*16 + entryOverhead)
	tc, _ := NewTensorCache(TensorCacheOptions{MaxBytes: 4 * per})
	decodes := countDecodes(t)
	opt := Options{Batch: 1, Concurrency: 1, Workers: 1, TensorCache: tc}
	scores(t, c, a, items, opt)
	decodes.Store(0)
	scores(t, c, b, items, opt)
	if got := decodes.Load(); got != 6 {
		t.Errorf("second model: %d decodes, want 6 (4 of 10 tensors fit)", got)
	}
}

// Inputs through system shared memory score exactly as inputs in the request, and the regions are
// unregistered and removed when the run ends.
func TestRunSharedMemory(t *testing.T) {
	if _, err := os.Stat(shmDir); err != nil {
		t.Skipf("no %s: %v", shmDir, err)
	}
	c, a, _ := startTwinServer(t)
	items := makeItems(t, 9)
	if err := ProbeSharedMemory(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	plain := scores(t, c, a, items, Options{Batch: 4, Concurrency: 2})
	viaSHM := scores(t, c, a, items, Options{Batch: 4, Concurrency: 2, SharedMemory: true})
	for _, it := range items {
		if plain[it.Image] != viaSHM[it.Image] {
			t.Errorf("%s: %v in the request, %v through shared memory", it.Image, plain[it.Image], viaSHM[it.Image])
		}
	}
	regions, err := c.SystemSharedMemoryStatus(context.Background(), "")
	if err != nil || len(regions) != 0 {
		t.Errorf("regions left registered: %v (%v)", regions, err)
	}
	left, _ := filepath.Glob(filepath.Join(shmDir, fmt.Sprintf("agiqa_run_%d_*", os.Getpid())))
	if len(left) != 0 {
		t.Errorf("shared-memory objects left: %v", left)
	}
}

// The progress line names the bottleneck once both stages have data.
func TestLineProgressStages(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false, 0).(*lineProgress)
	p.Start("m v1", 4, 0)
	m := &stageMeter{workers: 2, inFlight: 4}
	p.Stages(m.rates)
	p.Add(1)                           // no stage data yet: no stage text
	m.prepared(10 * time.Millisecond)  // 2 workers at 100 img/s each
	m.inferred(8, 20*time.Millisecond) // 4 in flight at 400 img/s each
	p.Add(1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if strings.Contains(lines[1], "prep") {
		t.Errorf("stage text before any data: %q", lines[1])
	}
	if want := "prep 200 img/s (2 workers), infer 1600 img/s (4 in flight): preprocessing bound"; !strings.HasSuffix(lines[2], want) {
		t.Errorf("got %q, want it to end %q", lines[2], want)
	}
}
