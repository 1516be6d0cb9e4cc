// Package sample generates the built-in "sample" dataset: small procedural
// images with known degradations and derived scores, so that the whole
// pipeline (load, preflight, split, infer, correlate, tabulate) runs on a
// fresh machine without downloading AGIQA.
//
// Each prompt names an object and a scene ("a red circle on a beach"). Ten
// images are rendered per prompt, each at its own size (width and height
// each 192, 224 or 256 px) with its own layout and a degradation drawn from
// a seeded stream: Gaussian blur, Gaussian noise, JPEG compression and
// contrast loss. Two images per prompt are rendered from the wrong prompt
// (another object, another scene or both). The quality MOS is not a formula
// of the degradations: a simulated rater panel scores a latent quality of
// which the degradations are one part, beside content appeal, prompt match
// and per-image idiosyncrasy (mos.go), so handcrafted metrics recover it
// only in part. The alignment MOS (AlignMOS) says how well the rendered
// content matches the prompt.
//
// Everything is a function of the image's index: the same n gives the same
// bytes on every run with the same Go toolchain (the JPEG encoder is Go's).
package sample

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
)

const (
	// DefaultImages is the number of images Generate writes when n <= 0.
	DefaultImages = 300
	// ImagesPerPrompt is how many images share a prompt (one split group).
	ImagesPerPrompt = 10
	// LabelFile is the generic-CSV label file Generate writes into its folder.
	LabelFile = "labels.csv"
	// sumsFile records the sha256 of every image written, for reuse.
	sumsFile = "SHA256SUMS"
	// versionFile holds generatorVersion; images from another version are redrawn.
	versionFile = "VERSION"
	// generatorVersion changes whenever rendering or scoring changes.
	generatorVersion = "agiqa-sample 2"
)

// Sizes are the widths and heights images are drawn with: at least 192 px,
// so NIQE's 96 px blocks fit at both of its scales.
var Sizes = []int{192, 224, 256}

var (
	objectNames = []string{"red circle", "blue square", "green triangle", "yellow star", "purple ring", "orange cross", "white diamond", "pink heart"}
	objectRGB   = [][3]float64{{220, 30, 35}, {35, 70, 215}, {30, 170, 60}, {245, 210, 30}, {140, 50, 180}, {245, 130, 20}, {250, 250, 250}, {245, 120, 170}}
	sceneNames  = []string{"on a beach", "in a forest", "in a city", "at night", "in the snow", "in the desert"}
)

// MaxImages is the largest n Generate accepts: every object-scene pair once.
var MaxImages = len(objectNames) * len(sceneNames) * ImagesPerPrompt

// Degradation is what was done to a pristine rendering, in this order:
// contrast, blur, noise, JPEG.
type Degradation struct {
	// Blur is the Gaussian blur's sigma in pixels (0 = none).
	Blur float64
	// Noise is the sigma of additive Gaussian noise on the 0..255 scale.
	Noise float64
	// JPEGQuality is the encoder quality, 1..100.
	JPEGQuality int
	// Contrast scales deviations from mid-grey (1 = unchanged).
	Contrast float64
}

// Pristine is the degradation of an undamaged image.
var Pristine = Degradation{JPEGQuality: 95, Contrast: 1}

// AlignMOS is the alignment score (0..5): high when the rendered object and
// scene both match the prompt, lower when the scene is wrong, lower still
// when the object is wrong, lowest when both are; blur makes the content
// harder to recognise and costs a little.
func AlignMOS(objectMatches, sceneMatches bool, blur float64) float64 {
	base := 0.6
	switch {
	case objectMatches && sceneMatches:
		base = 4.5
	case objectMatches:
		base = 3.0
	case sceneMatches:
		base = 1.8
	}
	return math.Max(0, base-0.12*blur)
}

// Spec is the plan of one image.
type Spec struct {
	Image  string
	Prompt string
	// Group is the prompt index (as text), the unit splits keep together.
	Group string
	// PromptIndex, Object and Scene are what the prompt asks for;
	// RenderObject and RenderScene are what was drawn.
	PromptIndex, Object, Scene, RenderObject, RenderScene int
	// Variant is the image's index within its prompt (0..ImagesPerPrompt-1).
	Variant int
	// W and H are the image's size in pixels (each one of Sizes).
	W, H int
	Deg  Degradation
	// Latent is the quality the simulated raters perceive (mos.go); MOS is
	// their rescaled mean z-score.
	Latent   float64
	MOS      float64
	MOSAlign float64
}

// promptParts maps a prompt index to its object and scene. Consecutive
// prompts cycle through the objects, and every block of len(objectNames)
// prompts shifts the scenes, so the first 30 prompts cover all objects and
// scenes and all 48 pairs are distinct.
func promptParts(p int) (object, scene int) {
	a, b := p/len(objectNames), p%len(objectNames)
	return b, (a + b) % len(sceneNames)
}

var (
	blurLevels     = []float64{0.8, 1.5, 2.5, 4}
	noiseLevels    = []float64{4, 8, 16, 28}
	qualityLevels  = []int{75, 50, 30, 15}
	contrastLevels = []float64{0.85, 0.7, 0.5}
)

