// Package extractor is the registry of handcrafted feature extractors (CEIQ, GM-LOG, HIGRADE,
// BRISQUE, ...): what `agiqa train svr --feature NAME` extracts and what a served SVR model computes
// before its regression, so both run the same function.
package extractor

import (
	"fmt"
	"sort"
	"sync"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/bench/featcache"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
)

// Extractor computes one fixed-length feature vector per image, at the image's own size.
type Extractor struct {
	// Name is the --feature name and the served function's suffix (svr_<name>).
	Name string
	// Version changes whenever the output changes, so cached vectors of an older one are not reused.
	Version string
	// Len is the length of every vector.
	Len int
	// Catalog is the paper-table row an SVR on these features fills.
	Catalog string
	// Features computes the vector of a channel-first RGB image.
	Features func(im *matlab.RGB8) ([]float64, error)
}

var (
	mu    sync.RWMutex
	byKey = map[string]Extractor{}
)

// Register adds e; a package registers its extractor in init. A duplicate or incomplete entry is a
// programming error and panics at start-up.
func Register(e Extractor) {
	if e.Name == "" || e.Version == "" || e.Len <= 0 || e.Features == nil {
		panic(fmt.Sprintf("extractor: incomplete registration %+v", e))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := byKey[e.Name]; dup {
		panic(fmt.Sprintf("extractor: %q registered twice", e.Name))
	}
	byKey[e.Name] = e
}

// Lookup returns the extractor registered under name.
func Lookup(name string) (Extractor, bool) {
	mu.RLock()
	defer mu.RUnlock()
	e, ok := byKey[name]
	return e, ok
}

// Names lists the registered extractors, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(byKey))
	for k := range byKey {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FromPacked converts a decoded image (R, G, B per pixel, row by row) to the channel-first layout the
// model contract sends and the extractors take.
func FromPacked(img preprocess.RGB) *matlab.RGB8 {
	n := img.W * img.H
	out := &matlab.RGB8{H: img.H, W: img.W, Pix: make([]uint8, 3*n)}
	for i := 0; i < n; i++ {
		out.Pix[i] = img.Pix[3*i]
		out.Pix[n+i] = img.Pix[3*i+1]
		out.Pix[2*n+i] = img.Pix[3*i+2]
	}
	return out
}

// ForCache is e as bench/featcache extracts it from decoded files.
func (e Extractor) ForCache() featcache.Extractor {
	return featcache.Extractor{Name: e.Name, Version: e.Version, Len: e.Len,
		Features: func(img preprocess.RGB) ([]float64, error) { return e.Features(FromPacked(img)) }}
}
