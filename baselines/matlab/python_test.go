package matlab

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// testdata/python_ref.json is written by testdata/gen_python.py (Debian's numpy, scipy, scikit-image
// and Pillow); see its doc string for what each reference is.

type pyRef struct {
	SSIM []struct {
		H, W, F     int
		SeedA       int     `json:"seed_a"`
		SeedB       int     `json:"seed_b"`
		BlurB       bool    `json:"blur_b"`
		SSIMIndex   float64 `json:"ssim_index"`
		SSIM2009    float64 `json:"ssim_2009"`
		SSIMToolbox float64 `json:"ssim_toolbox"`
	}
	Resize []struct {
		H, W, Seed, Oh, Ow int
		Data               []float64
	}
}

// testImage is gen_python.py's test_image: a smooth integer pattern plus hashed noise, 0..255.
func testImage(h, w, seed int) *Gray {
	g := NewGray(h, w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint32(y*73856093) ^ uint32(x*19349663) ^ uint32(seed*83492791)
			v *= 2654435761
			g.Pix[y*w+x] = float64((x*x/7+3*y+seed*11)%200) + float64((v>>24)%56)
		}
	}
	return g
}

// blur3 is gen_python.py's integer 3x3 mean with replicated edges.
func blur3(a *Gray) *Gray {
	b := NewGray(a.H, a.W)
	for y := 0; y < a.H; y++ {
		for x := 0; x < a.W; x++ {
			var s float64
			for i := -1; i <= 1; i++ {
				for j := -1; j <= 1; j++ {
					s += a.Pix[min(max(y+i, 0), a.H-1)*a.W+min(max(x+j, 0), a.W-1)]
				}
			}
			b.Pix[y*a.W+x] = math.Floor(s / 9)
		}
	}
	return b
}

func loadPyRef(t *testing.T) pyRef {
	t.Helper()
	b, err := os.ReadFile("testdata/python_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var r pyRef
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("testdata/python_ref.json: %v", err)
	}
	if len(r.SSIM) == 0 || len(r.Resize) == 0 {
		t.Fatal("testdata/python_ref.json lacks cases")
	}
	return r
}

// TestSSIMAgainstSkimage: SSIMIndex vs skimage, SSIM (2009, downsampled) vs scipy + skimage,
// SSIMToolbox vs scipy;
// tolerance 1e-12 absolute on values in [-1, 1].
func TestSSIMAgainstSkimage(t *testing.T) {
	var worst float64
	for _, c := range loadPyRef(t).SSIM {
		a, b := testImage(c.H, c.W, c.SeedA), testImage(c.H, c.W, c.SeedB)
		if c.BlurB {
			b = blur3(a)
		}
		gi, err := SSIMIndex(a, b)
		if err != nil {
			t.Fatalf("%dx%d: %v", c.H, c.W, err)
		}
		g9, err := SSIM(a, b)
		if err != nil {
			t.Fatalf("%dx%d: %v", c.H, c.W, err)
		}
		gt, err := SSIMToolbox(a, b)
		if err != nil {
			t.Fatalf("%dx%d: %v", c.H, c.W, err)
		}
		for _, p := range [][3]float64{{gi, c.SSIMIndex, 0}, {g9, c.SSIM2009, 1}, {gt, c.SSIMToolbox, 2}} {
			e := math.Abs(p[0] - p[1])
			worst = max(worst, e)
			if e > 1e-12 {
				t.Errorf("%dx%d (f %d) %s: %.17g, skimage %.17g (|diff| %.3g > 1e-12)", c.H, c.W, c.F, []string{"SSIMIndex", "SSIM", "SSIMToolbox"}[int(p[2])], p[0], p[1], e)
			}
		}
	}
	t.Logf("SSIM max |error| %.3g", worst)
}

func TestSSIMRejectsBadInput(t *testing.T) {
	a, b := NewGray(10, 20), NewGray(11, 20)
	if _, err := SSIM(a, a); err == nil {
		t.Error("SSIM of a 10x20 image: no error")
	}
	if _, err := SSIMIndex(b, NewGray(11, 21)); err == nil {
		t.Error("SSIMIndex of 11x20 and 11x21: no error")
	}
	if _, err := SSIM(&Gray{H: 11, W: 11}, NewGray(11, 11)); err == nil {
		t.Error("SSIM of an image without pixels: no error")
	}
}

// TestImresizeAgainstPillow checks the normalised antialiased weights (MATLAB's, which Octave's
// imresize omits) against Pillow's float BICUBIC resize on the outputs whose window lies inside the
// image; Pillow keeps float32 values, hence 2e-6 relative.
func TestImresizeAgainstPillow(t *testing.T) {
	var worst float64
	checked := 0
	for _, c := range loadPyRef(t).Resize {
		a := testImage(c.H, c.W, c.Seed)
		got := ImresizeTo(a, c.Oh, c.Ow)
		if got.H != c.Oh || got.W != c.Ow || len(c.Data) != c.Oh*c.Ow {
			t.Fatalf("%dx%d -> %dx%d: got %dx%d", c.H, c.W, c.Oh, c.Ow, got.H, got.W)
		}
		rows := insideWindow(c.H, c.Oh)
		cols := insideWindow(c.W, c.Ow)
		for _, y := range rows {
			for _, x := range cols {
				e := math.Abs(got.Pix[y*c.Ow+x]-c.Data[y*c.Ow+x]) / 255
				worst = max(worst, e)
				checked++
				if e > 2e-6 {
					t.Errorf("%dx%d -> %dx%d at (%d,%d): %.9g, Pillow %.9g", c.H, c.W, c.Oh, c.Ow, y, x, got.Pix[y*c.Ow+x], c.Data[y*c.Ow+x])
				}
			}
		}
	}
	if checked < 500 {
		t.Fatalf("only %d interior pixels compared", checked)
	}
	t.Logf("imresize vs Pillow: %d interior pixels, max error %.3g of 255", checked, worst)
}

// insideWindow lists the outputs (0-based) whose bicubic window [c-2f, c+2f], c = (u+0.5)*in/out and
// f = max(1, in/out), lies within [0, in].
func insideWindow(in, out int) []int {
	s := float64(in) / float64(out)
	sup := 2 * max(1, s)
	var u []int
	for i := 0; i < out; i++ {
		c := (float64(i) + 0.5) * s
		if c-sup >= 0 && c+sup <= float64(in) {
			u = append(u, i)
		}
	}
	return u
}
