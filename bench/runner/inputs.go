package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/internal/regfile"
	"google.golang.org/grpc/codes"
)

// What each item sends: the digests its prediction is cached under, and its prepared tensors.

// inputKeys digests what each item's prediction depends on besides the model:
// the image file's bytes and, for prompt models, the prompt as sent. An
// unreadable image gets "" (never a cache hit; preprocessing reports why).
func inputKeys(ctx context.Context, m *Model, items []dataset.Item, workers int) ([]string, error) {
	keys := make([]string, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				keys[i] = inputKey(m, items[i])
			}
		}()
	}
	var err error
feed:
	for i := range items {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return keys, err
}

func inputKey(m *Model, it dataset.Item) string {
	if it.Path == "" {
		return ""
	}
	// Only regular files, opened without blocking: reading a FIFO or device here would block, or
	// eat the bytes preprocessing needs.
	f, _, err := regfile.Open(it.Path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return inputKeyOf(f, m, it)
}

// digests returns the sha256 of an image file's bytes and the item's inputKeyOf, from one pass
// over the bytes.
func digests(data []byte, m *Model, it dataset.Item) (image [sha256.Size]byte, input string) {
	h := sha256.New()
	h.Write(data)
	h.Sum(image[:0])
	if !m.Prompt {
		return image, hex.EncodeToString(image[:16])
	}
	h.Write([]byte{0})
	h.Write([]byte(m.PromptPrefix + it.Prompt))
	return image, hex.EncodeToString(h.Sum(nil)[:16])
}

// inputKeyOf digests image content and, for prompt models, the prompt.
func inputKeyOf(image io.Reader, m *Model, it dataset.Item) string {
	h := sha256.New()
	if _, err := io.Copy(h, image); err != nil {
		return ""
	}
	if m.Prompt {
		h.Write([]byte{0})
		h.Write([]byte(m.PromptPrefix + it.Prompt))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func versionLabel(v string) string {
	if v == "" {
		return "latest"
	}
	return v
}

// isTransient: the server is unreachable or gone, not the item's fault.
func isTransient(err error) bool {
	switch client.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// beforePrepare, when set (tests only), runs as a worker starts preparing an item: it can hold one.
var beforePrepare func(dataset.Item)

// decodeCHW is preprocess.DecodeCHW; tests count the decodes through it.
var decodeCHW = preprocess.DecodeCHW

// prepare reads, hashes and preprocesses one item. The IMAGE tensor comes from tc when an earlier
// model with the same (size, method) already made it from the same bytes.
func prepare(ctx context.Context, m *Model, it dataset.Item, tok Tokenizers, tc *TensorCache) (prepared, error) {
	if beforePrepare != nil {
		beforePrepare(it)
	}
	if it.Path == "" {
		return prepared{}, fmt.Errorf("image %s: no image path (give the images directory)", it.Image)
	}
	// Regular files only, within the pixel limit's byte bound, cancellable: a FIFO swapped in after
	// the preflight must not hang the run.
	data, err := preprocess.ReadFile(ctx, it.Path)
	if err != nil {
		return prepared{}, err
	}
	// Hashed from the bytes that are decoded: one read per image, one digest for the prediction
	// cache and the tensor cache.
	key := TensorKey{Method: m.Preprocess, Size: m.ImageSize}
	p := prepared{item: it}
	key.Digest, p.input = digests(data, m, it)
	if m.Encoded {
		p.encoded = data // the server decodes
	} else {
		p.image, err = tc.Get(key, func() (preprocess.CHW, error) { return decodeCHW(data, it.Path, m.ImageSize, m.Preprocess) })
		if err != nil {
			return p, err
		}
		tc.note(it.Path, key)
	}
	if m.Prompt {
		p.tokens, p.mask, _ = tok.Encode(m, m.PromptPrefix+it.Prompt)
	}
	return p, nil
}
