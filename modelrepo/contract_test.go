package modelrepo

import (
	"strings"
	"testing"
)

// Native resolution: IMAGE [3, -1, -1] goes with agiqa.preprocess "native"
// and nothing else; a fixed S goes with the resize methods only.
func TestContractNativeResolution(t *testing.T) {
	cfgText := func(dims, method string) string {
		return `name: "n" max_batch_size: 8
input { name: "IMAGE" data_type: TYPE_UINT8 dims: ` + dims + ` }
output { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] }
parameters { key: "agiqa.preprocess" value { string_value: "` + method + `" } }`
	}
	for _, c := range []struct {
		dims, method, want string // want "" = honours the contract
	}{
		{"[ 3, -1, -1 ]", "native", ""},
		{"[ 3, 512, 512 ]", "resize", ""},
		{"[ 3, 224, 224 ]", "native", `agiqa.preprocess "native" needs [3, -1, -1]`},
		{"[ 3, -1, 224 ]", "native", `agiqa.preprocess "native" needs [3, -1, -1]`},
		{"[ 1, -1, -1 ]", "native", `agiqa.preprocess "native" needs [3, -1, -1]`},
		{"[ 3, -1, -1 ]", "resize", `variable height and width need agiqa.preprocess "native"`},
		{"[ 3, -1, -1 ]", "resize_center_crop", `variable height and width need agiqa.preprocess "native"`},
		{"[ 3, -1, 224 ]", "resize", "the contract needs [3, S, S] with a fixed S"},
		{"[ 3, -1, -1 ]", "squash", `agiqa.preprocess is "squash"; want "resize", "resize_center_crop" or "native"`},
	} {
		cfg, err := ParseConfig("n", []byte(cfgText(c.dims, c.method)), "n")
		if err != nil {
			t.Fatalf("%s %s: %v", c.dims, c.method, err)
		}
		got := strings.Join(ContractCheck(cfg), "\n")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s with %s: problems %q, want %q", c.dims, c.method, got, c.want)
		}
	}
}
