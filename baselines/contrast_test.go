package baselines

import (
	"context"
	"math"
	"testing"

	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
)

func halves(r, c int) uint8 {
	if c < 2 {
		return 0
	}
	return 255
}

func TestRMSContrastHandComputed(t *testing.T) {
	// Two values a, b in proportions p, 1-p: standard deviation |a-b| sqrt(p(1-p)).
	// Half black / half white: 255 * 1/2 = 127.5, the largest possible.
	// One white pixel in four: 255 * sqrt(3)/4.
	// Red-only halves: luma 0 and 0.299*255 = 76.245, so 76.245/2.
	red := make([]uint8, 3*4*4)
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			red[r*4+c] = halves(r, c)
		}
	}
	cases := []struct {
		name string
		img  []uint8
		h, w int
		want float64
	}{
		{"constant", gray(6, 9, func(int, int) uint8 { return 137 }), 6, 9, 0},
		{"single_pixel", gray(1, 1, func(int, int) uint8 { return 200 }), 1, 1, 0},
		{"half_black_half_white", gray(4, 4, halves), 4, 4, 127.5},
		{"checker5", gray(5, 5, checker), 5, 5, 255 * math.Sqrt(13.0/25*12.0/25)},
		{"one_in_four", gray(2, 2, func(r, c int) uint8 { return uint8(255 * (r * c)) }), 2, 2, 255 * math.Sqrt(3) / 4},
		{"red_halves", red, 4, 4, 76.245 / 2},
	}
	for _, tc := range cases {
		got, err := RMSContrast(tc.img, tc.h, tc.w)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !near(got, tc.want, 1e-12) {
			t.Errorf("%s: got %.12g, want %.12g", tc.name, got, tc.want)
		}
	}
}

func TestRMSContrastMatchesNumpy(t *testing.T) {
	// float64 sums in a different order from numpy: agree to ~1e-13.
	checkReference(t, "contrast_ref.json", "contrast", "numpy", RMSContrast)
}

// Pulling every pixel halfway towards mid-grey halves the contrast; adding a
// constant (brightening) leaves it unchanged.
func TestRMSContrastScalesWithSpread(t *testing.T) {
	const h, w = 8, 8
	base := gray(h, w, func(r, c int) uint8 { return uint8(20 + 20*r + 4*c) })
	squeezed := make([]uint8, len(base))
	brighter := make([]uint8, len(base))
	for i, v := range base {
		squeezed[i] = uint8((int(v) + 128) / 2) // v even here, so exact
		brighter[i] = v + 50
	}
	a, _ := RMSContrast(base, h, w)
	b, _ := RMSContrast(squeezed, h, w)
	c, _ := RMSContrast(brighter, h, w)
	if !near(b, a/2, 1e-12) || !near(c, a, 1e-12) || a == 0 {
		t.Errorf("contrast %g, squeezed %g (want %g), brightened %g (want %g)", a, b, a/2, c, a)
	}
}

func TestRMSContrastRejectsBadSizes(t *testing.T) {
	if _, err := RMSContrast(nil, 0, 5); err == nil {
		t.Error("0x5 image accepted")
	}
	if _, err := RMSContrast(make([]uint8, 10), 2, 2); err == nil {
		t.Error("buffer of the wrong length accepted")
	}
}

func TestRMSContrastModelBatch(t *testing.T) {
	f, ok := native.Lookup(RMSContrastFunc)
	if !ok {
		t.Fatal("rms_contrast not registered")
	}
	a := gray(4, 4, halves)
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
	if v[0] != 127.5 || v[1] != 0 {
		t.Errorf("QUALITY = %v, want [127.5 0]", v)
	}
	bad, _ := tensor.NewUint8("IMAGE", []int64{1, 1, 4, 4}, make([]uint8, 16))
	if _, err := f(context.Background(), []*tensor.Tensor{bad}); err == nil {
		t.Error("1-channel image accepted")
	}
	if _, err := f(context.Background(), nil); err == nil {
		t.Error("request without IMAGE accepted")
	}
}

// The built-in repository serves the contrast model through the embedded server.
func TestBuiltinRepositoryServesContrast(t *testing.T) {
	const s = 512
	img := gray(s, s, func(r, c int) uint8 { return uint8(r/2 + c/4) })
	want, _ := RMSContrast(img, s, s)
	v := serveBuiltin(t, "contrast_rms", img, s)
	if len(v) != 1 || v[0] != float32(want) || want == 0 {
		t.Errorf("served QUALITY %v, direct %v", v, want)
	}
}

// go test ./baselines -run X -bench RMSContrast
func BenchmarkRMSContrast512(b *testing.B) {
	const s = 512
	img := gray(s, s, func(r, c int) uint8 { return uint8(r*7 + c*13) })
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, err := RMSContrast(img, s, s); err != nil {
			b.Fatal(err)
		}
	}
}
