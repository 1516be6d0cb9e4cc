package runner

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// areaShapes records every IMAGE shape the area model was sent.
var (
	areaMu     sync.Mutex
	areaShapes [][]int64
)

// The area model answers H*W from the tensor's own shape and, as a check on
// the bytes, the first pixel's red value plus 1000 times its blue one.
func init() {
	native.Register("runner_test_area", func(ctx context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		img, _ := native.TensorByName(in, "IMAGE")
		areaMu.Lock()
		areaShapes = append(areaShapes, append([]int64(nil), img.Shape...))
		areaMu.Unlock()
		b, h, w := int(img.Shape[0]), int(img.Shape[2]), int(img.Shape[3])
		q := make([]float32, b)
		a := make([]float32, b)
		for i := 0; i < b; i++ {
			px := img.Raw[i*3*h*w:]
			q[i] = float32(h * w)
			a[i] = float32(px[0]) + 1000*float32(px[2*h*w])
		}
		qt, _ := tensor.NewFP32("QUALITY", []int64{int64(b), 1}, q)
		at, _ := tensor.NewFP32("ALIGNMENT", []int64{int64(b), 1}, a)
		return []*tensor.Tensor{qt, at}, nil
	})
}

const areaConfig = `
name: "area"
backend: "native"
max_batch_size: 4
input [ { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, -1, -1 ] } ]
output [
  { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] },
  { name: "ALIGNMENT" data_type: TYPE_FP32 dims: [ 1 ] }
]
parameters { key: "native.function" value: { string_value: "runner_test_area" } }
parameters { key: "agiqa.preprocess" value: { string_value: "native" } }
`

// sizedItems writes one PNG per size; image i's top-left pixel is (i, 0, 2i).
func sizedItems(t *testing.T, sizes [][2]int) []dataset.Item {
	t.Helper()
	dir := t.TempDir()
	var items []dataset.Item
	for i, s := range sizes {
		img := image.NewRGBA(image.Rect(0, 0, s[0], s[1]))
		for y := 0; y < s[1]; y++ {
			for x := 0; x < s[0]; x++ {
				img.Set(x, y, color.RGBA{uint8(x + y), 77, uint8(y), 255})
			}
		}
		img.Set(0, 0, color.RGBA{uint8(i), 0, uint8(2 * i), 255})
		name := fmt.Sprintf("s%02d.png", i)
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
		items = append(items, dataset.Item{Image: name, Path: filepath.Join(dir, name), Prompt: "p", MOS: float64(i), Group: fmt.Sprint(i)})
	}
	return items
}

