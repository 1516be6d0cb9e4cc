package modelrepo

import (
	"strings"
	"testing"
)

// A config as Triton users write them (field names from Triton's
// model_config.proto): every field the embedded server does not implement is
// accepted with a warning naming it at its line, and the rest parses as usual.
const tritonConfig = `name: "resnet"
backend: "onnxruntime"
max_batch_size: 8
input [
  {
    name: "IMAGE"
    data_type: TYPE_FP32
    dims: [ 3, 224, 224 ]
    is_non_linear_format_io: false
  }
]
output {
  name: "QUALITY"
  data_type: TYPE_FP32
  dims: [ 1 ]
  is_non_linear_format_io: true
}
batch_input [ { kind: BATCH_ELEMENT_COUNT target_name: "N" data_type: TYPE_FP32 source_input: "IMAGE" } ]
sequence_batching {
  max_sequence_idle_microseconds: 5000000
  control_input [
    { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1 ] } ] }
  ]
  oldest { max_candidate_sequences: 4 }
}
model_operations { op_library_filename: "libcustom.so" }
model_repository_agents { agents [ { name: "checksum" parameters { key: "MD5:1/model.onnx" value: "abc" } } ] }
model_metrics { metric_control [ { metric_identifier { family: "nv_inference_request_duration_us" } histogram_options { buckets: [ 1, 10 ] } } ] }
instance_group [ { count: 2 kind: KIND_CPU secondary_devices [ { kind: KIND_NVDLA device_id: 0 } ] } ]
model_warmup [ { name: "w" batch_size: 1 inputs { key: "IMAGE" value { data_type: TYPE_FP32 dims: [ 3, 224, 224 ] zero_data: true } } } ]
response_cache { enable: true }
optimization { execution_accelerators { gpu_execution_accelerator [ { name: "tensorrt" } ] } }
parameters { key: "agiqa.preprocess" value { string_value: "resize" } }
`

func TestTritonFieldsWarnNotFail(t *testing.T) {
	cfg, warnings, err := ParseConfigWarnings("r/resnet/config.pbtxt", []byte(tritonConfig), "resnet")
	if err != nil {
		t.Fatalf("a Triton config with unimplemented fields must load: %v", err)
	}
	if cfg.GetMaxBatchSize() != 8 || len(cfg.Input) != 1 || cfg.Input[0].Name != "IMAGE" || len(cfg.Output) != 1 ||
		InstanceCount(cfg) != 2 || cfg.Parameters["agiqa.preprocess"].GetStringValue() != "resize" {
		t.Errorf("the implemented fields around the ignored ones parsed wrong: %v", cfg)
	}
	want := []string{
		"r/resnet/config.pbtxt:9:5: input.is_non_linear_format_io",
		"r/resnet/config.pbtxt:16:3: output.is_non_linear_format_io",
		"r/resnet/config.pbtxt:18:1: batch_input",
		"r/resnet/config.pbtxt:19:1: sequence_batching",
		"r/resnet/config.pbtxt:26:1: model_operations",
		"r/resnet/config.pbtxt:27:1: model_repository_agents",
		"r/resnet/config.pbtxt:28:1: model_metrics",
		"r/resnet/config.pbtxt:29:44: instance_group.secondary_devices",
		"r/resnet/config.pbtxt:30:16: model_warmup", // a list element: its opening brace
		"r/resnet/config.pbtxt:31:1: response_cache",
		"r/resnet/config.pbtxt:32:1: optimization",
	}
	if len(warnings) != len(want) {
		t.Errorf("%d warnings, want %d:\n%s", len(warnings), len(want), strings.Join(warnings, "\n"))
	}
	for _, w := range want {
		found := false
		for _, got := range warnings {
			if strings.HasPrefix(got, w) && strings.Contains(got, "ignored") {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning %q...ignored in:\n%s", w, strings.Join(warnings, "\n"))
		}
	}
	// ParseConfig gives the same config without the warnings.
	if _, err := ParseConfig("c", []byte(tritonConfig), "resnet"); err != nil {
		t.Error(err)
	}
}

// Blanking keeps positions: an error after an ignored block still names its
// own line, and a misspelt field (not a Triton one) is still an error.
func TestTritonFieldsKeepErrors(t *testing.T) {
	cases := []struct{ text, want string }{
		{"sequence_batching {\n  direct { }\n}\nmax_batch_siz: 8\n", "c:4:1: unknown field: max_batch_siz"},
		{"sequence_batchin { }\n", "c:1:1: unknown field: sequence_batchin"},
		{"model_operations { op_library_filename: \"x\" }\ninput { name: \"X\" data_type: TYPE_FP32 }\n", `c:2:1: input "X" has no dims`},
		// A Triton field in the wrong message is unknown there.
		{"input { name: \"X\" data_type: TYPE_FP32 dims: [1] sequence_batching { } }\n", "unknown field: sequence_batching"},
	}
	for _, tc := range cases {
		_, _, err := ParseConfigWarnings("c", []byte(tc.text), "m")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

// Fields our .proto has but the server does not act on warn only when set.
func TestUnimplementedWarningsOnlyWhenSet(t *testing.T) {
	base := "backend: \"native\"\nmax_batch_size: 2\ninput { name: \"X\" data_type: TYPE_FP32 dims: [1] }\noutput { name: \"Y\" data_type: TYPE_FP32 dims: [1] }\n"
	_, w, err := ParseConfigWarnings("c", []byte(base+"dynamic_batching { max_queue_delay_microseconds: 100 }\nresponse_cache { enable: false }\n"), "m")
	if err != nil || len(w) != 0 {
		t.Errorf("plain config: warnings %v, err %v", w, err)
	}
	_, w, err = ParseConfigWarnings("c", []byte(base+"dynamic_batching { priority_levels: 2 }\nmodel_transaction_policy { decoupled: true }\n"), "m")
	joined := strings.Join(w, "\n")
	if err != nil || len(w) != 2 || !strings.Contains(joined, "c:5:1: dynamic_batching priority levels") ||
		!strings.Contains(joined, "c:6:1: model_transaction_policy.decoupled") {
		t.Errorf("warnings %q, err %v", w, err)
	}
}
