package matlab

import (
	"math"
	"testing"
)

// Degenerate inputs give empty or zero results, never a panic.
func TestDegenerateInputs(t *testing.T) {
	e, k := NewGray(0, 0), FspecialGaussian(3, 3, 0.5)
	if g := Imfilter(e, k, Symmetric); g.H != 0 || len(g.Pix) != 0 {
		t.Errorf("Imfilter of 0x0: %dx%d", g.H, g.W)
	}
	a := NewGray(4, 5)
	a.Pix[7] = 3
	if g := Imfilter(a, NewGray(0, 0), Replicate); g.H != 4 || g.W != 5 || g.Pix[7] != 0 {
		t.Errorf("Imfilter with an empty kernel: %dx%d %v", g.H, g.W, g.Pix)
	}
	for _, s := range []Shape{Full, Same, Valid} {
		g := Conv2(a, NewGray(0, 0), s)
		if err := g.Check(); err != nil {
			t.Errorf("Conv2 %v with an empty kernel: %v", s, err)
		}
		if g = Filter2(FspecialGaussian(9, 9, 2), a, Valid); g.H != 0 || g.W != 0 {
			t.Errorf("Filter2 valid with a kernel larger than the image: %dx%d", g.H, g.W)
		}
	}
	for _, s := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if g := Imresize(a, s); len(g.Pix) != 0 {
			t.Errorf("Imresize by %v: %dx%d", s, g.H, g.W)
		}
	}
	if g := ImresizeTo(e, 3, 4); g.H != 3 || g.W != 4 {
		t.Errorf("ImresizeTo 0x0 -> 3x4: %dx%d", g.H, g.W)
	}
	if g := Histeq(nil, 64); len(g) != 0 {
		t.Errorf("Histeq(nil): %v", g)
	}
	if g := Histeq([]uint8{5, 9}, 1); len(g) != 2 {
		t.Errorf("Histeq with 1 level: %v", g)
	}
	if g := FspecialLog(0, 3, 1); len(g.Pix) != 0 {
		t.Errorf("FspecialLog(0, 3): %dx%d", g.H, g.W)
	}
	if err := (&RGB8{H: 2, W: 2, Pix: make([]uint8, 11)}).Check(); err == nil {
		t.Error("RGB8 2x2 with 11 bytes: no error")
	}
	if err := (&Gray{H: 2, W: 2, Pix: make([]float64, 3)}).Check(); err == nil {
		t.Error("Gray 2x2 with 3 values: no error")
	}
	if _, err := GrayFromUint8(make([]uint8, 5), 2, 3); err == nil {
		t.Error("GrayFromUint8 of 5 values as 2x3: no error")
	}
}

// MATLAB's round and uint8 conversion: halves away from zero, saturation, NaN to 0.
func TestToUint8(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want uint8
	}{{0.5, 1}, {1.5, 2}, {2.5, 3}, {-0.4, 0}, {254.5, 255}, {300, 255}, {math.NaN(), 0}, {math.Inf(-1), 0}, {127.49999999999999, 127}} {
		if got := ToUint8(c.in); got != c.want {
			t.Errorf("ToUint8(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}

// ImresizeUint8 rounds after each pass; with a one-row image (one real pass) it equals rounding
// the double result.
func TestImresizeUint8OnePass(t *testing.T) {
	g := testImage(1, 40, 3)
	d, u := Imresize(g, 0.37), ImresizeUint8(g, 0.37)
	for i := range d.Pix {
		if float64(ToUint8(d.Pix[i])) != u.Pix[i] {
			t.Fatalf("pixel %d: uint8 path %v, rounded double %v", i, u.Pix[i], d.Pix[i])
		}
	}
}

func BenchmarkImresizeHalf1024(b *testing.B) {
	g := testImage(1024, 1024, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Imresize(g, 0.5)
	}
}

func BenchmarkImfilter7x7Replicate1024(b *testing.B) {
	g, k := testImage(1024, 1024, 1), FspecialGaussian(7, 7, 7.0/6)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Imfilter(g, k, Replicate)
	}
}