// A native model ([3,-1,-1], agiqa.preprocess "native") gets each image at
// its own size through the embedded server; same-sized images share
// requests, no request mixes sizes.
func TestNativeModelGetsEachImageAtItsOwnSize(t *testing.T) {
	c, _ := serveFS(t, fstest.MapFS{
		"area/config.pbtxt":   {Data: []byte(areaConfig)},
		"area/1/model.native": {Data: []byte("runner_test_area\n")},
	})
	ctx := context.Background()
	m, err := Describe(ctx, c, "area")
	if err != nil {
		t.Fatal(err)
	}
	if m.Preprocess != preprocess.MethodNative || m.ImageSize != 0 {
		t.Fatalf("Describe = %+v, want native with no fixed size", m)
	}
	sizes := [][2]int{{20, 30}, {17, 11}, {20, 30}, {96, 97}, {20, 30}, {17, 11}, {5, 200}, {20, 30}, {20, 30}}
	items := sizedItems(t, sizes)
	areaMu.Lock()
	areaShapes = nil
	areaMu.Unlock()
	cf, err := OpenCache(t.TempDir(), "ds", m, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rep, err := Run(ctx, c, m, "", items, cf, Options{Batch: 4, Concurrency: 2, Workers: 1})
	if err != nil || rep.Inferred != len(items) || rep.Failed != 0 {
		t.Fatalf("run: %v %+v", err, rep)
	}
	for i, it := range items {
		p, ok := cf.Lookup(it.Image)
		w, h := sizes[i][0], sizes[i][1]
		if !ok || p.Quality == nil || *p.Quality != float64(w*h) || *p.Alignment != float64(i+1000*2*i) {
			t.Errorf("%s (%dx%d): %+v, want quality %d and alignment %d", it.Image, w, h, p, w*h, i+2000*i)
		}
	}
	areaMu.Lock()
	defer areaMu.Unlock()
	rows := 0
	for _, s := range areaShapes {
		rows += int(s[0])
	}
	// Five 20x30 images with batch 4: one request of 4 at least, so sizes batch.
	if rows != len(items) || len(areaShapes) >= len(items) {
		t.Errorf("requests %v: want %d images in fewer than %d requests", areaShapes, len(items), len(items))
	}
}

// groupBySize: full groups go out at once, the rest at the end, and no more
// than the pending limit waits.
func TestGroupBySize(t *testing.T) {
	img := func(h, w int, name string) prepared {
		return prepared{item: dataset.Item{Image: name}, image: preprocess.CHW{H: h, W: w}}
	}
	run := func(n int, in []prepared) [][]string {
		ready := make(chan prepared, len(in))
		for _, p := range in {
			ready <- p
		}
		close(ready)
		out := make(chan []prepared, len(in))
		groupBySize(context.Background(), ready, out, n)
		close(out)
		var got [][]string
		for b := range out {
			var names []string
			for _, p := range b {
				names = append(names, p.item.Image)
				if p.image.H != b[0].image.H || p.image.W != b[0].image.W {
					t.Errorf("batch mixes sizes: %v", b)
				}
			}
			got = append(got, names)
		}
		return got
	}
	got := run(2, []prepared{img(1, 1, "a"), img(2, 2, "b"), img(1, 1, "c"), img(2, 2, "d"), img(3, 3, "e")})
	if fmt.Sprint(got) != "[[a c] [b d] [e]]" {
		t.Errorf("batches %v", got)
	}
	// 40 images of distinct sizes, batch 2: the limit (16) makes the oldest
	// go out alone before the input ends.
	var many []prepared
	for i := 0; i < 40; i++ {
		many = append(many, img(i+1, 1, fmt.Sprint(i)))
	}
	got = run(2, many)
	if len(got) != 40 || got[0][0] != "0" || got[39][0] != "39" {
		t.Errorf("distinct sizes: %v", got)
	}
}

// A native config whose IMAGE is fixed, or a resize config whose IMAGE is
// variable, is refused by name.
func TestNativeContractMismatchRefused(t *testing.T) {
	fixed := strings.Replace(areaConfig, "[ 3, -1, -1 ]", "[ 3, 16, 16 ]", 1)
	resize := strings.Replace(areaConfig, `string_value: "native" }`, `string_value: "resize" }`, 1)
	c, _ := serveFS(t, fstest.MapFS{
		"fixed/config.pbtxt":    {Data: []byte(strings.Replace(fixed, `"area"`, `"fixed"`, 1))},
		"fixed/1/model.native":  {Data: []byte("runner_test_area\n")},
		"resize/config.pbtxt":   {Data: []byte(strings.Replace(resize, `"area"`, `"resize"`, 1))},
		"resize/1/model.native": {Data: []byte("runner_test_area\n")},
	})
	for name, want := range map[string]string{
		"fixed":  `model fixed: input IMAGE is [3 16 16]; agiqa.preprocess "native" needs [3,-1,-1]`,
		"resize": `model resize: input IMAGE is [3 -1 -1]; agiqa.preprocess "resize" needs [3,S,S] with a fixed S`,
	} {
		if _, err := Describe(context.Background(), c, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
	}
}

// A server without ModelConfig gives no agiqa.preprocess: IMAGE [3,-1,-1]
// in the metadata is read as native, the only method it admits.
func TestNativeFromMetadata(t *testing.T) {
	m, err := fromMetadata(&pb.ModelMetadataResponse{Name: "area", Versions: []string{"1"},
		Inputs:  []*pb.ModelMetadataResponse_TensorMetadata{{Name: "IMAGE", Datatype: "UINT8", Shape: []int64{-1, 3, -1, -1}}},
		Outputs: []*pb.ModelMetadataResponse_TensorMetadata{{Name: "QUALITY", Datatype: "FP32", Shape: []int64{-1, 1}}}})
	if err != nil || m.Preprocess != preprocess.MethodNative || m.ImageSize != 0 || m.MaxBatch != 1 {
		t.Errorf("fromMetadata = %+v, %v; want native, batched", m, err)
	}
}
