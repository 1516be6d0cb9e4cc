package modelrepo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// FuzzParseConfig: config.pbtxt text is untrusted input. ParseConfig never panics; what it refuses
// is an ErrorList whose every entry names the file and, when it has a line, one inside the text; what
// it accepts carries the defaults (a name, a version policy, instances) and, written back as text,
// parses again to the same config (validation and defaults are a fixed point). Seeds: every config
// of the Triton repository, the built-in models and the validation fixtures.
func FuzzParseConfig(f *testing.F) {
	var seeds []string
	for _, pat := range []string{"models/*/config.pbtxt", "../baselines/builtin/*/config.pbtxt", "testdata/configs/*"} {
		m, _ := filepath.Glob(pat)
		seeds = append(seeds, m...)
	}
	for _, p := range seeds {
		if strings.HasSuffix(p, ".want") {
			continue
		}
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("\xef\xbb\xbfname: \"m\""))
	f.Add([]byte("input { name: \"X\" data_type: TYPE_FP32 dims: [ 3, -1 ]"))
	f.Add([]byte("max_batch_size: -1\ninstance_group { count: 100000 }"))
	f.Add([]byte("dynamic_batching { default_queue_policy { max_queue_size: 4294967295 } }"))
	const file, model = "m/config.pbtxt", "m"
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(file, data, model)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %v (%T) is not a non-empty ErrorList", err, err)
			}
			lines := strings.Count(string(data), "\n") + 1
			for _, e := range list {
				if e.File != file || e.Line < 0 || e.Line > lines || e.Msg == "" {
					t.Fatalf("error %+v: want file %q, line 0..%d and a message", e, file, lines)
				}
			}
			return
		}
		if cfg.Name == "" || cfg.VersionPolicy == nil || InstanceCount(cfg) < 1 {
			t.Fatalf("accepted config lacks its defaults: %v", cfg)
		}
		text, err := prototext.Marshal(cfg)
		if err != nil {
			t.Fatalf("accepted config does not marshal: %v", err)
		}
		again, err := ParseConfig(file, text, model)
		if err != nil {
			t.Fatalf("accepted config, written back, is refused: %v\n%s", err, text)
		}
		if !proto.Equal(cfg, again) {
			t.Fatalf("accepted config changes when parsed again:\n%v\n%v", cfg, again)
		}
	})
}
