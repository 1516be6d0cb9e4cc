package extractor

import (
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
)

// A 2x3 image written pixel by pixel: channel-first holds all R, then all G, then all B, row-major.
func TestFromPackedIsChannelFirst(t *testing.T) {
	img := preprocess.NewRGB(3, 2)
	for y := 0; y < 2; y++ {
		for x := 0; x < 3; x++ {
			p := 3 * (y*3 + x)
			img.Pix[p], img.Pix[p+1], img.Pix[p+2] = uint8(10*y+x), uint8(100+10*y+x), uint8(200+10*y+x)
		}
	}
	got := FromPacked(img)
	want := []uint8{0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112, 200, 201, 202, 210, 211, 212}
	if got.H != 2 || got.W != 3 || string(got.Pix) != string(want) {
		t.Errorf("FromPacked = %dx%d %v, want 2x3 %v", got.H, got.W, got.Pix, want)
	}
}

func TestRegisterLookupAndCacheAdapter(t *testing.T) {
	Register(Extractor{Name: "test_first_pixel", Version: "1", Len: 3, Features: func(im *matlab.RGB8) ([]float64, error) {
		n := im.H * im.W
		return []float64{float64(im.Pix[0]), float64(im.Pix[n]), float64(im.Pix[2*n])}, nil
	}})
	e, ok := Lookup("test_first_pixel")
	if !ok {
		t.Fatal("not registered")
	}
	img := preprocess.NewRGB(2, 2)
	copy(img.Pix, []uint8{7, 8, 9})
	v, err := e.ForCache().Features(img)
	if err != nil || v[0] != 7 || v[1] != 8 || v[2] != 9 {
		t.Errorf("through the cache adapter: %v %v", v, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("a second registration under one name did not panic")
		}
	}()
	Register(e)
}