// Specs returns the plan of the first n images (n <= 0: DefaultImages).
func Specs(n int) ([]Spec, error) {
	if n <= 0 {
		n = DefaultImages
	}
	if n > MaxImages {
		return nil, fmt.Errorf("sample dataset: %d images requested, at most %d", n, MaxImages)
	}
	// The whole plan is drawn and rated, so an image's MOS is the same for every n.
	specs := make([]Spec, MaxImages)
	latent := make([]float64, MaxImages)
	for i := range specs {
		p, j := i/ImagesPerPrompt, i%ImagesPerPrompt
		o, s := promptParts(p)
		sp := Spec{
			Image:  fmt.Sprintf("p%02d_%d.jpg", p, j),
			Prompt: fmt.Sprintf("a %s %s", objectNames[o], sceneNames[s]),
			Group:  strconv.Itoa(p), PromptIndex: p, Variant: j,
			Object: o, Scene: s, RenderObject: o, RenderScene: s,
			Deg: Pristine,
		}
		rng := rand.New(rand.NewPCG(uint64(i), 0x5a3d1e)) // one stream per image
		if j > 0 {
			// One degradation per image is always present (cycling through
			// the four kinds), each other one with probability 0.3.
			for kind := 0; kind < 4; kind++ {
				if kind != j%4 && rng.Float64() >= 0.3 {
					continue
				}
				switch kind {
				case 0:
					sp.Deg.Blur = blurLevels[rng.IntN(len(blurLevels))]
				case 1:
					sp.Deg.Noise = noiseLevels[rng.IntN(len(noiseLevels))]
				case 2:
					sp.Deg.JPEGQuality = qualityLevels[rng.IntN(len(qualityLevels))]
				case 3:
					sp.Deg.Contrast = contrastLevels[rng.IntN(len(contrastLevels))]
				}
			}
		}
		// Variants 8 and 9 show another prompt's content.
		switch {
		case j == 8:
			sp.RenderObject = (o + 3) % len(objectNames)
		case j == 9 && p%2 == 0:
			sp.RenderScene = (s + 2) % len(sceneNames)
		case j == 9:
			sp.RenderObject = (o + 5) % len(objectNames)
			sp.RenderScene = (s + 3) % len(sceneNames)
		}
		// Size and idiosyncrasy come from their own stream, so adding them
		// left the degradation draws as they were.
		own := rand.New(rand.NewPCG(uint64(i), 0x51e5))
		sp.W, sp.H = Sizes[own.IntN(len(Sizes))], Sizes[own.IntN(len(Sizes))]
		sp.Latent = latentQuality(sp, own.NormFloat64())
		latent[i] = sp.Latent
		sp.MOSAlign = round4(AlignMOS(sp.RenderObject == o, sp.RenderScene == s, sp.Deg.Blur))
		specs[i] = sp
	}
	for i, m := range panelMOS(latent) {
		specs[i].MOS = m
	}
	return specs[:n], nil
}

// round4 keeps the scores as written to labels.csv, so the returned dataset
// and the file agree exactly.
func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// Generate writes the first n sample images (n <= 0: DefaultImages) and
// labels.csv into dir, and returns the dataset (name "sample"). Images
// already in dir are reused when their sha256 matches the one recorded when
// this generator version wrote them; any other file of the plan is rendered
// again. Files are written through a temporary name and a rename.
func Generate(ctx context.Context, dir string, n int) (*dataset.Dataset, error) {
	specs, err := Specs(n)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sample dataset: %w", err)
	}
	known := readSums(dir)
	sums := make([]string, len(specs))
	errs := make([]error, len(specs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				sums[i], errs[i] = ensureImage(dir, specs[i], known[specs[i].Image])
			}
		}()
	}
feed:
	for i := range specs {
		if ctx.Err() != nil {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sample dataset in %s: %w", dir, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var sb strings.Builder
	for i, sp := range specs {
		fmt.Fprintf(&sb, "%s  %s\n", sums[i], sp.Image)
	}
	if err := writeAtomic(filepath.Join(dir, sumsFile), []byte(sb.String())); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, versionFile), []byte(generatorVersion+"\n")); err != nil {
		return nil, err
	}
	labels := filepath.Join(dir, LabelFile)
	if err := writeAtomic(labels, labelsCSV(specs)); err != nil {
		return nil, err
	}
	return dataset.Load(dataset.Sample, labels, dir)
}

// labelsCSV is the generic dataset layout plus the generation parameters.
func labelsCSV(specs []Spec) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"image", "prompt", "mos", "mos_align", "group", "width", "height", "blur", "noise", "jpeg_quality", "contrast",
		"rendered_object", "rendered_scene", "latent_quality"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, s := range specs {
		w.Write([]string{s.Image, s.Prompt, f(s.MOS), f(s.MOSAlign), s.Group, strconv.Itoa(s.W), strconv.Itoa(s.H),
			f(s.Deg.Blur), f(s.Deg.Noise), strconv.Itoa(s.Deg.JPEGQuality), f(s.Deg.Contrast),
			objectNames[s.RenderObject], sceneNames[s.RenderScene], strconv.FormatFloat(s.Latent, 'f', 4, 64)})
	}
	w.Flush()
	return b.Bytes()
}

// readSums returns the recorded sha256 per image, or nothing when the folder
// was written by another generator version (or not at all).
func readSums(dir string) map[string]string {
	v, err := os.ReadFile(filepath.Join(dir, versionFile))
	if err != nil || strings.TrimSpace(string(v)) != generatorVersion {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, sumsFile))
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if sum, name, ok := strings.Cut(line, "  "); ok {
			m[name] = sum
		}
	}
	return m
}

// ensureImage reuses dir/spec.Image when its hash is want, else renders it.
func ensureImage(dir string, sp Spec, want string) (string, error) {
	path := filepath.Join(dir, sp.Image)
	if want != "" {
		if got, err := fileSHA256(path); err == nil && got == want {
			return got, nil
		}
	}
	b, err := Render(sp)
	if err != nil {
		return "", fmt.Errorf("sample image %s: %w", path, err)
	}
	if err := writeAtomic(path, b); err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeAtomic(path string, b []byte) error {
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("sample dataset: %w", err)
	}
	return nil
}
