package sample

import (
	"math"
	"math/rand/v2"
)

// The quality MOS is what a panel of simulated raters makes of a latent
// quality, so that no pixel statistic recovers it outright. The latent
// quality of an image is a weighted sum of
//
//   - its damage (Damage: blur, noise, JPEG, contrast loss), the only part
//     a handcrafted metric can see;
//   - how appealing its content is (one draw per object-scene pair, a
//     "semantic" taste no pixel statistic models);
//   - whether it shows what the prompt asks for (AGIQA raters mark down
//     images that miss the prompt, which pixels alone cannot tell);
//   - an idiosyncratic per-image part (layout, details).
//
// Raters with individual bias, gain and noise each rate every image of the full
// plan on a 0..5 slider; each rater's ratings are z-scored, the z-scores
// averaged per image and the averages rescaled to 0..5 by the plan's
// minimum and maximum, as AGIQA's MOS are. The full plan (MaxImages) is
// always rated, so an image's MOS does not depend on how many are generated.

const (
	// Raters is the size of the simulated panel.
	Raters = 15
	// latent weights (units: rater points on the 0..5 slider, before each rater's gain)
	wDamage   = 0.8
	wAppeal   = 0.45
	wIdio     = 0.35
	raterSeed = 0x2a7e5
)

// Damage is how much the degradation d costs an image's latent quality
// (0 for Pristine): a weighted sum in which, per unit of its range, blur
// weighs most (sigma 4 costs 1.6, the worst noise 0.84, JPEG quality 15
// 1.2, contrast 0.5 0.75).
func Damage(d Degradation) float64 {
	q := math.Min(95, math.Max(1, float64(d.JPEGQuality)))
	return 0.40*d.Blur + 0.03*d.Noise + 0.015*(95-q) + 1.5*(1-d.Contrast)
}

// promptPenalty is what a mismatch with the prompt costs: a wrong object
// more than a wrong scene, both most.
func promptPenalty(objectMatches, sceneMatches bool) float64 {
	switch {
	case objectMatches && sceneMatches:
		return 0
	case objectMatches:
		return 0.5
	case sceneMatches:
		return 0.8
	}
	return 1.0
}

// appeal is the content's appeal, one standard normal draw per rendered
// object-scene pair.
func appeal(object, scene int) float64 {
	r := rand.New(rand.NewPCG(uint64(object)<<8|uint64(scene), 0xa99ea1))
	return r.NormFloat64()
}

// latentQuality of one planned image; idio is its own standard normal draw.
func latentQuality(sp Spec, idio float64) float64 {
	return -wDamage*Damage(sp.Deg) + wAppeal*appeal(sp.RenderObject, sp.RenderScene) -
		promptPenalty(sp.RenderObject == sp.Object, sp.RenderScene == sp.Scene) + wIdio*idio
}

// rater is one simulated panel member.
type rater struct {
	bias, gain, noise float64
	rng               *rand.Rand
}

func newRater(r int) rater {
	rng := rand.New(rand.NewPCG(uint64(r), raterSeed))
	return rater{
		bias:  0.4 * rng.NormFloat64(),
		gain:  0.7 + 0.6*rng.Float64(),
		noise: 0.35 + 0.45*rng.Float64(),
		rng:   rng,
	}
}

// rate gives a slider rating of an image with latent quality q.
func (r rater) rate(q float64) float64 {
	return math.Min(5, math.Max(0, 3.2+r.gain*q+r.bias+r.noise*r.rng.NormFloat64()))
}

// panelMOS rates every image of the plan (its latent qualities) and returns the
// rescaled mean z-scores, rounded as labels.csv writes them.
func panelMOS(latent []float64) []float64 {
	n := len(latent)
	sum := make([]float64, n)
	ratings := make([]float64, n)
	for r := 0; r < Raters; r++ {
		rt := newRater(r)
		var mean float64
		for i, q := range latent {
			ratings[i] = rt.rate(q)
			mean += ratings[i]
		}
		mean /= float64(n)
		var ss float64
		for _, v := range ratings {
			ss += (v - mean) * (v - mean)
		}
		sd := math.Sqrt(ss / float64(n-1))
		for i, v := range ratings {
			sum[i] += (v - mean) / sd
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range sum {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	out := make([]float64, n)
	for i, v := range sum {
		out[i] = round4(5 * (v - lo) / (hi - lo))
	}
	return out
}
