package ortbackend

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

const toyImageConfig = `
platform: "onnxruntime_onnx"
max_batch_size: 4
input [ { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 4, 4 ] } ]
output [ { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] } ]
`

// halfQuality answers 0.5 for every image of the batch.
func halfQuality(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	b := in[0].Shape[0]
	q := make([]float32, b)
	for i := range q {
		q[i] = 0.5
	}
	out, err := tensor.NewFP32("QUALITY", []int64{b, 1}, q)
	return []*tensor.Tensor{out}, err
}

func init() { native.Register("ortbackend_test_half", halfQuality) }

// Without the library the ONNX model is not ready and says why; the native one serves.
func TestMissingLibraryKeepsNativeModelsServing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere", "libonnxruntime.so.1")
	opt, err := ForServer(missing)
	if err == nil {
		t.Fatal("ForServer with a missing library reported no error")
	}
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("ForServer error %q does not name %s", err, missing)
	}
	repo := writeRepo(t, map[string]repoModel{
		// The file is never opened: the backend refuses before reading it.
		"toy": {config: toyImageConfig, files: map[string][]byte{"model.onnx": []byte("unused")}},
		"half": {config: strings.Replace(toyImageConfig, `platform: "onnxruntime_onnx"`, `backend: "native"`, 1),
			files: map[string][]byte{server.NativeFile: []byte("ortbackend_test_half\n")}},
	})
	srv, err := server.New(repo, opt)
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, srv)
	ctx := context.Background()

	if ready, err := c.ModelReady(ctx, "toy", ""); err != nil || ready {
		t.Errorf("toy ModelReady = %v, %v; want false", ready, err)
	}
	reason := reasonOf(t, c, "toy")
	for _, s := range []string{"ONNX Runtime is not available", missing, `model "toy" version 1`} {
		if !strings.Contains(reason, s) {
			t.Errorf("toy reason %q does not mention %q", reason, s)
		}
	}
	image, err := tensor.NewUint8("IMAGE", []int64{1, 3, 4, 4}, make([]uint8, 48))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Infer(ctx, client.InferRequest{Model: "toy", Inputs: []*tensor.Tensor{image}})
	// Triton answers NotFound for a model with no ready version ("has no available versions"); ours
	// carries the load failure's reason too.
	if client.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "ONNX Runtime is not available") {
		t.Errorf("infer on toy: %v; want NotFound with the reason", err)
	}

	res, err := c.Infer(ctx, client.InferRequest{Model: "half", Inputs: []*tensor.Tensor{image}})
	if err != nil {
		t.Fatalf("native model does not serve: %v", err)
	}
	q, err := res.Float32s("QUALITY")
	if err != nil || len(q) != 1 || q[0] != 0.5 {
		t.Errorf("native QUALITY = %v, %v; want [0.5]", q, err)
	}
}
