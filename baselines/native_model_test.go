package baselines

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

// servedPixel is testdata/gen_served.py's pixel(): the reference images are
// integer formulas, rebuilt here rather than stored.
func servedPixel(kind string, seed uint32, ch, r, c, h, w int) uint8 {
	k := uint32((ch*h+r)*w + c)
	x := (k + seed) * 0x9E3779B1
	x ^= x >> 15
	x *= 0x85EBCA77
	x ^= x >> 13
	hash := uint8(x >> 24)
	switch kind {
	case "noise":
		return hash
	case "smooth":
		return uint8(((r*3+c*5+ch*50)/4 + int(hash>>6)) % 256)
	case "hazy":
		return 200 + hash>>5
	}
	panic("unknown kind " + kind)
}

// At the served size the Go functions (which Triton runs too, through
// libagiqa.so: modelrepo/triton's test) equal, bit for bit, a reference
// computed with plain IEEE double arithmetic, one rounding per operation,
// summed in index order; a compiler that fuses a*b+c into one FMA (arm64,
// GOAMD64=v3) changes the last bits.
// Check the FMA case with: GOAMD64=v3 go test ./baselines -run ServedSize
func TestServedSizeMatchesReferenceExactly(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "served_ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		H, W  int
		Cases []struct {
			Kind      string  `json:"kind"`
			Seed      uint32  `json:"seed"`
			Sharpness float64 `json:"sharpness"`
			Contrast  float64 `json:"contrast"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if ref.H != 512 || ref.W != 512 || len(ref.Cases) != 3 {
		t.Fatalf("reference is %dx%d with %d cases", ref.H, ref.W, len(ref.Cases))
	}
	h, w := ref.H, ref.W
	for _, c := range ref.Cases {
		img := make([]uint8, 3*h*w)
		for ch := 0; ch < 3; ch++ {
			for r := 0; r < h; r++ {
				for col := 0; col < w; col++ {
					img[(ch*h+r)*w+col] = servedPixel(c.Kind, c.Seed, ch, r, col, h, w)
				}
			}
		}
		s, err := LaplacianVariance(img, h, w)
		if err != nil {
			t.Fatal(err)
		}
		k, err := RMSContrast(img, h, w)
		if err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(s) != math.Float64bits(c.Sharpness) {
			t.Errorf("%s: sharpness %.17g, reference %.17g", c.Kind, s, c.Sharpness)
		}
		if math.Float64bits(k) != math.Float64bits(c.Contrast) {
			t.Errorf("%s: contrast %.17g, reference %.17g", c.Kind, k, c.Contrast)
		}
	}
}

// A bad IMAGE is refused with InvalidArgument, and the message names the
// function and the tensor (the function is all a native Func knows of the
// model it serves).
func TestPerImageModelErrorsNameFunctionAndTensor(t *testing.T) {
	for _, name := range []string{LaplacianVarianceFunc, RMSContrastFunc} {
		f, ok := native.Lookup(name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		tiny, _ := tensor.NewUint8("IMAGE", []int64{1, 3, 2, 2}, make([]uint8, 12))
		empty := &tensor.Tensor{Name: "IMAGE", DataType: tensor.Uint8, Shape: []int64{2, 3, 0, 4}}
		short := &tensor.Tensor{Name: "IMAGE", DataType: tensor.Uint8, Shape: []int64{1, 3, 4, 4}, Raw: make([]uint8, 40)}
		cases := map[string]*tensor.Tensor{"short buffer": short, "0-size image": empty}
		if name == LaplacianVarianceFunc {
			cases["2x2 image"] = tiny
		}
		for what, in := range cases {
			_, err := f(context.Background(), []*tensor.Tensor{in})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s, %s: error %v, want InvalidArgument", name, what, err)
				continue
			}
			if msg := status.Convert(err).Message(); !strings.Contains(msg, name+":") || !strings.Contains(msg, "IMAGE") {
				t.Errorf("%s, %s: message %q does not name the function and IMAGE", name, what, msg)
			}
		}
	}
}

// A cancelled context is reported as Canceled, not as a failure of the model
// (the server turns plain errors into Internal).
func TestPerImageModelCancelled(t *testing.T) {
	f, _ := native.Lookup(RMSContrastFunc)
	in, _ := tensor.NewUint8("IMAGE", []int64{1, 3, 4, 4}, make([]uint8, 48))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f(ctx, []*tensor.Tensor{in}); status.Code(err) != codes.Canceled {
		t.Errorf("cancelled call: %v (code %v), want Canceled", err, status.Code(err))
	}
}

// The Triton Python-backend twins in modelrepo/models (the generic model.py
// over libagiqa.so) serve what the built-in models serve: same tensors, batch size, batching, instances and parameters
// (the backend aside), and each names the catalogue row it fills.
func TestTritonTwinsMatchBuiltin(t *testing.T) {
	builtin, err := modelrepo.OpenFS(BuiltinRepository(), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	triton, err := modelrepo.Open(filepath.Join("..", "modelrepo", "models"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sharpness_laplacian", "contrast_rms"} {
		b, p := builtin.Model(name), triton.Model(name)
		if b == nil || p == nil {
			t.Fatalf("%s: built-in %v, modelrepo/models %v", name, b != nil, p != nil)
		}
		if got := p.Config.GetBackend(); got != "python" {
			t.Errorf("modelrepo/models/%s: backend %q, want python", name, got)
		}
		bc, pc := proto.Clone(b.Config).(*pb.ModelConfig), proto.Clone(p.Config).(*pb.ModelConfig)
		bc.Backend, pc.Backend = "", ""
		if !proto.Equal(bc, pc) {
			t.Errorf("%s: built-in config\n%v\ndiffers from modelrepo/models\n%v", name, bc, pc)
		}
		key := p.Config.GetParameters()["agiqa.catalog"].GetStringValue()
		if e, ok := Lookup(1, key); !ok || !e.HasServed(name) {
			t.Errorf("%s: agiqa.catalog %q is not a Table 1 row served by it", name, key)
		}
	}
}

// perImageLoader builds each version's scorer from that version's files.
func TestPerImageLoaderReadsVersionFiles(t *testing.T) {
	l := perImageLoader("test_offset", func(_ context.Context, files fs.FS) (func([]uint8, int, int) (float64, error), error) {
		data, err := fs.ReadFile(files, "offset.txt")
		if err != nil {
			return nil, err
		}
		off, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
		if err != nil {
			return nil, fmt.Errorf("offset.txt: %w", err)
		}
		return func(img []uint8, h, w int) (float64, error) { return float64(img[0]) + off, nil }, nil
	})
	in, _ := tensor.NewUint8("IMAGE", []int64{2, 3, 1, 1}, []uint8{1, 0, 0, 7, 0, 0})
	for off, want := range map[string][]float32{"0.5": {1.5, 7.5}, "-1": {0, 6}} {
		f, err := l(context.Background(), fstest.MapFS{"offset.txt": {Data: []byte(off)}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := f(context.Background(), []*tensor.Tensor{in})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := out[0].Float32s(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] || out[0].Name != "QUALITY" {
			t.Errorf("offset %s: %s %v, want QUALITY %v", off, out[0].Name, got, want)
		}
	}
	if _, err := l(context.Background(), fstest.MapFS{}); err == nil || !strings.Contains(err.Error(), "offset.txt") {
		t.Errorf("missing file: error %v does not name it", err)
	}
}
