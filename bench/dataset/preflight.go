package dataset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
)

// MaxPreflightFailures is how many failures a PreflightReport keeps.
const MaxPreflightFailures = 10

// PreflightFailure is one image that is missing or does not decode.
type PreflightFailure struct {
	Image string `json:"image"`
	Path  string `json:"path"`
	Err   string `json:"error"`
}

func (f PreflightFailure) String() string {
	if f.Path == "" { // no images folder: the label file's name is all there is
		return f.Image + ": " + f.Err
	}
	return f.Path + ": " + f.Err
}

// PreflightReport summarises a Preflight run.
type PreflightReport struct {
	// Checked counts the images examined (all of them unless cancelled).
	Checked int `json:"checked"`
	// Bad counts images that are missing or do not decode.
	Bad int `json:"bad"`
	// Failures holds the first MaxPreflightFailures failures in dataset order.
	Failures []PreflightFailure `json:"failures,omitempty"`
	// BadImages names every bad image (as in the label file), in dataset order,
	// so a caller can drop them all (--skip-bad-images).
	BadImages []string `json:"bad_images,omitempty"`
	// Err is the context's error when the run was cancelled before the end.
	Err error `json:"-"`
}

// OK reports whether every image was checked and is good.
func (r PreflightReport) OK() bool { return r.Bad == 0 && r.Err == nil }

// Error summarises the failures as one error (nil when OK).
func (r PreflightReport) Error() error {
	if r.OK() {
		return nil
	}
	if r.Bad == 0 {
		return fmt.Errorf("preflight stopped after %d images: %w", r.Checked, r.Err)
	}
	lines := make([]string, len(r.Failures))
	for i, f := range r.Failures {
		lines[i] = "  " + f.String()
	}
	more := ""
	if r.Bad > len(r.Failures) {
		more = fmt.Sprintf("\n  ... and %d more", r.Bad-len(r.Failures))
	}
	return fmt.Errorf("preflight: %d of %d images missing or unreadable:\n%s%s", r.Bad, r.Checked, strings.Join(lines, "\n"), more)
}

// Preflight checks, before any inference, that every image exists and
// decodes completely (a truncated JPEG fails here rather than halfway
// through a benchmark), with the decoder and pixel limit inference uses. workers <= 0 means GOMAXPROCS. Cancelling ctx stops
// the check; the report then holds what was checked and ctx's error.
func Preflight(ctx context.Context, ds *Dataset, workers int) PreflightReport {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type result struct {
		i   int
		err error
	}
	jobs := make(chan int)
	results := make(chan result)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results <- result{i, checkImage(ctx, ds.Items[i].Path)}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range ds.Items {
			if ctx.Err() != nil { // checked first: select picks randomly among ready cases
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var rep PreflightReport
	var failed []result
	for r := range results {
		rep.Checked++
		if r.err != nil {
			rep.Bad++
			failed = append(failed, r)
		}
	}
	rep.Err = ctx.Err()
	if rep.Checked == len(ds.Items) {
		rep.Err = nil // finished before the cancellation landed
	}
	sort.Slice(failed, func(a, b int) bool { return failed[a].i < failed[b].i })
	for _, r := range failed {
		rep.BadImages = append(rep.BadImages, ds.Items[r.i].Image)
	}
	for _, r := range failed[:min(len(failed), MaxPreflightFailures)] {
		it := ds.Items[r.i]
		rep.Failures = append(rep.Failures, PreflightFailure{Image: it.Image, Path: it.Path, Err: r.err.Error()})
	}
	return rep
}

var errNoPath = errors.New("no image path (no images folder given)")

// checkImage reads and decodes the image the way inference will (preprocess.ReadFile, then the
// default Decoder, within its pixel limit), so what passes here decodes there. A FIFO, a device,
// a folder or an empty file named like an image is refused without blocking.
func checkImage(ctx context.Context, path string) error {
	if path == "" {
		return errNoPath
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return errors.New("missing")
	}
	data, err := preprocess.ReadFile(ctx, path)
	if err == nil {
		_, err = preprocess.Decode(data, path)
	}
	if err == nil {
		return nil
	}
	// The failure is reported beside its path: drop the path from preprocess's wording.
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "preprocess: image "+path+" "); ok {
		return errors.New(rest)
	}
	if rest, ok := strings.CutPrefix(msg, "preprocess: decode image "+path+": "); ok {
		msg = rest
	}
	return fmt.Errorf("does not decode: %s", msg)
}
