package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"google.golang.org/grpc/codes"
)

// Sending prepared items to the server and reading their outputs.

func inferWithRetry(ctx context.Context, c *client.Client, m *Model, version string, b []prepared, opt Options, shm *shmInputs) ([]Prediction, time.Duration, error) {
	var lastErr error
	delay := opt.Backoff
	for attempt := 0; attempt <= opt.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
			delay *= 2
		}
		preds, lat, err := inferBatch(ctx, c, m, version, b, shm)
		if err == nil {
			return preds, lat, nil
		}
		lastErr = err
		if errors.Is(err, ErrSharedMemory) {
			return nil, 0, err
		}
		switch client.Code(err) {
		case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.ResourceExhausted,
			codes.DataLoss: // DataLoss: a response the client cannot decode (client.IsBadResponse)
			return nil, 0, err // retrying cannot help
		}
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
	}
	return nil, 0, lastErr
}

// inferBatch sends one request; with shm its inputs travel in that shared-memory region.
func inferBatch(ctx context.Context, c *client.Client, m *Model, version string, b []prepared, shm *shmInputs) ([]Prediction, time.Duration, error) {
	n := int64(len(b))
	H, W := int64(b[0].image.H), int64(b[0].image.W)
	imgShape := []int64{n, 3, H, W}
	tokShape := []int64{n, int64(m.TokenLength)}
	if m.MaxBatch == 0 {
		imgShape, tokShape = imgShape[1:], tokShape[1:]
	}
	pix := make([]uint8, 0, n*3*H*W)
	for _, p := range b {
		if int64(p.image.H) != H || int64(p.image.W) != W {
			// groupBySize never does this; a request holds one shape.
			return nil, 0, fmt.Errorf("model %s: image %s is %dx%d, image %s in the same request %dx%d",
				m.Name, p.item.Image, p.image.W, p.image.H, b[0].item.Image, W, H)
		}
		pix = append(pix, p.image.Pix...)
	}
	img, err := tensor.NewUint8(InputImage, imgShape, pix)
	if m.Encoded {
		img, err = encodedImage(m, b)
	}
	if err != nil {
		return nil, 0, err
	}
	inputs := []*tensor.Tensor{img}
	if m.Prompt {
		ids := make([]int64, 0, n*int64(m.TokenLength))
		var mask []int64
		for _, p := range b {
			ids = append(ids, p.tokens...)
			mask = append(mask, p.mask...)
		}
		tok, err := tensor.NewInt64(InputTokens, tokShape, ids)
		if err != nil {
			return nil, 0, err
		}
		inputs = append(inputs, tok)
		if m.TokenMask {
			mt, err := tensor.NewInt64(InputTokensMask, tokShape, mask)
			if err != nil {
				return nil, 0, err
			}
			inputs = append(inputs, mt)
		}
	}
	target, tv := m.target(version) // encoded.go
	req := client.InferRequest{Model: target, Version: tv, Inputs: inputs, Outputs: m.Outputs}
	if shm != nil {
		if req.SharedMemoryInputs, err = shm.place(ctx, inputs); err != nil {
			return nil, 0, err
		}
		req.Inputs = nil
	}
	start := time.Now()
	res, err := c.Infer(ctx, req)
	lat := time.Since(start)
	if err != nil {
		return nil, lat, err
	}
	preds := make([]Prediction, len(b))
	for i, p := range b {
		preds[i] = Prediction{Image: p.item.Image, Input: p.input, LatencyMS: float64(lat) / float64(time.Millisecond), Batch: len(b)}
	}
	for _, name := range m.Outputs {
		out, err := res.Output(name)
		if err != nil {
			return nil, lat, err
		}
		vals, err := out.Float64Values()
		if err != nil {
			return nil, lat, fmt.Errorf("model %s output %s: %w", m.Name, name, err)
		}
		if int64(len(vals)) != n {
			return nil, lat, fmt.Errorf("model %s output %s: %d values for a batch of %d", m.Name, name, len(vals), n)
		}
		for i := range preds {
			v := vals[i]
			if name == OutputQuality {
				preds[i].Quality = &v
			} else {
				preds[i].Alignment = &v
			}
		}
	}
	return preds, lat, nil
}

// InferOne scores a single image (and prompt, for prompt models) the way Run
// does: same preprocessing, same request, outputs decoded by name.
func InferOne(ctx context.Context, c *client.Client, m *Model, version, path, prompt string, tok Tokenizers) (Prediction, error) {
	if err := tok.Check(m); err != nil {
		return Prediction{}, err
	}
	p, err := prepare(ctx, m, dataset.Item{Image: path, Path: path, Prompt: prompt}, tok, nil)
	if err != nil {
		return Prediction{}, err
	}
	preds, _, err := inferBatch(ctx, c, m, version, []prepared{p}, nil)
	if err != nil {
		return Prediction{}, err
	}
	return preds[0], nil
}
