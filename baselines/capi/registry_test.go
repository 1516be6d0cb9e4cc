package main

import (
	"context"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/baselines"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

func init() {
	native.Register("capitest.panic", func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) {
		var m map[string]int
		m["x"]++ // a nil-map write: a runtime panic, as a model bug would raise
		return nil, nil
	})
	native.Register("capitest.plainerr", func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return nil, os.ErrClosed
	})
	native.RegisterLoader("capitest.loader", func(_ context.Context, files fs.FS) (native.Func, error) {
		_, err := fs.ReadFile(files, "weights.bin")
		return nil, err
	})
}

func wantCode(t *testing.T, what string, err error, code codes.Code, subs ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("%s: %v (code %v), want %v", what, err, status.Code(err), code)
		return
	}
	for _, s := range subs {
		if !strings.Contains(status.Convert(err).Message(), s) {
			t.Errorf("%s: message %q lacks %q", what, status.Convert(err).Message(), s)
		}
	}
}

func randomImages(seed uint64, b, h, w int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	img := make([]byte, b*3*h*w)
	for i := range img {
		img[i] = byte(r.IntN(256))
	}
	return img
}

// The library scores through the registry's own function: the same float32 bits.
func TestRunMatchesRegisteredFunction(t *testing.T) {
	const b, h, w = 3, 17, 23
	img := randomImages(1, b, h, w)
	for _, name := range []string{baselines.LaplacianVarianceFunc, baselines.RMSContrastFunc} {
		hdl, err := load(name, "")
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, b)
		if err := run(context.Background(), hdl, img, []int64{b, 3, h, w}, got); err != nil {
			t.Fatal(err)
		}
		in, _ := tensor.NewUint8("IMAGE", []int64{b, 3, h, w}, img)
		f, _ := native.Lookup(name)
		outs, err := f(context.Background(), []*tensor.Tensor{in})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := outs[0].Float32s()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s image %d: %v, registry %v", name, i, got[i], want[i])
			}
		}
		if err := free(hdl); err != nil {
			t.Error(err)
		}
		wantCode(t, "run after free", run(context.Background(), hdl, img, []int64{b, 3, h, w}, got), codes.NotFound, "not loaded")
		wantCode(t, "second free", free(hdl), codes.NotFound)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := load("nope", "")
	wantCode(t, "unknown function", err, codes.NotFound, `"nope" is not registered`, baselines.LaplacianVarianceFunc)
	_, err = load("", "")
	wantCode(t, "no name", err, codes.InvalidArgument, "no native function")
	missing := filepath.Join(t.TempDir(), "9")
	_, err = load(baselines.RMSContrastFunc, missing)
	wantCode(t, "missing folder", err, codes.NotFound, missing)
	dir := t.TempDir()
	_, err = load("capitest.loader", dir)
	wantCode(t, "loader without its file", err, codes.InvalidArgument, dir, `native loader "capitest.loader"`, "weights.bin")
	_, err = load("capitest.loader", "")
	wantCode(t, "loader without folder", err, codes.InvalidArgument, "no version folder")
}

// A model.native in the version folder names the function, as in the embedded server.
func TestModelNativeFileWins(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, native.FunctionFile), []byte("# chosen here\n"+baselines.RMSContrastFunc+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hdl, err := load(baselines.LaplacianVarianceFunc, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer free(hdl)
	// Half black, half white: RMS contrast 127.5, Laplacian variance far from it.
	img := make([]byte, 3*4*4)
	for i := range img {
		if i%4 >= 2 {
			img[i] = 255
		}
	}
	got := make([]float32, 1)
	if err := run(context.Background(), hdl, img, []int64{1, 3, 4, 4}, got); err != nil {
		t.Fatal(err)
	}
	if got[0] != 127.5 {
		t.Errorf("score %v, want RMS contrast 127.5", got[0])
	}
}

func TestRunErrors(t *testing.T) {
	hdl, err := load(baselines.LaplacianVarianceFunc, "")
	if err != nil {
		t.Fatal(err)
	}
	defer free(hdl)
	out := make([]float32, 2)
	img := randomImages(2, 2, 8, 8)
	ctx := context.Background()
	name := baselines.LaplacianVarianceFunc
	wantCode(t, "one channel", run(ctx, hdl, img[:2*8*8], []int64{2, 1, 8, 8}, out), codes.InvalidArgument, name, "IMAGE")
	wantCode(t, "short buffer", run(ctx, hdl, img[:10], []int64{2, 3, 8, 8}, out), codes.InvalidArgument, name, "IMAGE", "needs 384 bytes, got 10")
	wantCode(t, "negative dimension", run(ctx, hdl, img, []int64{2, 3, -8, 8}, out), codes.InvalidArgument, "IMAGE", "negative")
	wantCode(t, "overflow", run(ctx, hdl, img, []int64{1 << 40, 1 << 40}, out), codes.InvalidArgument, "too many")
	wantCode(t, "2x2 image", run(ctx, hdl, img[:2*3*2*2], []int64{2, 3, 2, 2}, out), codes.InvalidArgument, name, "IMAGE")
	wantCode(t, "output size", run(ctx, hdl, img, []int64{2, 3, 8, 8}, out[:1]), codes.Internal, "QUALITY has 2 values", "expects 1")
	wantCode(t, "unknown handle", run(ctx, 1<<60, img, []int64{2, 3, 8, 8}, out), codes.NotFound)

	for fn, want := range map[string][]string{"capitest.panic": {"capitest.panic: panic:", "nil map"}, "capitest.plainerr": {"capitest.plainerr:", "closed"}} {
		h, err := load(fn, "")
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, fn, run(ctx, h, img, []int64{2, 3, 8, 8}, out), codes.Internal, want...)
		free(h)
	}
}

func TestVersionNamesFunctions(t *testing.T) {
	v := versionString()
	for _, s := range []string{"ABI 1", baselines.LaplacianVarianceFunc, baselines.RMSContrastFunc} {
		if !strings.Contains(v, s) {
			t.Errorf("version %q lacks %q", v, s)
		}
	}
}
