//go:build cgo && !noturbojpeg

package preprocess

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// A JPEG cut inside its Huffman tables failed in libjpeg-turbo's header read and left the pooled
// handle broken: every later image decoded on it, good ones included, failed the same way
// ("Bogus Huffman table definition"), so one bad file in a dataset failed others at random.
func TestTurboHandleSurvivesABadImage(t *testing.T) {
	if !TurboAvailable() {
		t.Skip("libjpeg-turbo not loaded: " + TurboUnavailableReason())
	}
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for y := 0; y < 24; y++ {
		for x := 0; x < 32; x++ {
			img.Set(x, y, color.RGBA{uint8(8 * x), uint8(10 * y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	for i := 0; i < 2*cap(handles)+2; i++ {
		if _, err := Decode(good[:len(good)/2], "cut.jpg"); err == nil {
			t.Fatal("a JPEG cut in half decoded")
		}
		if _, err := Decode(good, "good.jpg"); err != nil {
			t.Fatalf("good image after a bad one (round %d): %v", i, err)
		}
	}
}
