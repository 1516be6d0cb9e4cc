package brisque

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

func sharedFile(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(testenv.Shared(t, "data", "brisque", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func imageTensor(t *testing.T, b, h, w int, pix []uint8) *tensor.Tensor {
	t.Helper()
	in, err := tensor.NewUint8("IMAGE", []int64{int64(b), 3, int64(h), int64(w)}, pix)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// The served model from a version folder that carries allmodel and allrange
// scores I03 (a TID2013 image, where MATLAB's and Octave's rgb2gray agree)
// as the Octave reference, at its own size.
func TestServedFromVersionFolder(t *testing.T) {
	ctx := context.Background()
	files := fstest.MapFS{ModelFile: {Data: sharedFile(t, ModelFile)}, RangeFile: {Data: sharedFile(t, RangeFile)}}
	fn, err := native.Load(ctx, NativeName, files)
	if err != nil {
		t.Fatal(err)
	}
	im := readPNG(t, filepath.Join(testenv.Shared(t, "data", "calibra"), "I03.png"))
	out, err := fn(ctx, []*tensor.Tensor{imageTensor(t, 1, im.H, im.W, im.Pix)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := out[0].Float32s()
	if err != nil || out[0].Name != "QUALITY" || len(q) != 1 || len(out[0].Shape) != 2 || out[0].Shape[1] != 1 {
		t.Fatalf("outputs %v (%v)", out, err)
	}
	want := loadReference(t).Octave["I03"]
	if e := relErr(float64(q[0]), want); e > 1e-6 {
		t.Errorf("I03 served %.9g, Octave %.9g (relative %.2g)", q[0], want, e)
	}
}

// A constant image fails its request with InvalidArgument naming the model,
// the image and the reason.
func TestServedConstantImageIsInvalidArgument(t *testing.T) {
	ctx := context.Background()
	files := fstest.MapFS{ModelFile: {Data: sharedFile(t, ModelFile)}, RangeFile: {Data: sharedFile(t, RangeFile)}}
	fn, err := native.Load(ctx, NativeName, files)
	if err != nil {
		t.Fatal(err)
	}
	h, w := 20, 30
	pix := make([]uint8, 2*3*h*w)
	for i := range pix[:3*h*w] {
		pix[i] = uint8(i * 7)
	}
	_, err = fn(ctx, []*tensor.Tensor{imageTensor(t, 2, h, w, pix)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "brisque: IMAGE 1 of [2 3 20 30]") ||
		!strings.Contains(err.Error(), "zero variance") {
		t.Errorf("constant second image: %v; want InvalidArgument naming brisque, IMAGE 1 and zero variance", err)
	}
	bad := imageTensor(t, 1, 2, 2, make([]uint8, 12))
	bad.Shape = []int64{1, 1, 2, 6}
	if _, err := fn(ctx, []*tensor.Tensor{bad}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("1-channel IMAGE: %v, want InvalidArgument", err)
	}
}

// Without files in the version folder the loader reads the cache; an empty
// cache names the fetch command, and one file without the other is refused.
func TestServedFallsBackToCache(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	t.Setenv("AGIQA_CACHE", cache)
	_, err := native.Load(ctx, NativeName, fstest.MapFS{})
	if err == nil || !strings.Contains(err.Error(), "agiqa fetch brisque-model") {
		t.Errorf("empty cache: %v; want the fetch command named", err)
	}
	if err := os.MkdirAll(filepath.Join(cache, "brisque"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ModelFile, RangeFile} {
		if err := os.WriteFile(filepath.Join(cache, "brisque", name), sharedFile(t, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := native.Load(ctx, NativeName, fstest.MapFS{}); err != nil {
		t.Errorf("published files in the cache: %v", err)
	}
	_, err = native.Load(ctx, NativeName, fstest.MapFS{RangeFile: {Data: sharedFile(t, RangeFile)}})
	if err == nil || !strings.Contains(err.Error(), "holds allrange but not allmodel") {
		t.Errorf("allrange alone: %v", err)
	}
}

// `agiqa train svr --feature brisque` extracts through the registry: the
// same vector as Features.
func TestExtractorRegistered(t *testing.T) {
	e, ok := extractor.Lookup("brisque")
	if !ok || e.Len != NumFeatures || e.Catalog != "brisque_svr" {
		t.Fatalf("extractor %+v, %v", e, ok)
	}
	im := readPNG(t, filepath.Join(testenv.Shared(t, "data", "calibra"), "I19.png"))
	got, err := e.Features(im)
	want, err2 := Features(im)
	if err != nil || err2 != nil || len(got) != NumFeatures {
		t.Fatalf("%v %v", err, err2)
	}
	for k := range got {
		if got[k] != want[k] || math.IsNaN(got[k]) {
			t.Errorf("feature %d: %v vs %v", k+1, got[k], want[k])
		}
	}
}
