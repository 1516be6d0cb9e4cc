//go:build cgo

package ortbackend

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// ortBackend loads the library from the standard places (.tools/ort in a checkout).
func ortBackend(t *testing.T) *Backend {
	t.Helper()
	b, err := New("", WithIntraOpThreads(1))
	if err != nil {
		testenv.SkipOrFail(t, testenv.RequireORT, "ONNX Runtime unavailable: %v", err)
	}
	return b
}

const toyConfig = `
platform: "onnxruntime_onnx"
max_batch_size: 4
input [
  { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 4, 4 ] },
  { name: "TOKENS" data_type: TYPE_INT64 dims: [ 77 ] }
]
output [
  { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] },
  { name: "ALIGNMENT" data_type: TYPE_FP32 dims: [ 1 ] }
]
instance_group [ { kind: KIND_CPU count: 2 } ]
dynamic_batching { max_queue_delay_microseconds: 500000 }
`

// toyInputs makes batch rows whose expected outputs differ per row (seed).
func toyInputs(t *testing.T, seed, batch int) (image, tokens *tensor.Tensor, quality, alignment []float32) {
	t.Helper()
	pix := make([]uint8, batch*48)
	tok := make([]int64, batch*77)
	for b := 0; b < batch; b++ {
		var sum, tsum int64
		for i := 0; i < 48; i++ {
			v := uint8((seed*37 + b*11 + i*i*7) % 256)
			pix[b*48+i] = v
			sum += int64(v)
		}
		tok[b*77] = 49406
		for i := 1; i < 5+b+seed%7; i++ {
			tok[b*77+i] = int64(100*seed + 3*i + b)
		}
		for i := 0; i < 77; i++ {
			tsum += tok[b*77+i]
		}
		quality = append(quality, float32(float64(sum)/48))
		alignment = append(alignment, float32(tsum))
	}
	var err error
	if image, err = tensor.NewUint8("IMAGE", []int64{int64(batch), 3, 4, 4}, pix); err != nil {
		t.Fatal(err)
	}
	if tokens, err = tensor.NewInt64("TOKENS", []int64{int64(batch), 77}, tok); err != nil {
		t.Fatal(err)
	}
	return image, tokens, quality, alignment
}

func closeTo(got, want []float32, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol*math.Max(1, math.Abs(float64(want[i]))) {
			return false
		}
	}
	return true
}

