package sample

import (
	"math"
	"sort"
	"testing"
)

// ranks returns average ranks (ties share their mean rank).
func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

func spearman(a, b []float64) float64 { return pearson(ranks(a), ranks(b)) }

// The MOS of the default sample follows the degradations only in part: an
// oracle that knows every degradation level exactly (what a perfect
// handcrafted metric could know at best) ranks the images with SRCC well
// below 1, and the content factors it cannot see (prompt match, appeal)
// explain a share of their own.
func TestMOSIsNotAFormulaOfTheDegradations(t *testing.T) {
	specs, err := Specs(0)
	if err != nil {
		t.Fatal(err)
	}
	mos := make([]float64, len(specs))
	negDamage := make([]float64, len(specs))
	content := make([]float64, len(specs))
	for i, s := range specs {
		mos[i] = s.MOS
		negDamage[i] = -Damage(s.Deg)
		content[i] = wAppeal*appeal(s.RenderObject, s.RenderScene) - promptPenalty(s.RenderObject == s.Object, s.RenderScene == s.Scene)
	}
	d, c := spearman(mos, negDamage), spearman(mos, content)
	t.Logf("SRCC(MOS, -damage) = %.3f, SRCC(MOS, content) = %.3f", d, c)
	if d < 0.35 || d > 0.8 {
		t.Errorf("SRCC(MOS, -damage) = %.3f, want 0.35..0.8: the degradations drive the MOS, but only in part", d)
	}
	if c < 0.25 {
		t.Errorf("SRCC(MOS, content) = %.3f, want >= 0.25: content the pixels cannot judge must matter", c)
	}
	// Images with the same degradation, content and prompt still differ
	// (idiosyncrasy and rater noise).
	seen := map[Spec]float64{}
	differ := false
	for _, s := range specs {
		k := Spec{Deg: s.Deg, Object: s.Object, Scene: s.Scene, RenderObject: s.RenderObject, RenderScene: s.RenderScene}
		if m, ok := seen[k]; ok && m != s.MOS {
			differ = true
		}
		seen[k] = s.MOS
	}
	if !differ {
		t.Error("every pair of images with the same degradation and content has the same MOS")
	}
}

// MOS are rescaled z-scores of the whole plan: within 0..5 reaching both
// ends over the plan, and the same for an image whatever n is generated.
func TestMOSIndependentOfN(t *testing.T) {
	all, _ := Specs(MaxImages)
	lo, hi := 5.0, 0.0
	for _, s := range all {
		lo, hi = math.Min(lo, s.MOS), math.Max(hi, s.MOS)
	}
	if lo != 0 || hi != 5 {
		t.Errorf("plan MOS range %g..%g, want 0..5", lo, hi)
	}
	few, _ := Specs(40)
	for i, s := range few {
		if s != all[i] {
			t.Fatalf("image %d differs between Specs(40) and Specs(%d): %+v vs %+v", i, MaxImages, s, all[i])
		}
	}
}

// Rater simulation: each rater has its own bias, gain and noise, and the
// panel mean is less noisy than any one rater (it correlates better with
// the latent quality).
func TestRaterPanel(t *testing.T) {
	specs, _ := Specs(MaxImages)
	latent := make([]float64, len(specs))
	mos := make([]float64, len(specs))
	for i, s := range specs {
		latent[i], mos[i] = s.Latent, s.MOS
	}
	panel := pearson(mos, latent)
	biases := map[float64]bool{}
	for r := 0; r < Raters; r++ {
		rt := newRater(r)
		biases[rt.bias] = true
		one := make([]float64, len(latent))
		for i, q := range latent {
			one[i] = rt.rate(q)
		}
		if p := pearson(one, latent); p >= panel {
			t.Errorf("rater %d alone correlates %.3f with the latent quality, the panel %.3f", r, p, panel)
		}
	}
	if len(biases) != Raters {
		t.Errorf("%d distinct rater biases among %d raters", len(biases), Raters)
	}
}

// Sizes vary and each is one of Sizes.
func TestSizesVary(t *testing.T) {
	specs, _ := Specs(0)
	shapes := map[[2]int]int{}
	for _, s := range specs {
		okW, okH := false, false
		for _, v := range Sizes {
			okW, okH = okW || s.W == v, okH || s.H == v
		}
		if !okW || !okH {
			t.Errorf("%s: %dx%d not from %v", s.Image, s.W, s.H, Sizes)
		}
		shapes[[2]int{s.W, s.H}]++
	}
	if len(shapes) != len(Sizes)*len(Sizes) {
		t.Errorf("%d distinct sizes in the sample, want all %d", len(shapes), len(Sizes)*len(Sizes))
	}
}
