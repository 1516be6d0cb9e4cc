//go:build !cgo || noturbojpeg

package preprocess

// turboBuilt: this build never loads libjpeg-turbo.
const turboBuilt = false

func turboReady() bool { return false }

func turboReason() string {
	return "this build has no libjpeg-turbo support (built with CGO_ENABLED=0 or -tags noturbojpeg)"
}

// decodeJPEGTurbo is never called in builds without libjpeg-turbo (UsesTurbo reports false).
func decodeJPEGTurbo(data []byte, limit int64) (RGB, error) { return decodeJPEGPure(data, limit) }