func TestLoadAndExecute(t *testing.T) {
	b := ortBackend(t)
	repo := writeRepo(t, map[string]repoModel{"toy": {config: toyConfig, files: map[string][]byte{"model.onnx": toyONNX(t)}}})
	m := repo.Model("toy")
	ctx := context.Background()

	ins, outs, err := b.Inspect(ctx, m, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ti := range append(ins, outs...) {
		got = append(got, ti.Name+" "+ti.String())
	}
	want := []string{"IMAGE UINT8 [-1,3,4,4]", "TOKENS INT64 [-1,77]", "QUALITY FP32 [-1,1]", "ALIGNMENT FP32 [-1,1]"}
	if !slices.Equal(got, want) {
		t.Errorf("Inspect = %q, want %q", got, want)
	}

	inst, err := b.Load(ctx, m, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	image, tokens, q, a := toyInputs(t, 3, 3)
	res, err := inst.Execute(ctx, []*tensor.Tensor{image, tokens})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d outputs, want 2", len(res))
	}
	gq, err := res[0].Float32s()
	if err != nil || res[0].Name != "QUALITY" || !slices.Equal(res[0].Shape, []int64{3, 1}) || !closeTo(gq, q, 1e-6) {
		t.Errorf("QUALITY %v %v = %v (%v), want %v", res[0].Name, res[0].Shape, gq, err, q)
	}
	ga, err := res[1].Float32s()
	if err != nil || !slices.Equal(res[1].Shape, []int64{3, 1}) || !closeTo(ga, a, 0) {
		t.Errorf("ALIGNMENT %v = %v (%v), want %v", res[1].Shape, ga, err, a)
	}
}

// Variable dims: the request's shape reaches the graph, and ONNX Runtime
// allocates the output, which the backend converts.
func TestVariableDims(t *testing.T) {
	b := ortBackend(t)
	cfg := `
platform: "onnxruntime_onnx"
max_batch_size: 2
input [ { name: "SEQ" data_type: TYPE_INT64 dims: [ -1 ] } ]
output [ { name: "ECHO" data_type: TYPE_INT64 dims: [ -1 ] } ]
`
	repo := writeRepo(t, map[string]repoModel{"echo": {config: cfg, files: map[string][]byte{"model.onnx": generatedONNX(t, "echo.onnx")}}})
	inst, err := b.Load(context.Background(), repo.Model("echo"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	seq, _ := tensor.NewInt64("SEQ", []int64{2, 3}, []int64{1, -2, 3, 1 << 40, 5, -6})
	res, err := inst.Execute(context.Background(), []*tensor.Tensor{seq})
	if err != nil {
		t.Fatal(err)
	}
	got, err := res[0].Int64s()
	if err != nil || res[0].Name != "ECHO" || !slices.Equal(res[0].Shape, []int64{2, 3}) || !slices.Equal(got, []int64{1, -2, 3, 1 << 40, 5, -6}) {
		t.Errorf("ECHO %s %v = %v (%v), want SEQ back", res[0].Name, res[0].Shape, got, err)
	}
}

func TestExecuteRefusesBadInput(t *testing.T) {
	b := ortBackend(t)
	repo := writeRepo(t, map[string]repoModel{"toy": {config: toyConfig, files: map[string][]byte{"model.onnx": toyONNX(t)}}})
	inst, err := b.Load(context.Background(), repo.Model("toy"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	image, tokens, _, _ := toyInputs(t, 1, 2)
	wide, _ := tensor.NewUint8("IMAGE", []int64{1, 3, 4, 5}, make([]uint8, 60))
	big, _ := tensor.NewUint8("IMAGE", []int64{5, 3, 4, 4}, make([]uint8, 5*48))
	for _, c := range []struct {
		name   string
		in     []*tensor.Tensor
		errHas string
	}{
		{"missing input", []*tensor.Tensor{image}, `input "TOKENS" is missing`},
		{"shape", []*tensor.Tensor{wide, tokens}, `input "IMAGE" has shape [1,3,4,5]; config.pbtxt expects [-1,3,4,4]`},
		{"batch too large", []*tensor.Tensor{big, tokens}, `1..4 (max_batch_size)`},
		{"batch sizes differ", []*tensor.Tensor{func() *tensor.Tensor { i, _, _, _ := toyInputs(t, 1, 1); return i }(), tokens}, `batch size 2, an earlier input 1`},
	} {
		_, err := inst.Execute(context.Background(), c.in)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.errHas) || !strings.Contains(err.Error(), `model "toy" version 1`) {
			t.Errorf("%s: err = %v, want InvalidArgument naming the model and %q", c.name, err, c.errHas)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := inst.Execute(ctx, []*tensor.Tensor{image, tokens}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
	if err := inst.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Execute(context.Background(), []*tensor.Tensor{image, tokens}); status.Code(err) != codes.Unavailable {
		t.Errorf("after Close: err = %v, want Unavailable", err)
	}
}

// An ONNX file whose inputs do not match its config fails to load with both shapes named.
func TestMismatchFailsToLoadNamingBothShapes(t *testing.T) {
	b := ortBackend(t)
	bad := strings.Replace(toyConfig, "dims: [ 3, 4, 4 ]", "dims: [ 3, 8, 8 ]", 1)
	bad = strings.Replace(bad, `name: "TOKENS" data_type: TYPE_INT64`, `name: "TOKENS" data_type: TYPE_INT32`, 1)
	onnx := toyONNX(t)
	repo := writeRepo(t, map[string]repoModel{
		"bad":  {config: bad, files: map[string][]byte{"model.onnx": onnx}},
		"good": {config: toyConfig, files: map[string][]byte{"model.onnx": onnx}},
	})
	_, err := b.Load(context.Background(), repo.Model("bad"), 1)
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Load = %v, want a *MismatchError", err)
	}
	wantHas := []string{`model "bad" version 1`, `input "IMAGE": config.pbtxt expects UINT8 [-1,3,8,8], model.onnx has UINT8 [-1,3,4,4]`,
		`input "TOKENS": config.pbtxt expects INT32 [-1,77], model.onnx has INT64 [-1,77]`}
	for _, s := range wantHas {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Load error %q does not say %q", err, s)
		}
	}

	srv, err := server.New(repo, server.WithBackend(Name, b))
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, srv)
	if ready, _ := c.ModelReady(context.Background(), "bad", ""); ready {
		t.Error("mismatched model is ready")
	}
	if reason := reasonOf(t, c, "bad"); !strings.Contains(reason, wantHas[1]) {
		t.Errorf("server reason %q does not name both shapes", reason)
	}
	if ready, err := c.ModelReady(context.Background(), "good", ""); !ready || err != nil {
		t.Errorf("good model ModelReady = %v, %v", ready, err)
	}
}

// Concurrent single-image requests are merged by the server's dynamic
// batcher into batches this backend runs; every request gets its own rows.
func TestServedDynamicBatches(t *testing.T) {
	opt, err := ForServer("", WithIntraOpThreads(1))
	if err != nil {
		testenv.SkipOrFail(t, testenv.RequireORT, "ONNX Runtime unavailable: %v", err)
	}
	repo := writeRepo(t, map[string]repoModel{"toy": {config: toyConfig, files: map[string][]byte{"model.onnx": toyONNX(t)}}})
	srv, err := server.New(repo, opt)
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, srv)
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			image, tokens, q, a := toyInputs(t, i, 1)
			res, err := c.Infer(ctx, client.InferRequest{Model: "toy", Inputs: []*tensor.Tensor{image, tokens}})
			if err != nil {
				errs[i] = err
				return
			}
			gq, err1 := res.Float32s("QUALITY")
			ga, err2 := res.Float32s("ALIGNMENT")
			if err := errors.Join(err1, err2); err != nil || !closeTo(gq, q, 1e-6) || !closeTo(ga, a, 0) {
				errs[i] = errors.New("request got another row's scores or none")
			}
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	stats, err := c.ModelStatistics(ctx, "toy", "")
	if err != nil || len(stats) != 1 {
		t.Fatalf("statistics: %v, %v", stats, err)
	}
	inf, exe := stats[0].GetInferenceCount(), stats[0].GetExecutionCount()
	t.Logf("%d requests ran in %d executions", inf, exe)
	if inf != n || exe >= inf {
		t.Errorf("inference count %d, execution count %d: want %d requests run in fewer (merged) executions", inf, exe, n)
	}
}

func TestNewRefusesASecondLibrary(t *testing.T) {
	b := ortBackend(t)
	other := filepath.Join(t.TempDir(), libraryNames()[0])
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(other)
	if err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), b.LibraryPath()) {
		t.Errorf("New(%s) after loading %s: %v; want an error naming both", other, b.LibraryPath(), err)
	}
	if b2, err := New(b.LibraryPath()); err != nil || b2.Version() != b.Version() {
		t.Errorf("New with the loaded library again: %v", err)
	}
	if !strings.HasPrefix(b.Version(), "1.") {
		t.Errorf("Version() = %q", b.Version())
	}
}

func TestLoadNamesAMissingModelFile(t *testing.T) {
	b := ortBackend(t)
	cfg := strings.Replace(toyConfig, `platform: "onnxruntime_onnx"`, "platform: \"onnxruntime_onnx\"\ndefault_model_filename: \"toy.onnx\"", 1)
	repo := writeRepo(t, map[string]repoModel{"toy": {config: cfg, files: map[string][]byte{"model.onnx": toyONNX(t)}}})
	_, err := b.Load(context.Background(), repo.Model("toy"), 1)
	want := `model "toy" version 1: toy.onnx is missing from the version folder ` + filepath.Join(repo.LocalDir(), "toy", "1") + " (it holds model.onnx)"
	if err == nil || err.Error() != want {
		t.Errorf("Load = %v\nwant %s", err, want)
	}
}

// Bytes that are not an ONNX model can parse as an empty protobuf; the error
// must say so instead of listing every tensor as absent.
func TestLoadNamesAFileThatIsNotAModel(t *testing.T) {
	b := ortBackend(t)
	toy := toyONNX(t)
	for name, data := range map[string][]byte{
		"garbage":   []byte("not an onnx model"),
		"truncated": toy[:len(toy)/3],
	} {
		repo := writeRepo(t, map[string]repoModel{"toy": {config: toyConfig, files: map[string][]byte{"model.onnx": data}}})
		_, err := b.Load(context.Background(), repo.Model("toy"), 1)
		if err == nil {
			t.Fatalf("%s: Load succeeded", name)
		}
		msg := err.Error()
		if !strings.Contains(msg, `model "toy" version 1`) || !strings.Contains(msg, "model.onnx") ||
			strings.Contains(msg, "has no such input") {
			t.Errorf("%s: Load = %v; want the model, version and file named, not a list of absent tensors", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}
