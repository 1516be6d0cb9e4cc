package modelrepo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/clip"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/ortbackend"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

// Tolerances of the parity test (issue 4, item 6).
const (
	scoreTol = 1e-4 // |served - eager PyTorch| per output
	pixelTol = 1    // grey levels between Go preprocessing and Pillow's
)

// pythonWithTorch is $AGIQA_PYTHON or /usr/bin/python3 (python3 on PATH as a
// last resort), provided it imports what the export needs.
func pythonWithTorch(t *testing.T) string {
	t.Helper()
	py := testenv.Python(t, "to export the model")
	if out, err := exec.Command(py, "-c", "import torch, onnx, numpy, PIL").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "%s cannot import torch, onnx, numpy and PIL: %v\n%s", py, err, out)
	}
	return py
}

// parityImages writes deterministic test images in the formats and geometries
// the harness meets: down- and upscaled RGB PNGs, one already S x S, a
// greyscale PNG and a JPEG (decoded by libjpeg on both sides).
func parityImages(t *testing.T, dir string) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(4, 2024))
	paint := func(w, h int) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				// Smooth gradients, a hard diagonal edge and a little noise: bicubic
				// overshoot, clamping and rounding all get exercised.
				edge := 0
				if x*h > y*w {
					edge = 90
				}
				n := rng.IntN(24)
				img.Set(x, y, color.RGBA{
					R: uint8((x*255/w + edge + n) % 256),
					G: uint8((y*255/h + 2*n) % 256),
					B: uint8((128 + edge - n + (x^y)%64) % 256),
					A: 255,
				})
			}
		}
		return img
	}
	write := func(name string, enc func(f *os.File) error) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var paths []string
	for _, s := range []struct {
		name string
		w, h int
	}{{"wide.png", 203, 97}, {"small.png", 41, 57}, {"exact.png", 64, 64}} {
		img := paint(s.w, s.h)
		paths = append(paths, write(s.name, func(f *os.File) error { return png.Encode(f, img) }))
	}
	grey := image.NewGray(image.Rect(0, 0, 90, 70))
	for i := range grey.Pix {
		grey.Pix[i] = uint8((i*13)%256) ^ uint8(rng.IntN(8))
	}
	paths = append(paths, write("grey.png", func(f *os.File) error { return png.Encode(f, grey) }))
	photo := paint(160, 120)
	paths = append(paths, write("photo.jpg", func(f *os.File) error { return jpeg.Encode(f, photo, &jpeg.Options{Quality: 90}) }))
	return paths
}

var parityPrompts = []string{
	"a photo of a cat",
	"A red Car, driving FAST!! on the highway...",
	"dog, playing football, city, anime style",
	"café scene at night, 3 people & 2 dogs; it's raining",
	strings.Repeat("an extremely detailed castle on a hill ", 12), // > 75 BPE ids: truncated
}

type parityReference struct {
	Model     string               `json:"model"`
	ImageSize int64                `json:"image_size"`
	Pixels    []string             `json:"pixels"`
	Tokens    [][]int64            `json:"tokens"`
	Outputs   map[string][]float64 `json:"outputs"`
}

// exportParityReference exports a tiny model with agiqa_torch.parity_reference (args name the
// model, seed, ...) into a fresh repository and has it score the parity images (parityImages) with
// prompts (nil: empty ones) in eager PyTorch. It returns the images, the repository, the reference
// JSON for the caller to decode, and the ONNX Runtime backend to serve the repository with.
func exportParityReference(t *testing.T, prompts []string, args ...string) (images []string, repoDir string, ref []byte, ort *ortbackend.Backend) {
	t.Helper()
	root := testenv.ModuleRoot(t)
	ort, err := ortbackend.New("", ortbackend.WithIntraOpThreads(2))
	if err != nil {
		testenv.SkipOrFail(t, testenv.RequireORT, "ONNX Runtime unavailable: %v", err)
	}
	py := pythonWithTorch(t)

	work := t.TempDir()
	repoDir = filepath.Join(work, "repo")
	images = parityImages(t, work)
	if prompts == nil {
		prompts = make([]string, len(images))
	}
	inputs, err := json.Marshal(map[string][]string{"images": images, "prompts": prompts})
	if err != nil {
		t.Fatal(err)
	}
	inputsPath, refPath := filepath.Join(work, "inputs.json"), filepath.Join(work, "reference.json")
	if err := os.WriteFile(inputsPath, inputs, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{"-m", "agiqa_torch.parity_reference", "--out", repoDir,
		"--inputs", inputsPath, "--json", refPath}, args...)...)
	cmd.Dir = filepath.Join(root, "modelrepo", "python")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+cmd.Dir, "AGIQA_ORT_LIB="+ort.LibraryPath())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	if ref, err = os.ReadFile(refPath); err != nil {
		t.Fatal(err)
	}
	return images, repoDir, ref, ort
}

