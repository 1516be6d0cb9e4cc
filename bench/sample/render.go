package sample

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// Render draws one image of the plan and returns its JPEG bytes.
func Render(sp Spec) ([]byte, error) {
	if sp.W < 1 || sp.H < 1 {
		return nil, fmt.Errorf("image %s: size %dx%d", sp.Image, sp.W, sp.H)
	}
	img := newPlanes(sp.W, sp.H)
	rng := rand.New(rand.NewPCG(uint64(sp.PromptIndex)<<8|uint64(sp.Variant), 0x7e11))
	drawScene(img, sp.RenderScene, rng)
	drawObject(img, sp.RenderObject, rng)
	d := sp.Deg
	if d.Contrast != 1 {
		img.contrast(d.Contrast)
	}
	if d.Blur > 0 {
		img.gaussianBlur(d.Blur)
	}
	if d.Noise > 0 {
		img.addNoise(d.Noise, rng)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img.rgba(), &jpeg.Options{Quality: d.JPEGQuality}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// planes is a float RGB image, one slice per channel, values 0..255.
type planes struct {
	w, h int
	c    [3][]float32
}

func newPlanes(w, h int) *planes {
	p := &planes{w: w, h: h}
	for k := range p.c {
		p.c[k] = make([]float32, w*h)
	}
	return p
}

func (p *planes) set(x, y int, rgb [3]float64) {
	i := y*p.w + x
	for k := 0; k < 3; k++ {
		p.c[k][i] = float32(rgb[k])
	}
}

func (p *planes) rgba() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, p.w, p.h))
	for i := 0; i < p.w*p.h; i++ {
		for k := 0; k < 3; k++ {
			img.Pix[4*i+k] = uint8(min(max(p.c[k][i]+0.5, 0), 255)) // round half up, clamp
		}
		img.Pix[4*i+3] = 255
	}
	return img
}

func (p *planes) contrast(c float64) {
	for k := range p.c {
		for i, v := range p.c[k] {
			p.c[k][i] = float32(128 + c*(float64(v)-128))
		}
	}
}

// gaussianBlur convolves with a sampled Gaussian (radius ceil(3 sigma),
// weights normalised), separably, clamping at the borders.
func (p *planes) gaussianBlur(sigma float64) {
	r := int(math.Ceil(3 * sigma))
	kern := make([]float32, 2*r+1)
	var sum float64
	for i := -r; i <= r; i++ {
		v := math.Exp(-float64(i*i) / (2 * sigma * sigma))
		kern[i+r] = float32(v)
		sum += v
	}
	for i := range kern {
		kern[i] = float32(float64(kern[i]) / sum)
	}
	pad := make([]float32, p.w+2*r) // one row, edges repeated
	tmp := make([]float32, p.w*p.h)
	for k := range p.c {
		src := p.c[k]
		for y := 0; y < p.h; y++ {
			row := src[y*p.w : (y+1)*p.w]
			for i := range pad {
				pad[i] = row[min(max(i-r, 0), p.w-1)]
			}
			out := tmp[y*p.w : (y+1)*p.w]
			for x := range out {
				var acc float32
				for t, kv := range kern {
					acc += kv * pad[x+t]
				}
				out[x] = acc
			}
		}
		// Vertical pass row by row, so the inner loop runs along memory.
		for y := 0; y < p.h; y++ {
			out := src[y*p.w : (y+1)*p.w]
			clear(out)
			for t, kv := range kern {
				sy := min(max(y+t-r, 0), p.h-1)
				in := tmp[sy*p.w : (sy+1)*p.w]
				for x := range out {
					out[x] += kv * in[x]
				}
			}
		}
	}
}

func (p *planes) addNoise(sigma float64, rng *rand.Rand) {
	for k := range p.c {
		for i := range p.c[k] {
			p.c[k][i] += float32(sigma * rng.NormFloat64())
		}
	}
}

