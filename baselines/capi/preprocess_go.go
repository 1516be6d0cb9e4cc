package main

import (
	"fmt"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/modelrepo/preprocmodel"
)

// preprocessImage is agiqa_preprocess's Go side: preprocmodel's Spec.Image,
// the function the embedded server's preprocessing models run.
func preprocessImage(method string, size int, data []byte) (preprocess.CHW, error) {
	m, err := preprocess.ParseMethod(method)
	if err != nil {
		return preprocess.CHW{}, err
	}
	if (m == preprocess.MethodNative) != (size == 0) || size < 0 || size > 1<<14 {
		return preprocess.CHW{}, fmt.Errorf("preprocess: size %d does not fit method %q (native takes 0, the others 1..16384)", size, method)
	}
	return preprocmodel.Spec{Method: m, Size: size}.Image(data, "ENCODED")
}
