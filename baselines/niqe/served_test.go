package niqe

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

func imageTensor(t *testing.T, b, h, w int, pix []uint8) *tensor.Tensor {
	t.Helper()
	in, err := tensor.NewUint8("IMAGE", []int64{int64(b), 3, int64(h), int64(w)}, pix)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func serve(t *testing.T, fn native.Func, b, h, w int, pix []uint8) ([]float32, error) {
	t.Helper()
	out, err := fn(context.Background(), []*tensor.Tensor{imageTensor(t, b, h, w, pix)})
	if err != nil {
		return nil, err
	}
	if len(out) != 1 || out[0].Name != "QUALITY" || len(out[0].Shape) != 2 || out[0].Shape[0] != int64(b) || out[0].Shape[1] != 1 {
		t.Fatalf("outputs %v", out)
	}
	return out[0].Float32s()
}

// The version folder's MAT file, or the same model as niqe.json, serves
// I04 (TID2013: MATLAB's and Octave's rgb2gray agree) as the Octave
// reference at its own size.
func TestServedFromVersionFolder(t *testing.T) {
	raw, err := os.ReadFile(testenv.Shared(t, "data", "niqe", "modelparameters.mat"))
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := pristine(t).WriteJSON(&js, FitInfo{}); err != nil {
		t.Fatal(err)
	}
	fx := loadFixture(t)
	im := readPNG(t, filepath.Join(testenv.Shared(t, "data", "calibra"), "I04.png"))
	for _, files := range []fstest.MapFS{{MATFile: {Data: raw}}, {JSONFile: {Data: js.Bytes()}}} {
		fn, err := native.Load(context.Background(), NativeName, files)
		if err != nil {
			t.Fatal(err)
		}
		q, err := serve(t, fn, 1, im.H, im.W, im.Pix)
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(float64(q[0]), fx.Images["I04"].Quality); e > 1e-6 {
			t.Errorf("I04 served %.9g, Octave %.9g (relative %.2g)", q[0], fx.Images["I04"].Quality, e)
		}
	}
	both := fstest.MapFS{MATFile: {Data: raw}, JSONFile: {Data: js.Bytes()}}
	if _, err := native.Load(context.Background(), NativeName, both); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("both files: %v", err)
	}
	bad := fstest.MapFS{JSONFile: {Data: []byte(`{"format":"agiqa-niqe-model/1","mu":[1,2],"cov":[]}`)}}
	if _, err := native.Load(context.Background(), NativeName, bad); err == nil || !strings.Contains(err.Error(), "niqe.json") ||
		!strings.Contains(err.Error(), "2 means") {
		t.Errorf("2-feature niqe.json: %v", err)
	}
}

// An image under one block and a constant image fail with InvalidArgument
// naming the model, the image's size and the reason.
func TestServedBadImages(t *testing.T) {
	raw, err := os.ReadFile(testenv.Shared(t, "data", "niqe", "modelparameters.mat"))
	if err != nil {
		t.Fatal(err)
	}
	fn, err := native.Load(context.Background(), NativeName, fstest.MapFS{MATFile: {Data: raw}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = serve(t, fn, 1, 95, 120, make([]uint8, 3*95*120))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "niqe: IMAGE 0 of [1 3 95 120]") ||
		!strings.Contains(err.Error(), "95x120 is smaller than one 96x96 block") {
		t.Errorf("95x120: %v", err)
	}
	_, err = serve(t, fn, 1, 100, 100, bytes.Repeat([]uint8{9}, 3*100*100))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "zero variance") {
		t.Errorf("constant image: %v", err)
	}
}

// With no file in the version folder the loader reads the cache; an empty
// cache names `agiqa fetch niqe-params`.
func TestServedFallsBackToCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("AGIQA_CACHE", cache)
	_, err := native.Load(context.Background(), NativeName, fstest.MapFS{})
	if err == nil || !strings.Contains(err.Error(), "agiqa fetch niqe-params") {
		t.Errorf("empty cache: %v; want the fetch command named", err)
	}
	raw, err := os.ReadFile(testenv.Shared(t, "data", "niqe", "modelparameters.mat"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cache, "niqe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "niqe", MATFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := native.Load(context.Background(), NativeName, fstest.MapFS{}); err != nil {
		t.Errorf("published file in the cache: %v", err)
	}
}
