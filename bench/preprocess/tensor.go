package preprocess

import (
	"context"
	"fmt"
	"math"
)

// Method is how an image is brought to the model's IMAGE input (config parameter agiqa.preprocess).
type Method int

const (
	// MethodResize squashes the image to S x S with Pillow's bicubic filter (what IP-IQA does).
	MethodResize Method = iota
	// MethodResizeCenterCrop scales the short side to S and crops the centre S x S (CLIP's transform).
	MethodResizeCenterCrop
	// MethodNative sends the decoded image at its own size, untouched: handcrafted metrics
	// ([3, -1, -1] inputs) score images as their authors' code does, never after a resize.
	MethodNative
	// MethodResizePad scales the long side to S (the short side rounded half to even, as Python's
	// round) and pads the short side with black to S x S, centred (the extra pixel after): HPS v2's
	// validation transform (ResizeMaxSize with fill 0 in the HPSv2 authors' open_clip).
	MethodResizePad
)

// String returns the configuration spelling of m.
func (m Method) String() string {
	switch m {
	case MethodResize:
		return "resize"
	case MethodResizeCenterCrop:
		return "resize_center_crop"
	case MethodNative:
		return "native"
	case MethodResizePad:
		return "resize_pad"
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
	case "native":
		return MethodNative, nil
	case "resize_pad":
		return MethodResizePad, nil
	}
	return 0, fmt.Errorf("preprocess: unknown method %q (want \"resize\", \"resize_center_crop\", \"resize_pad\" or \"native\")", s)
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

// PadGeometry returns the size the long side-to-S resize of a w x h image gives (each side times
// size/max(w, h), rounded half to even) and the left and top padding that centres it in size x size.
func PadGeometry(w, h, size int) (rw, rh, left, top int) {
	scale := float64(size) / float64(max(w, h))
	rw = min(size, max(1, int(math.RoundToEven(float64(w)*scale))))
	rh = min(size, max(1, int(math.RoundToEven(float64(h)*scale))))
	return rw, rh, (size - rw) / 2, (size - rh) / 2
}

// resizePad is MethodResizePad. An image whose long side is already size is padded without a resize
// (the authors' transform skips both steps then, leaving a non-square image no ViT takes).
func resizePad(img RGB, size int) RGB {
	rw, rh, left, top := PadGeometry(img.W, img.H, size)
	r := img
	if rw != img.W || rh != img.H {
		r = Resize(img, rw, rh)
	}
	out := NewRGB(size, size)
	for y := 0; y < rh; y++ {
		copy(out.Pix[3*((top+y)*size+left):], r.Pix[3*y*rw:3*(y+1)*rw])
	}
	return out
}

// CHW is an IMAGE input tensor: H x W RGB, channel-first, 3*H*W bytes.
type CHW struct {
	H, W int
	Pix  []uint8
}

// ToCHW brings img to the IMAGE input: size x size by method, or for MethodNative the image at
// its own size (size must then be 0: a native input has no fixed side).
func ToCHW(img RGB, size int, method Method) (CHW, error) {
	if !img.valid() {
		return CHW{}, fmt.Errorf("preprocess: invalid image %dx%d with %d bytes", img.W, img.H, len(img.Pix))
	}
	if method == MethodNative {
		if size != 0 {
			return CHW{}, fmt.Errorf("preprocess: method native takes the image at its own size, not %d", size)
		}
		return CHW{H: img.H, W: img.W, Pix: planar(img)}, nil
	}
	t, err := ToTensor(img, size, method)
	if err != nil {
		return CHW{}, err
	}
	return CHW{H: size, W: size, Pix: t}, nil
}

// planar reorders packed RGB into channel-first planes.
func planar(r RGB) []uint8 {
	plane := r.W * r.H
	out := make([]uint8, 3*plane)
	r0, g0, b0 := out[:plane], out[plane:2*plane], out[2*plane:]
	for i := 0; i < plane; i++ {
		r0[i], g0[i], b0[i] = r.Pix[3*i], r.Pix[3*i+1], r.Pix[3*i+2]
	}
	return out
}

// ToTensor resizes img to size x size with method and returns it channel-first (CHW, RGB), the
// layout of the IMAGE input: 3*size*size bytes. MethodNative needs ToCHW (the size is the image's).
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
	case MethodResizePad:
		r = resizePad(img, size)
	default:
		return nil, fmt.Errorf("preprocess: unknown method %v", method)
	}
	return planar(r), nil
}

// LoadTensor reads (ReadFile) and decodes the image at path with the default Decoder and returns
// ToTensor's result. Errors name the path.
func LoadTensor(path string, size int, method Method) ([]uint8, error) {
	data, err := ReadFile(context.Background(), path)
	if err != nil {
		return nil, err
	}
	return DecodeTensor(data, path, size, method)
}

// DecodeTensor is LoadTensor for file content already read (by a caller that
// also hashes it); name, usually the path, is used in errors.
func DecodeTensor(data []byte, name string, size int, method Method) ([]uint8, error) {
	t, err := DecodeCHW(data, name, size, method)
	return t.Pix, err
}

// DecodeCHW decodes data (JPEG or PNG, within the default Limits) and returns ToCHW's result:
// for MethodNative the image at its own size. name, usually the path, is used in errors.
func DecodeCHW(data []byte, name string, size int, method Method) (CHW, error) {
	img, err := Decode(data, name)
	if err != nil {
		return CHW{}, err
	}
	t, err := ToCHW(img, size, method)
	if err != nil {
		return CHW{}, fmt.Errorf("preprocess: image %s: %w", name, err)
	}
	return t, nil
}
