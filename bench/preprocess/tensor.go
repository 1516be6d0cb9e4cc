package preprocess

import (
	"fmt"
	"math"
	"os"
)

// Method is how an image is brought to the model's S x S input (config parameter agiqa.preprocess).
type Method int

const (
	// MethodResize squashes the image to S x S with Pillow's bicubic filter (what IP-IQA does).
	MethodResize Method = iota
	// MethodResizeCenterCrop scales the short side to S and crops the centre S x S (CLIP's transform).
	MethodResizeCenterCrop
)

// String returns the configuration spelling of m.
func (m Method) String() string {
	switch m {
	case MethodResize:
		return "resize"
	case MethodResizeCenterCrop:
		return "resize_center_crop"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod parses the value of the agiqa.preprocess model parameter.
func ParseMethod(s string) (Method, error) {
	switch s {
	case "resize":
		return MethodResize, nil
	case "resize_center_crop":
		return MethodResizeCenterCrop, nil
	}
	return 0, fmt.Errorf("preprocess: unknown method %q (want \"resize\" or \"resize_center_crop\")", s)
}

// CenterCropGeometry returns the intermediate size that torchvision's Resize(size) gives an image of
// w x h (short side = size, long side = int(size*long/short)), and the top-left corner that
// CenterCrop(size) then uses: int(round((H-size)/2)) with Python's round-half-to-even.
func CenterCropGeometry(w, h, size int) (rw, rh, left, top int) {
	if w <= h {
		rw, rh = size, int(float64(size*h)/float64(w))
	} else {
		rw, rh = int(float64(size*w)/float64(h)), size
	}
	left = int(math.RoundToEven(float64(rw-size) / 2))
	top = int(math.RoundToEven(float64(rh-size) / 2))
	return rw, rh, left, top
}

// ToTensor resizes img to size x size with method and returns it channel-first (CHW, RGB), the
// layout of the IMAGE input: 3*size*size bytes.
func ToTensor(img RGB, size int, method Method) ([]uint8, error) {
	if !img.valid() {
		return nil, fmt.Errorf("preprocess: invalid image %dx%d with %d bytes", img.W, img.H, len(img.Pix))
	}
	if size <= 0 {
		return nil, fmt.Errorf("preprocess: invalid tensor size %d", size)
	}
	var r RGB // size x size after the switch
	switch method {
	case MethodResize:
		r = img
		if img.W != size || img.H != size {
			r = Resize(img, size, size)
		}
	case MethodResizeCenterCrop:
		// Only the size x size window that the crop keeps is resampled.
		rw, rh, l, t := CenterCropGeometry(img.W, img.H, size)
		r = resizeWindow(img, rw, rh, l, t, size, size, 1)
	default:
		return nil, fmt.Errorf("preprocess: unknown method %v", method)
	}
	out := make([]uint8, 3*size*size)
	plane := size * size
	r0, g0, b0 := out[:plane], out[plane:2*plane], out[2*plane:]
	for y := 0; y < size; y++ {
		src := r.Pix[3*y*size : 3*(y+1)*size]
		o := y * size
		for x := 0; x < size; x++ {
			r0[o+x], g0[o+x], b0[o+x] = src[3*x], src[3*x+1], src[3*x+2]
		}
	}
	return out, nil
}

// LoadTensor decodes the image at path with the default Decoder and returns ToTensor's result.
// Errors name the path.
func LoadTensor(path string, size int, method Method) ([]uint8, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("preprocess: read image: %w", err)
	}
	return DecodeTensor(data, path, size, method)
}

// DecodeTensor is LoadTensor for file content already read (by a caller that
// also hashes it); name, usually the path, is used in errors.
func DecodeTensor(data []byte, name string, size int, method Method) ([]uint8, error) {
	img, err := Decode(data, name)
	if err != nil {
		return nil, err
	}
	t, err := ToTensor(img, size, method)
	if err != nil {
		return nil, fmt.Errorf("preprocess: image %s: %w", name, err)
	}
	return t, nil
}
