package baselines

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// gray builds a channel-first RGB image with the same value in R, G and B.
func gray(h, w int, at func(r, c int) uint8) []uint8 {
	img := make([]uint8, 3*h*w)
	for ch := 0; ch < 3; ch++ {
		for r := 0; r < h; r++ {
			for c := 0; c < w; c++ {
				img[ch*h*w+r*w+c] = at(r, c)
			}
		}
	}
	return img
}

func checker(r, c int) uint8 {
	if (r+c)%2 == 0 {
		return 255
	}
	return 0
}

func near(got, want, relTol float64) bool {
	return math.Abs(got-want) <= relTol*math.Max(1, math.Abs(want))
}

func TestLaplacianVarianceHandComputed(t *testing.T) {
	// Grey 0/255 checkerboard: every interior Laplacian is +-4*255 = +-1020.
	// 4x4: interior 2x2 has two of each sign, mean 0, variance 1020^2.
	// 5x5: interior 3x3 has five of one sign, four of the other, mean
	// 1020/9, variance 1020^2 - (1020/9)^2.
	// Red-only checkerboard: luma 0.299*255 = 76.245, so +-4*76.245 on 4x4.
	red := make([]uint8, 3*16)
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			red[r*4+c] = checker(r, c)
		}
	}
	cases := []struct {
		name string
		img  []uint8
		h, w int
		want float64
	}{
		{"constant", gray(6, 9, func(int, int) uint8 { return 137 }), 6, 9, 0},
		{"checker4", gray(4, 4, checker), 4, 4, 1020 * 1020},
		{"checker5", gray(5, 5, checker), 5, 5, 1020*1020 - (1020.0/9)*(1020.0/9)},
		{"red_checker4", red, 4, 4, (4 * 76.245) * (4 * 76.245)},
		// A linear ramp has zero second derivative everywhere.
		{"ramp", gray(7, 7, func(r, c int) uint8 { return uint8(10*r + 20*c) }), 7, 7, 0},
	}
	for _, tc := range cases {
		got, err := LaplacianVariance(tc.img, tc.h, tc.w)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !near(got, tc.want, 1e-12) {
			t.Errorf("%s: got %.10g, want %.10g", tc.name, got, tc.want)
		}
	}
}

func TestLaplacianVarianceMatchesScipy(t *testing.T) {
	// float64 sums in a different order from numpy: agree to ~1e-12.
	checkReference(t, "sharpness_ref.json", "variance", "scipy", LaplacianVariance)
}