func mix(a, b [3]float64, t float64) [3]float64 {
	return [3]float64{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

// hash2 is a per-pixel pseudo-random value in [-1, 1): fine texture that
// blur removes, which is what makes sharpness measurable.
func hash2(x, y int, seed uint64) float64 {
	h := uint64(x)*0x9E3779B97F4A7C15 ^ uint64(y)*0xC2B2AE3D27D4EB4F ^ seed
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return float64(h>>11)/float64(1<<52) - 1
}

// drawScene paints one of the scenes with a layout drawn from rng.
func drawScene(p *planes, scene int, rng *rand.Rand) {
	seed := rng.Uint64()
	W, H := p.w, p.h
	switch scene {
	case 0: // beach: sky, sea with waves, sand
		horizon := int(float64(H) * (0.35 + 0.1*rng.Float64()))
		shore := horizon + H/5
		phase := rng.Float64() * 6
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				var c [3]float64
				switch {
				case y < horizon:
					c = mix([3]float64{90, 160, 235}, [3]float64{220, 235, 250}, float64(y)/float64(horizon))
				case float64(y) < float64(shore)+6*math.Sin(float64(x)/14+phase):
					c = [3]float64{30, 100, 170}
					if int(float64(y)+4*math.Sin(float64(x)/9+phase))%9 == 0 {
						c = [3]float64{200, 225, 240} // wave crest
					}
				default:
					c = [3]float64{225, 200, 150}
				}
				t := 10 * hash2(x, y, seed)
				p.set(x, y, [3]float64{c[0] + t, c[1] + t, c[2] + t})
			}
		}
	case 1: // forest: green gradient, trunks, leaf speckle
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				c := mix([3]float64{60, 140, 60}, [3]float64{20, 70, 25}, float64(y)/float64(H))
				t := 18 * hash2(x/2, y/2, seed)
				p.set(x, y, [3]float64{c[0] + t, c[1] + 1.5*t, c[2] + t})
			}
		}
		for n := 0; n < 7; n++ {
			x0, w := rng.IntN(W), 6+rng.IntN(12)
			fillRect(p, x0, 0, x0+w, H, [3]float64{80, 55, 30})
		}
	case 2: // city: grey sky, buildings with lit windows
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				c := mix([3]float64{170, 180, 195}, [3]float64{210, 210, 215}, float64(y)/float64(H))
				p.set(x, y, c)
			}
		}
		for x := 0; x < W; {
			w := 25 + rng.IntN(35)
			top := H/5 + rng.IntN(H/2)
			shade := 50 + 40*rng.Float64()
			fillRect(p, x, top, x+w-2, H, [3]float64{shade, shade, shade + 10})
			for wy := top + 6; wy < H-8; wy += 12 {
				for wx := x + 4; wx < x+w-8; wx += 9 {
					if rng.Float64() < 0.6 {
						fillRect(p, wx, wy, wx+5, wy+6, [3]float64{250, 220, 120})
					}
				}
			}
			x += w
		}
	case 3: // night: dark sky, stars, moon
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				c := mix([3]float64{8, 12, 40}, [3]float64{25, 30, 70}, float64(y)/float64(H))
				if hash2(x, y, seed) > 0.985 {
					c = [3]float64{255, 255, 230}
				}
				p.set(x, y, c)
			}
		}
		mx, my, mr := 30+rng.Float64()*60, 30+rng.Float64()*30, 18.0
		fillShape(p, mx, my, mr, func(x, y float64) bool { return math.Hypot(x-mx, y-my) < mr }, [3]float64{240, 240, 210})
	case 4: // snow: white slope, blue-grey shadows, flakes
		slope := rng.Float64() * 0.4
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				c := [3]float64{200, 215, 235}
				if float64(y) > float64(H)*0.4+slope*float64(x) {
					c = [3]float64{245, 248, 252}
				}
				t := 8 * hash2(x, y, seed)
				if t > 7.5 {
					c = [3]float64{150, 165, 190}
				}
				p.set(x, y, [3]float64{c[0] + t, c[1] + t, c[2] + t})
			}
		}
	default: // desert: pale sky, dunes with ripples
		phase := rng.Float64() * 6
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				fx := float64(x)
				dune := float64(H)*0.45 + 18*math.Sin(fx/40+phase) + 8*math.Sin(fx/13)
				var c [3]float64
				if float64(y) < dune {
					c = [3]float64{235, 225, 190}
				} else {
					shade := 0.85 + 0.15*math.Sin(float64(y)/3+fx/25)
					c = [3]float64{225 * shade, 165 * shade, 90 * shade}
				}
				t := 6 * hash2(x, y, seed)
				p.set(x, y, [3]float64{c[0] + t, c[1] + t, c[2] + t})
			}
		}
	}
}

