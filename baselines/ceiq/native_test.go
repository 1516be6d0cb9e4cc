package ceiq

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

func TestNativeServesPublishedModel(t *testing.T) {
	raw, err := os.ReadFile(testenv.Shared(t, "data", "ceiq", "model.mat"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Without model.mat in the version folder the loader reads the fetch cache; an empty cache names
	// the fetch command.
	t.Setenv("AGIQA_CACHE", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	if _, err := ReadPublished(t.TempDir()); err == nil || !strings.Contains(err.Error(), "fetch") {
		t.Errorf("empty cache: err = %v, want one naming agiqa fetch", err)
	}
	if _, err := native.Load(ctx, NativeName, fstest.MapFS{ModelFile: {Data: []byte("junk")}}); err == nil {
		t.Error("junk model.mat: no error")
	}
	fn, err := native.Load(ctx, NativeName, fstest.MapFS{ModelFile: {Data: raw}})
	if err != nil {
		t.Fatal(err)
	}
	fx := readFixture(t)
	var want float64
	var im []uint8
	var h, w int
	for _, c := range fx.Images {
		if c.Name == "gen1" {
			g := loadPNG(t, c.File)
			im, h, w, want = g.Pix, g.H, g.W, c.Score
		}
	}
	in, err := tensor.NewUint8("IMAGE", []int64{1, 3, int64(h), int64(w)}, im)
	if err != nil {
		t.Fatal(err)
	}
	out, err := fn(ctx, []*tensor.Tensor{in})
	if err != nil {
		t.Fatal(err)
	}
	q, err := out[0].Float32s()
	if err != nil || out[0].Name != "QUALITY" || len(q) != 1 {
		t.Fatalf("outputs %v (%v)", out, err)
	}
	if math.Abs(float64(q[0])-want) > 1e-6*math.Abs(want) {
		t.Errorf("gen1 scores %g, Octave %g", q[0], want)
	}
	// A constant image fails the request, naming the image and the reason (the runner then retries
	// the batch image by image, so only that image fails).
	flat := make([]uint8, len(im))
	pair, _ := tensor.NewUint8("IMAGE", []int64{2, 3, int64(h), int64(w)}, append(append([]uint8(nil), im...), flat...))
	if _, err := fn(ctx, []*tensor.Tensor{pair}); err == nil || !strings.Contains(err.Error(), "IMAGE 1 of") || !strings.Contains(err.Error(), "zero variance") {
		t.Errorf("constant image: err = %v, want one naming image 1 and zero variance", err)
	}
	bad, _ := tensor.NewUint8("IMAGE", []int64{1, 1, 2, 2}, make([]uint8, 4))
	if _, err := fn(ctx, []*tensor.Tensor{bad}); err == nil {
		t.Error("1-channel IMAGE: no error")
	}
}