// checkReference scores every case of testdata/file with score and compares
// it with the case's field, computed by the named reference implementation.
func checkReference(t *testing.T, file, field, by string, score func([]uint8, int, int) (float64, error)) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	// The cases share name, h, w and pixels; the reference value's key differs per file.
	var ref struct {
		Cases []struct {
			Name   string  `json:"name"`
			H      int     `json:"h"`
			W      int     `json:"w"`
			Pixels []uint8 `json:"pixels"`
		} `json:"cases"`
	}
	var values struct {
		Cases []map[string]json.RawMessage `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 4 {
		t.Fatalf("%s: only %d reference cases", file, len(ref.Cases))
	}
	for i, c := range ref.Cases {
		var want float64
		if err := json.Unmarshal(values.Cases[i][field], &want); err != nil {
			t.Fatalf("%s case %s: %q: %v", file, c.Name, field, err)
		}
		got, err := score(c.Pixels, c.H, c.W)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if !near(got, want, 1e-10) {
			t.Errorf("%s: got %.15g, %s %.15g", c.Name, got, by, want)
		}
	}
}

func boxBlur(img []uint8, h, w int) []uint8 {
	out := make([]uint8, len(img))
	for ch := 0; ch < 3; ch++ {
		p := img[ch*h*w : (ch+1)*h*w]
		for r := 0; r < h; r++ {
			for c := 0; c < w; c++ {
				sum, n := 0, 0
				for dr := -1; dr <= 1; dr++ {
					for dc := -1; dc <= 1; dc++ {
						rr, cc := r+dr, c+dc
						if rr >= 0 && rr < h && cc >= 0 && cc < w {
							sum += int(p[rr*w+cc])
							n++
						}
					}
				}
				out[ch*h*w+r*w+c] = uint8((sum + n/2) / n)
			}
		}
	}
	return out
}

func TestBlurLowersLaplacianVariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const h, w = 32, 32
	img := make([]uint8, 3*h*w)
	for i := range img {
		img[i] = uint8(rng.IntN(256))
	}
	prev := math.Inf(1)
	for step := 0; step < 3; step++ {
		v, err := LaplacianVariance(img, h, w)
		if err != nil {
			t.Fatal(err)
		}
		if !(v < prev) {
			t.Fatalf("blur step %d: variance %g did not drop below %g", step, v, prev)
		}
		prev = v
		img = boxBlur(img, h, w)
	}
}

func TestLaplacianVarianceRejectsBadSizes(t *testing.T) {
	if _, err := LaplacianVariance(make([]uint8, 3*2*5), 2, 5); err == nil {
		t.Error("2x5 image accepted")
	}
	if _, err := LaplacianVariance(make([]uint8, 10), 3, 3); err == nil {
		t.Error("short buffer accepted")
	}
}

func TestLaplacianVarianceModelBatch(t *testing.T) {
	f, ok := native.Lookup(LaplacianVarianceFunc)
	if !ok {
		t.Fatal("laplacian_variance not registered")
	}
	a := gray(4, 4, checker)
	b := gray(4, 4, func(int, int) uint8 { return 9 })
	in, err := tensor.NewUint8("IMAGE", []int64{2, 3, 4, 4}, append(append([]uint8{}, a...), b...))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := f(context.Background(), []*tensor.Tensor{in})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].Name != "QUALITY" || len(outs[0].Shape) != 2 || outs[0].Shape[0] != 2 || outs[0].Shape[1] != 1 {
		t.Fatalf("outputs %+v", outs)
	}
	v, _ := outs[0].Float32s()
	if v[0] != 1020*1020 || v[1] != 0 {
		t.Errorf("QUALITY = %v, want [1040400 0]", v)
	}
	bad, _ := tensor.NewUint8("IMAGE", []int64{1, 1, 4, 4}, make([]uint8, 16))
	if _, err := f(context.Background(), []*tensor.Tensor{bad}); err == nil {
		t.Error("1-channel image accepted")
	}
}

// The built-in repository loads cleanly, honours the model contract and
// serves the sharpness model through the embedded server.
func TestBuiltinRepositoryServesSharpness(t *testing.T) {
	const s = 512
	img := gray(s, s, func(r, c int) uint8 { return checker(r/2, c/2) })
	want, _ := LaplacianVariance(img, s, s)
	v := serveBuiltin(t, "sharpness_laplacian", img, s)
	if len(v) != 1 || v[0] != float32(want) || want == 0 {
		t.Errorf("served QUALITY %v, direct %v", v, want)
	}
}

// serveBuiltin opens the built-in repository, checks that it loads cleanly
// and that model honours the contract, then sends one s x s image to model
// through the embedded gRPC server and returns its QUALITY.
func serveBuiltin(t *testing.T, model string, img []uint8, s int64) []float32 {
	t.Helper()
	repo, err := modelrepo.OpenFS(BuiltinRepository(), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range repo.Errors {
		t.Errorf("builtin: %v", e)
	}
	m := repo.Model(model)
	if m == nil {
		t.Fatalf("builtin has no %s", model)
	}
	if p := modelrepo.ContractCheck(m.Config); len(p) > 0 {
		t.Errorf("%s contract: %v", model, p)
	}
	srv, err := server.New(repo)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.GracefulStop(context.Background())
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewGRPCInferenceServiceClient(conn)
	resp, err := c.ModelInfer(context.Background(), &pb.ModelInferRequest{
		ModelName: model,
		Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "IMAGE", Datatype: "UINT8", Shape: []int64{1, 3, s, s}}},
		RawInputContents: [][]byte{img},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := &tensor.Tensor{Name: "QUALITY", DataType: tensor.DataType(resp.Outputs[0].Datatype), Shape: resp.Outputs[0].Shape, Raw: resp.RawOutputContents[0]}
	v, err := q.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// go test ./baselines -run X -bench LaplacianVariance
func BenchmarkLaplacianVariance512(b *testing.B) {
	const s = 512
	img := gray(s, s, func(r, c int) uint8 { return uint8(r*7 + c*13) })
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, err := LaplacianVariance(img, s, s); err != nil {
			b.Fatal(err)
		}
	}
}