func fillRect(p *planes, x0, y0, x1, y1 int, c [3]float64) {
	for y := max(y0, 0); y < min(y1, p.h); y++ {
		for x := max(x0, 0); x < min(x1, p.w); x++ {
			p.set(x, y, c)
		}
	}
}

// fillShape paints the pixels whose centres are inside, looking only within
// radius r of (cx, cy).
func fillShape(p *planes, cx, cy, r float64, inside func(x, y float64) bool, c [3]float64) {
	for y := max(int(cy-r)-1, 0); y < min(int(cy+r)+2, p.h); y++ {
		for x := max(int(cx-r)-1, 0); x < min(int(cx+r)+2, p.w); x++ {
			if inside(float64(x)+0.5, float64(y)+0.5) {
				p.set(x, y, c)
			}
		}
	}
}

// drawObject draws the object with a dark outline at a position and size
// drawn from rng.
func drawObject(p *planes, object int, rng *rand.Rand) {
	r := 40 + 20*rng.Float64()
	cx := float64(p.w)/2 + (rng.Float64()-0.5)*60
	cy := float64(p.h)/2 + (rng.Float64()-0.5)*50
	in := shapeFunc(object)
	outline := func(x, y float64) bool { return in((x-cx)/(r+3), (y-cy)/(r+3)) }
	fill := func(x, y float64) bool { return in((x-cx)/r, (y-cy)/r) }
	fillShape(p, cx, cy, r+3, outline, [3]float64{20, 20, 20})
	fillShape(p, cx, cy, r, fill, objectRGB[object])
}

// shapeFunc returns the unit shape of an object (coordinates scaled so the
// shape fits in [-1, 1]).
func shapeFunc(object int) func(x, y float64) bool {
	switch object {
	case 0: // circle
		return func(x, y float64) bool { return x*x+y*y < 1 }
	case 1: // square
		return func(x, y float64) bool { return math.Abs(x) < 0.8 && math.Abs(y) < 0.8 }
	case 2: // triangle, apex up
		return func(x, y float64) bool { return y < 0.8 && y > -1 && math.Abs(x) < (y+1)/1.8 }
	case 3: // five-pointed star
		return func(x, y float64) bool {
			a := math.Atan2(y, x) + math.Pi/2
			return math.Hypot(x, y) < 0.45+0.55*math.Pow(0.5+0.5*math.Cos(5*a), 2)
		}
	case 4: // ring
		return func(x, y float64) bool { d := math.Hypot(x, y); return d < 1 && d > 0.55 }
	case 5: // cross
		return func(x, y float64) bool {
			ax, ay := math.Abs(x), math.Abs(y)
			return (ax < 0.3 && ay < 1) || (ay < 0.3 && ax < 1)
		}
	case 6: // diamond
		return func(x, y float64) bool { return math.Abs(x)+math.Abs(y) < 1 }
	default: // heart: (x^2 + y^2 - 1)^3 - x^2 y^3 < 0, y up
		return func(x, y float64) bool {
			x, y = 1.15*x, -1.15*y+0.2
			q := x*x + y*y - 1
			return q*q*q-x*x*y*y*y < 0
		}
	}
}