// serveExported serves an exported repository through ONNX Runtime on a
// loopback port for the rest of the test and returns a client of it.
func serveExported(t *testing.T, repoDir string, ort *ortbackend.Backend) *client.Client {
	t.Helper()
	repo, err := modelrepo.Open(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range repo.Errors {
		t.Fatalf("exported repository: %v", e)
	}
	srv, err := server.New(repo, server.WithBackend(ortbackend.Name, ort))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.GracefulStop(context.Background()) })
	c, err := client.New(context.Background(), lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestParityWithPyTorch: a tiny IP-IQA with seeded random weights, exported
// by the Python code, served by the embedded server on ONNX Runtime and
// queried by the Go client with Go preprocessing and tokenisation, scores as
// eager PyTorch does on Pillow-preprocessed inputs.
func TestParityWithPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the parity test exports a model through Python (about 15 s)")
	}
	vocab := testenv.Shared(t, "data", "clip", clip.VocabFile)
	images, repoDir, data, ort := exportParityReference(t, parityPrompts, "--seed", "7", "--vocab", vocab)
	var ref parityReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("reference.json: %v", err)
	}
	n := len(images)
	if len(ref.Pixels) != n || len(ref.Tokens) != n || len(ref.Outputs["QUALITY"]) != n || len(ref.Outputs["ALIGNMENT"]) != n {
		t.Fatalf("reference has %d pixels, %d token rows, outputs %v; want %d of each, QUALITY and ALIGNMENT",
			len(ref.Pixels), len(ref.Tokens), ref.Outputs, n)
	}

	ctx := context.Background()
	c := serveExported(t, repoDir, ort)

	// The harness's view: size and resize method come from the served config.
	cfg, err := c.ModelConfig(ctx, ref.Model, "")
	if err != nil {
		t.Fatalf("served model %q: %v", ref.Model, err)
	}
	if problems := modelrepo.ContractCheck(cfg); len(problems) > 0 {
		t.Fatalf("exported config breaks the contract: %v", problems)
	}
	var size int64
	for _, in := range cfg.GetInput() {
		if in.GetName() == modelrepo.InputImage {
			size = in.GetDims()[1]
		}
	}
	if size != ref.ImageSize {
		t.Fatalf("served IMAGE side %d, reference %d", size, ref.ImageSize)
	}
	methodName, _ := modelrepo.Parameter(cfg, "agiqa.preprocess")
	method, err := preprocess.ParseMethod(methodName)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := clip.Load(vocab)
	if err != nil {
		t.Fatal(err)
	}

	// Preprocessing parity, image by image.
	pixels := make([][]uint8, n)
	tokens := make([][]int64, n)
	for i, path := range images {
		if pixels[i], err = preprocess.LoadTensor(path, int(size), method); err != nil {
			t.Fatal(err)
		}
		want, err := base64.StdEncoding.DecodeString(ref.Pixels[i])
		if err != nil || len(want) != len(pixels[i]) {
			t.Fatalf("%s: reference pixels: %d bytes, %v; Go has %d", path, len(want), err, len(pixels[i]))
		}
		worst, at, differ := 0, 0, 0
		for j := range want {
			d := int(pixels[i][j]) - int(want[j])
			if d < 0 {
				d = -d
			}
			if d > 0 {
				differ++
			}
			if d > worst {
				worst, at = d, j
			}
		}
		plane := int(size * size)
		t.Logf("%s: Go vs Pillow: %d of %d values differ, max %d grey levels", filepath.Base(path), differ, len(want), worst)
		if worst > pixelTol {
			t.Errorf("%s: Go preprocessing differs from Pillow by %d grey levels at channel %d, y %d, x %d (Go %d, Pillow %d); tolerance %d",
				path, worst, at/plane, at%plane/int(size), at%int(size), pixels[i][at], want[at], pixelTol)
		}
		tokens[i] = tok.Encode(parityPrompts[i])
		if !slices.Equal(tokens[i], ref.Tokens[i]) {
			t.Errorf("prompt %q: Go tokens %v, Python %v", parityPrompts[i], tokens[i], ref.Tokens[i])
		}
	}

	// Scores: one request per image, sent together so the dynamic batcher merges them.
	got := map[string][]float64{"QUALITY": make([]float64, n), "ALIGNMENT": make([]float64, n)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := func() error {
				img, err := tensor.NewUint8(modelrepo.InputImage, []int64{1, 3, size, size}, pixels[i])
				if err != nil {
					return err
				}
				toks, err := tensor.NewInt64(modelrepo.InputTokens, []int64{1, clip.ContextLength}, tokens[i])
				if err != nil {
					return err
				}
				res, err := c.Infer(ctx, client.InferRequest{Model: ref.Model, Inputs: []*tensor.Tensor{img, toks}})
				if err != nil {
					return err
				}
				for name := range got {
					v, err := res.Float32s(name)
					if err != nil {
						return err
					}
					if len(v) != 1 {
						return fmt.Errorf("%s has %d values, want 1", name, len(v))
					}
					got[name][i] = float64(v[0]) // distinct i per goroutine: no race
				}
				return nil
			}()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", images[i], err))
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	for name, want := range ref.Outputs {
		// Scores that hardly vary across inputs would make the comparison vacuous.
		if spread := slices.Max(want) - slices.Min(want); spread < 3*scoreTol {
			t.Errorf("eager %s varies by only %.3g across the images; the parity check needs inputs that move the score", name, spread)
		}
		for i := range want {
			d := math.Abs(got[name][i] - want[i])
			t.Logf("%s %s: served %.7f eager %.7f |diff| %.2g", filepath.Base(images[i]), name, got[name][i], want[i], d)
			if d > scoreTol {
				t.Errorf("%s %s: served %.7f, eager PyTorch %.7f: |diff| %.3g > %g", images[i], name, got[name][i], want[i], d, scoreTol)
			}
		}
	}
}
