//go:build !cgo || noturbojpeg

package preprocess

const turboAvailable = false

// decodeJPEGTurbo is never called in builds without libjpeg-turbo (UsesTurbo reports false).
func decodeJPEGTurbo(data []byte) (RGB, error) { return decodeJPEGPure(data) }
