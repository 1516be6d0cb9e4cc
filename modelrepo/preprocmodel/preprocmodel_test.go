package preprocmodel

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "bench", "preprocess", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t *testing.T, f native.Func, images ...[]byte) ([]*tensor.Tensor, error) {
	t.Helper()
	in, err := tensor.NewBytes(InputEncoded, []int64{int64(len(images)), 1}, images)
	if err != nil {
		t.Fatal(err)
	}
	return f(context.Background(), []*tensor.Tensor{in})
}

// The preprocessing function against Pillow/torchvision (bench/preprocess/testdata/fixtures.json,
// gen_fixtures.py: Pillow 9.4 with libjpeg-turbo 2.1.5): the fixtures' encoded sources through the
// function equal Pillow's tensors exactly for PNG, and for JPEG when libjpeg-turbo decodes (the pure-Go
// decoder is within bench/preprocess's own tolerance, checked there). Every case also equals the
// harness's preprocess.DecodeCHW to the byte.
func TestFuncMatchesPillowAndTheHarness(t *testing.T) {
	var fx struct {
		Tensor []struct {
			Src, Out, Method string
			Size             int
		}
	}
	if err := json.Unmarshal(testdata(t, "fixtures.json"), &fx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range fx.Tensor {
		src, ok := strings.CutSuffix(c.Src, ".rgb") // the encoded file the reference was decoded from
		if !ok || !(strings.HasSuffix(src, ".jpg") || strings.HasSuffix(src, ".png")) {
			continue // synthetic sources have no encoded file
		}
		m, _ := preprocess.ParseMethod(c.Method)
		s := Spec{Method: m, Size: c.Size}
		enc := testdata(t, src)
		outs, err := run(t, s.Func(), enc)
		if err != nil {
			t.Fatalf("%s %s: %v", src, s.Name(), err)
		}
		got := outs[0]
		if got.Name != OutputImage || got.DataType != tensor.Uint8 || len(got.Shape) != 4 || got.Shape[0] != 1 || got.Shape[2] != int64(c.Size) {
			t.Fatalf("%s %s: output %s %s %v", src, s.Name(), got.Name, got.DataType, got.Shape)
		}
		harness, _ := preprocess.DecodeCHW(enc, src, c.Size, m)
		if string(got.Raw) != string(harness.Pix) {
			t.Errorf("%s %s: differs from the harness's preprocess.DecodeCHW", src, s.Name())
		}
		want := testdata(t, c.Out)
		maxd := 0
		for i := range want {
			d := int(got.Raw[i]) - int(want[i])
			maxd = max(maxd, d, -d)
		}
		exact := strings.HasSuffix(src, ".png") || (preprocess.Decoder{}).UsesTurbo()
		t.Logf("%s %s: max diff %d from Pillow", src, s.Name(), maxd)
		if exact && maxd > 0 {
			t.Errorf("%s %s: max diff %d from Pillow, want 0", src, s.Name(), maxd)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d fixture cases have an encoded source", n)
	}
}

// A batch with a bad image fails with InvalidArgument naming the input, the row and the decoder's
// reason; a native batch of two sizes is refused, saying to send one per request.
func TestFuncErrors(t *testing.T) {
	good := testdata(t, "c420.jpg")
	_, err := run(t, Spec{preprocess.MethodResize, 32}.Func(), good, []byte("GIF89a..."))
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "input ENCODED: image in row 1 does not decode") ||
		!strings.Contains(st.Message(), preprocess.ErrUnsupportedFormat.Error()) {
		t.Errorf("bad image: %v", err)
	}
	_, err = run(t, Spec{Method: preprocess.MethodNative}.Func(), good, testdata(t, "rgb8.png"))
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "one image per request") {
		t.Errorf("native batch of two sizes: %v", err)
	}
	outs, err := run(t, Spec{Method: preprocess.MethodNative}.Func(), good, good)
	if err != nil || outs[0].Shape[0] != 2 || outs[0].Shape[2] != 120 || outs[0].Shape[3] != 160 {
		t.Errorf("native batch of one size: %v %v", err, outs)
	}
}

func TestLoaderAndParseSpec(t *testing.T) {
	f, err := native.Load(context.Background(), LoaderName, fstest.MapFS{SpecFile: {Data: []byte("resize_center_crop 40\n")}})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := run(t, f, testdata(t, "c444.jpg"))
	want, _ := preprocess.DecodeCHW(testdata(t, "c444.jpg"), "x", 40, preprocess.MethodResizeCenterCrop)
	if err != nil || string(outs[0].Raw) != string(want.Pix) {
		t.Errorf("loaded resize_center_crop 40: %v", err)
	}
	for _, bad := range []string{"", "resize", "resize 0", "native 3", "squash 10", "resize x"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) accepted", bad)
		}
	}
	if _, err := native.Load(context.Background(), LoaderName, fstest.MapFS{}); err == nil || !strings.Contains(err.Error(), SpecFile) {
		t.Errorf("no spec file: %v", err)
	}
}
