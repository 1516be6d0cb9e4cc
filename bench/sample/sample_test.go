package sample

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/bench/dataset"
)

func TestSpecs(t *testing.T) {
	specs, err := Specs(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != DefaultImages {
		t.Fatalf("%d specs", len(specs))
	}
	perGroup := map[string]int{}
	prompts := map[string]bool{}
	names := map[string]bool{}
	for _, s := range specs {
		perGroup[s.Group]++
		prompts[s.Prompt] = true
		names[s.Image] = true
		if s.MOS < 0 || s.MOS > 5 || s.MOSAlign < 0 || s.MOSAlign > 5 {
			t.Errorf("%s: scores %g %g outside 0..5", s.Image, s.MOS, s.MOSAlign)
		}
		if s.Variant == 0 && (s.Deg != Pristine || s.RenderObject != s.Object || s.RenderScene != s.Scene) {
			t.Errorf("%s: variant 0 must be pristine and aligned: %+v", s.Image, s)
		}
		if s.Variant > 0 && s.Deg == Pristine {
			t.Errorf("%s: variants > 0 must be degraded", s.Image)
		}
		matched := s.RenderObject == s.Object && s.RenderScene == s.Scene
		if matched != (s.Variant < 8) {
			t.Errorf("%s: variant %d rendered %d/%d for %d/%d", s.Image, s.Variant, s.RenderObject, s.RenderScene, s.Object, s.Scene)
		}
		if !matched && s.MOSAlign >= AlignMOS(true, true, s.Deg.Blur) {
			t.Errorf("%s: mismatched content scored %g", s.Image, s.MOSAlign)
		}
	}
	if len(perGroup) != 30 || len(prompts) != 30 || len(names) != DefaultImages {
		t.Errorf("%d groups, %d prompts, %d names", len(perGroup), len(prompts), len(names))
	}
	for g, n := range perGroup {
		if n != ImagesPerPrompt {
			t.Errorf("group %s has %d images", g, n)
		}
	}
	if _, err := Specs(MaxImages + 1); err == nil {
		t.Error("no error above MaxImages")
	}
	all, err := Specs(MaxImages)
	if err != nil || len(all) != MaxImages {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, s := range all {
		distinct[s.Prompt] = true
	}
	if len(distinct) != MaxImages/ImagesPerPrompt {
		t.Errorf("%d distinct prompts in the full plan, want %d", len(distinct), MaxImages/ImagesPerPrompt)
	}
}

// gradientEnergy is the mean squared horizontal+vertical difference of the
// luma: a plain sharpness measure.
func gradientEnergy(t *testing.T, b []byte) float64 {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	g := img.(*image.YCbCr)
	r := g.Bounds()
	var sum float64
	for y := r.Min.Y; y < r.Max.Y-1; y++ {
		for x := r.Min.X; x < r.Max.X-1; x++ {
			v := float64(g.Y[g.YOffset(x, y)])
			dx := float64(g.Y[g.YOffset(x+1, y)]) - v
			dy := float64(g.Y[g.YOffset(x, y+1)]) - v
			sum += dx*dx + dy*dy
		}
	}
	return sum / float64(r.Dx()*r.Dy())
}

// A sharpness measure must fall as blur (and so MOS) falls, in every scene.
func TestBlurLowersSharpness(t *testing.T) {
	specs, _ := Specs(0)
	for p := 0; p < 6; p++ {
		sp := specs[p*ImagesPerPrompt] // pristine variant of prompts 0..5: all six scenes
		prev := math.Inf(1)
		for _, b := range append([]float64{0}, blurLevels...) {
			sp.Deg.Blur = b
			data, err := Render(sp)
			if err != nil {
				t.Fatal(err)
			}
			e := gradientEnergy(t, data)
			if !(e < prev) {
				t.Errorf("%s: gradient energy %g at blur %g, not below %g", sp.Prompt, e, b, prev)
			}
			prev = e
		}
	}
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

func TestGenerateDeterministic(t *testing.T) {
	const n = 24
	a, b := t.TempDir(), t.TempDir()
	dsA, err := Generate(context.Background(), a, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(context.Background(), b, n); err != nil {
		t.Fatal(err)
	}
	fa, fb := readAll(t, a), readAll(t, b)
	if len(fa) != n+3 { // images, labels.csv, SHA256SUMS, VERSION
		t.Fatalf("%d files in %s", len(fa), a)
	}
	for name, data := range fa {
		if !bytes.Equal(data, fb[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
	specs, _ := Specs(n)
	if dsA.Name != dataset.Sample || len(dsA.Items) != n || dsA.LabelFile != filepath.Join(a, LabelFile) {
		t.Fatalf("dataset %s %s %d items", dsA.Name, dsA.LabelFile, len(dsA.Items))
	}
	for i, it := range dsA.Items {
		s := specs[i]
		if it.Image != s.Image || it.Prompt != s.Prompt || it.MOS != s.MOS || it.MOSAlign != s.MOSAlign ||
			it.Group != s.Group || it.Path != filepath.Join(a, s.Image) {
			t.Errorf("item %d = %+v, spec %+v", i, it, s)
		}
	}
	if rep := dataset.Preflight(context.Background(), dsA, 2); !rep.OK() {
		t.Errorf("preflight: %v", rep.Error())
	}
	for _, sp := range specs {
		img, err := jpeg.DecodeConfig(bytes.NewReader(fa[sp.Image]))
		if err != nil || img.Width != sp.W || img.Height != sp.H {
			t.Errorf("%s: image config %+v %v, planned %dx%d", sp.Image, img, err, sp.W, sp.H)
		}
	}
}

func TestGenerateReusesValidFiles(t *testing.T) {
	const n = 12
	dir := t.TempDir()
	if _, err := Generate(context.Background(), dir, n); err != nil {
		t.Fatal(err)
	}
	orig := readAll(t, dir)
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	keep, corrupt, gone := filepath.Join(dir, "p00_1.jpg"), filepath.Join(dir, "p00_2.jpg"), filepath.Join(dir, "p01_0.jpg")
	if err := os.Chtimes(keep, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corrupt, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(context.Background(), dir, n); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(keep); !st.ModTime().Equal(old) {
		t.Errorf("%s was rewritten although valid", keep)
	}
	now := readAll(t, dir)
	for name, b := range orig {
		if !bytes.Equal(b, now[name]) {
			t.Errorf("%s not restored", name)
		}
	}
	// Another generator version invalidates every image.
	if err := os.WriteFile(filepath.Join(dir, versionFile), []byte("agiqa-sample 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(context.Background(), dir, n); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(keep); st.ModTime().Equal(old) {
		t.Errorf("%s reused across generator versions", keep)
	}
}

func TestGenerateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Generate(ctx, t.TempDir(), 10)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("context canceled")) {
		t.Errorf("err = %v", err)
	}
}

func BenchmarkGenerate300(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := Generate(context.Background(), b.TempDir(), DefaultImages); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	specs, _ := Specs(0)
	for i := 0; i < b.N; i++ {
		if _, err := Render(specs[i%len(specs)]); err != nil {
			b.Fatal(err)
		}
	}
}
