package modelrepo

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

var update = flag.Bool("update", false, "rewrite the .want files of bad_* cases in testdata/configs")

// Each testdata/configs/<case> is a repository with one model. good_* cases
// must load; <case>.want is the expected config with defaults filled in.
// bad_* cases must fail; <case>.want is the exact error, with file and line.
func TestConfigGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "configs", "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		n++
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			repo, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			wantFile := dir + ".want"
			want, err := os.ReadFile(wantFile)
			if err != nil && !(*update && strings.HasPrefix(name, "bad_")) {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(name, "good_"):
				if len(repo.Errors) > 0 || len(repo.Models) != 1 {
					t.Fatalf("models %d, errors %v", len(repo.Models), repo.Errors)
				}
				var cfg pb.ModelConfig
				if err := prototext.Unmarshal(want, &cfg); err != nil {
					t.Fatalf("%s: %v", wantFile, err)
				}
				if got := repo.Models[0].Config; !proto.Equal(got, &cfg) {
					t.Errorf("config:\n%s\nwant:\n%s", prototext.Format(got), prototext.Format(&cfg))
				}
			case strings.HasPrefix(name, "bad_"):
				if len(repo.Models) != 0 || len(repo.Errors) != 1 {
					t.Fatalf("models %d, errors %v", len(repo.Models), repo.Errors)
				}
				got := repo.Errors[0].Err.Error()
				if *update {
					if err := os.WriteFile(wantFile, []byte(got+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				if got != strings.TrimSpace(string(want)) {
					t.Errorf("error:\n  %s\nwant:\n  %s", got, strings.TrimSpace(string(want)))
				}
				var ce *ConfigError
				if !errors.As(repo.Errors[0], &ce) || ce.File == "" {
					t.Errorf("error has no *ConfigError with a file: %#v", repo.Errors[0])
				}
			default:
				t.Fatalf("case %s is neither good_ nor bad_", name)
			}
		})
	}
	if n < 10 {
		t.Fatalf("only %d golden cases found", n)
	}
}

// The golden bad cases must each name a line, except the ones about
// directories; this guards against a case silently losing its position.
func TestConfigErrorsNameLines(t *testing.T) {
	noLine := map[string]bool{"bad_no_config": true, "bad_no_version": true}
	dirs, _ := filepath.Glob(filepath.Join("testdata", "configs", "bad_*"))
	for _, dir := range dirs {
		if filepath.Ext(dir) == ".want" {
			continue
		}
		repo, err := Open(dir)
		if err != nil || len(repo.Errors) != 1 {
			t.Fatalf("%s: %v %v", dir, err, repo)
		}
		var ce *ConfigError
		if !errors.As(repo.Errors[0], &ce) {
			t.Fatalf("%s: no ConfigError", dir)
		}
		if !noLine[filepath.Base(dir)] && ce.Line == 0 {
			t.Errorf("%s: error without a line: %v", dir, ce)
		}
	}
}

const okConfig = `backend: "native"
input { name: "X" data_type: TYPE_FP32 dims: [ 1 ] }
output { name: "Y" data_type: TYPE_FP32 dims: [ 1 ] }
`

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func dir() *fstest.MapFile { return &fstest.MapFile{Mode: os.ModeDir | 0o755} }

func TestOneBadModelDoesNotStopOthers(t *testing.T) {
	fsys := fstest.MapFS{
		"good/config.pbtxt":   file(okConfig),
		"good/1/model.native": file("f\n"),
		"bad/config.pbtxt":    file("backend: \"native\"\ninput { name: \"X\" }\n"),
		"bad/1/model.native":  file("f\n"),
		"README.md":           file("not a model"),
		".git/HEAD":           file("hidden"),
	}
	repo, err := OpenFS(fsys, "repo")
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Models) != 1 || repo.Models[0].Name != "good" {
		t.Fatalf("models: %+v", repo.Models)
	}
	if len(repo.Errors) != 1 || repo.Errors[0].Name != "bad" {
		t.Fatalf("errors: %v", repo.Errors)
	}
	msg := repo.Errors[0].Error()
	for _, want := range []string{`repo/bad/config.pbtxt:2:1: input "X" has no data_type`, `repo/bad/config.pbtxt:2:1: input "X" has no dims`, "no output"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestDirectoryProblems(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bad name/config.pbtxt", okConfig)
	write("bad name/1/model.native", "f")
	write("empty/config.pbtxt", okConfig)
	write("empty/1/model.native", "f")
	if err := os.MkdirAll(filepath.Join(root, "empty", "2"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("filever/config.pbtxt", okConfig)
	write("filever/1", "model bytes where a folder belongs")
	write("versions/config.pbtxt", okConfig+"version_policy { latest { num_versions: 2 } }\n")
	for _, v := range []string{"1", "3", "10", "v2", "01", "0"} {
		write("versions/"+v+"/model.native", "f")
	}
	repo, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	errs := map[string]string{}
	for _, e := range repo.Errors {
		errs[e.Name] = e.Error()
	}
	if got := errs["bad name"]; !strings.Contains(got, filepath.Join(root, "bad name")+`: model directory name "bad name" is not a plain name`) {
		t.Errorf("bad name: %q", got)
	}
	if got := errs["empty"]; !strings.Contains(got, filepath.Join(root, "empty", "2")+": version folder is empty") {
		t.Errorf("empty: %q", got)
	}
	if got := errs["filever"]; !strings.Contains(got, filepath.Join(root, "filever", "1")+": a file, but a version is a folder") {
		t.Errorf("filever: %q", got)
	}
	m := repo.Model("versions")
	if m == nil {
		t.Fatalf("versions did not load: %v", errs["versions"])
	}
	var got []int64
	for _, v := range m.Versions {
		got = append(got, v.Number)
	}
	if !slices.Equal(got, []int64{1, 3, 10}) || !slices.Equal(m.Selected, []int64{3, 10}) {
		t.Errorf("versions %v selected %v; want [1 3 10] and [3 10]", got, m.Selected)
	}
	if len(m.Warnings) != 3 {
		t.Errorf("warnings %q; want 3 (0, 01, v2)", m.Warnings)
	}
	if p, ok := m.LocalPath(10, "model.native"); !ok || p != filepath.Join(root, "versions", "10", "model.native") {
		t.Errorf("LocalPath = %q %v", p, ok)
	}
	if data, err := m.ReadFile(3, "model.native"); err != nil || string(data) != "f" {
		t.Errorf("ReadFile = %q %v", data, err)
	}
	// ReadModel sees changes on disk; a missing directory is fs.ErrNotExist.
	write("versions/11/model.native", "f")
	m2, err := repo.ReadModel("versions")
	if err != nil || !slices.Equal(m2.Selected, []int64{10, 11}) {
		t.Errorf("reload: %v %v", m2, err)
	}
	if _, err := repo.ReadModel("gone"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing model: %v", err)
	}
}

func TestVersionPolicies(t *testing.T) {
	cases := []struct {
		policy string
		want   []int64
	}{
		{"", []int64{4}},
		{"version_policy { all {} }", []int64{1, 2, 4}},
		{"version_policy { latest { num_versions: 5 } }", []int64{1, 2, 4}},
		{"version_policy { specific { versions: [4, 1, 4] } }", []int64{1, 4}},
	}
	for _, tc := range cases {
		fsys := fstest.MapFS{"m/config.pbtxt": file(okConfig + tc.policy)}
		for _, v := range []string{"1", "2", "4"} {
			fsys["m/"+v+"/model.native"] = file("f")
		}
		repo, err := OpenFS(fsys, "r")
		if err != nil || len(repo.Models) != 1 {
			t.Fatalf("%q: %v %v", tc.policy, err, repo.Errors)
		}
		if got := repo.Models[0].Selected; !slices.Equal(got, tc.want) {
			t.Errorf("%q: selected %v, want %v", tc.policy, got, tc.want)
		}
	}
}

func TestParseConfigPositions(t *testing.T) {
	// Errors on several lines come back in line order, each with a column.
	src := "name: \"m\"\nmax_batch_size: -2\ninput { name: \"A\" data_type: TYPE_FP32 dims: [ 2 ] }\n" +
		"input { name: \"A\" data_type: TYPE_FP32 dims: [ 2, -3 ] }\noutput { name: \"B\" data_type: TYPE_FP32 dims: [ 1 ] }\n"
	_, err := ParseConfig("c.pbtxt", []byte(src), "m")
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %v is not an ErrorList", err)
	}
	want := []string{
		"c.pbtxt:2:1: max_batch_size is -2; it must be 0 (no batching) or more",
		`c.pbtxt:4:9: duplicate input name "A" (first at line 3)`,
		`c.pbtxt:4:51: input "A" dims[1] is -3; a dimension is positive, or -1 for variable`,
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors: %v", len(list), err)
	}
	for i, e := range list {
		if e.Error() != want[i] {
			t.Errorf("error %d: %q, want %q", i, e.Error(), want[i])
		}
	}
}

func TestParseConfigUnexpectedEOF(t *testing.T) {
	_, err := ParseConfig("c.pbtxt", []byte("name: \"m\"\ninput {\n  name: \"A\"\n"), "m")
	want := `c.pbtxt:2:7: "{" opened here is never closed (unexpected end of file)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestContractCheck(t *testing.T) {
	good := `name: "q" max_batch_size: 4 version_policy { all {} }
input { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 224, 224 ] }
input { name: "TOKENS" data_type: TYPE_INT64 dims: [ 77 ] }
output { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] }
output { name: "ALIGNMENT" data_type: TYPE_FP32 dims: [ 1 ] }
parameters { key: "agiqa.preprocess" value { string_value: "resize_center_crop" } }
parameters { key: "agiqa.per_split" value { string_value: "true" } }
parameters { key: "agiqa.prompt_prefix" value { string_value: "A photo depicts " } }
parameters { key: "other.key" value { string_value: "x" } }`
	cfg, err := ParseConfig("good", []byte(good), "q")
	if err != nil {
		t.Fatal(err)
	}
	if p := ContractCheck(cfg); len(p) != 0 {
		t.Errorf("good config: %q", p)
	}
	bad := `name: "b" max_batch_size: 0
input { name: "IMAGE" data_type: TYPE_FP32 dims: [ 3, 224, 200 ] }
input { name: "MASK" data_type: TYPE_UINT8 dims: [ 1 ] }
output { name: "SCORE" data_type: TYPE_FP32 dims: [ 1 ] }
parameters { key: "agiqa.preproces" value { string_value: "resize" } }
parameters { key: "agiqa.higher_is_better" value { string_value: "yes" } }
parameters { key: "agiqa.per_split" value { string_value: "true" } }
parameters { key: "agiqa.prompt_prefix" value { string_value: "x" } }`
	cfg, err = ParseConfig("bad", []byte(bad), "b")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(ContractCheck(cfg), "\n")
	for _, want := range []string{
		"max_batch_size is 0", "input IMAGE is TYPE_FP32", "input IMAGE dims [3 224 200]",
		`input "MASK" is not in the contract`, `output "SCORE" is not in the contract`,
		"no QUALITY or ALIGNMENT output", `unknown parameter "agiqa.preproces"`,
		"agiqa.preprocess is missing", `agiqa.higher_is_better is "yes"`,
		"agiqa.per_split is true but version_policy is not all", "agiqa.prompt_prefix is set but the model has no TOKENS",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("contract problems lack %q:\n%s", want, got)
		}
	}
}

// The repository committed in modelrepo/models honours the contract (its
// weights are not committed, so the models lack version folders here).
func TestCommittedRepositoryContract(t *testing.T) {
	repo, err := Open("models")
	if err != nil {
		t.Fatalf("the committed repository modelrepo/models does not open: %v", err)
	}
	for _, m := range repo.Models {
		for _, p := range ContractCheck(m.Config) {
			t.Error(p)
		}
	}
	for _, e := range repo.Errors {
		if e.Config == nil {
			t.Errorf("config does not parse: %v", e)
			continue
		}
		for _, p := range ContractCheck(e.Config) {
			t.Error(p)
		}
	}
}

// The committed configs are deployable on Triton as the GPU path needs: an
// explicit version policy (all for per-split models), batching with the
// dynamic batcher, ONNX models on GPU instances, and the agiqa.* parameters
// the harness reads to place the model in the tables.
func TestCommittedRepositoryDeployment(t *testing.T) {
	dirs, err := os.ReadDir("models")
	if err != nil {
		t.Fatal(err)
	}
	onnx := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		t.Run(d.Name(), func(t *testing.T) {
			path := filepath.Join("models", d.Name(), ConfigFile)
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ParseConfig(path, text, d.Name())
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GetName() != d.Name() {
				t.Errorf("name %q, folder %q", cfg.GetName(), d.Name())
			}
			if !strings.Contains(string(text), "version_policy") {
				t.Error("no explicit version_policy")
			}
			// Ensembles schedule through their steps' models (ensemble_scheduling and dynamic_batching
			// are one oneof); preprocessing models must not batch dynamically (one bad image would
			// fail its batch-mates' requests).
			role, _ := Parameter(cfg, "agiqa.role")
			unbatched := IsEnsemble(cfg) || role == RolePreprocess
			if cfg.GetMaxBatchSize() < 1 || (cfg.GetDynamicBatching() == nil) != unbatched {
				t.Errorf("max_batch_size %d, dynamic_batching %v: want batching through the dynamic batcher",
					cfg.GetMaxBatchSize(), cfg.GetDynamicBatching())
			}
			if len(cfg.GetInstanceGroup()) == 0 {
				t.Error("no instance_group")
			}
			if cfg.GetPlatform() == "onnxruntime_onnx" {
				onnx++
				for _, g := range cfg.GetInstanceGroup() {
					if g.GetKind() != pb.ModelInstanceGroup_KIND_GPU {
						t.Errorf("ONNX model instance group of kind %v, want KIND_GPU", g.GetKind())
					}
				}
			}
			for _, k := range []string{"agiqa.catalog", "agiqa.preprocess", "agiqa.per_split", "agiqa.higher_is_better"} {
				if _, ok := Parameter(cfg, k); !ok && role != RolePreprocess {
					t.Errorf("parameter %s missing", k)
				}
			}
			if v, _ := Parameter(cfg, "agiqa.per_split"); v == "true" {
				if _, ok := cfg.GetVersionPolicy().GetPolicyChoice().(*pb.ModelVersionPolicy_All_); !ok {
					t.Error("per-split model without version_policy all")
				}
				if ds, _ := Parameter(cfg, "agiqa.dataset"); ds != "agiqa-1k" && ds != "agiqa-3k" {
					t.Errorf("per-split model with agiqa.dataset %q, want agiqa-1k or agiqa-3k", ds)
				}
			}
		})
	}
	if onnx != 20 {
		t.Errorf("%d ONNX models, want 20 (IP-IQA, ResNet50, ResNet50*, CNNIQA, DBCNN, HyperIQA per dataset, CLIP-IQA, CLIP-IQA+ and Table 2's six alignment models)", onnx)
	}
}

// A reshape must hold the same elements as dims (Triton refuses the config
// otherwise); unchecked, every request to the model would fail at run time
// with an ONNX Runtime buffer-size error instead of the model failing to load.
func TestParseConfigReshapeElementCount(t *testing.T) {
	head := "name: \"m\"\nmax_batch_size: 2\noutput { name: \"Q\" data_type: TYPE_FP32 dims: [ 1 ] reshape: { shape: [ ] } }\n"
	for _, c := range []struct{ input, want string }{
		{`input { name: "A" data_type: TYPE_INT64 dims: [ 77 ] reshape: { shape: [ 7, 12 ] } }`,
			`c.pbtxt:4:54: input "A" reshape [7,12] has 84 elements; dims [77] has 77`},
		{`input { name: "A" data_type: TYPE_INT64 dims: [ 2 ] reshape: { shape: [ ] } }`,
			`c.pbtxt:4:53: input "A" reshape [] has 1 elements; dims [2] has 2`},
		{`input { name: "A" data_type: TYPE_INT64 dims: [ -1 ] reshape: { shape: [ 77 ] } }`,
			`c.pbtxt:4:54: input "A" reshape [77] and dims [-1] differ in their variable (-1) dimensions or in the elements between them`},
		{`input { name: "A" data_type: TYPE_INT64 dims: [ -1, 6 ] reshape: { shape: [ -1, 4 ] } }`,
			`c.pbtxt:4:57: input "A" reshape [-1,4] and dims [-1,6] differ in their variable (-1) dimensions or in the elements between them`},
		{`input { name: "A" data_type: TYPE_INT64 dims: [ 3, 4 ] reshape: { shape: [ 0, 12 ] } }`,
			`c.pbtxt:4:76: input "A" reshape[0] is 0; a dimension is positive, or -1 for variable`},
	} {
		_, err := ParseConfig("c.pbtxt", []byte(head+c.input+"\n"), "m")
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.input, err, c.want)
		}
	}
	for _, ok := range []string{
		`input { name: "A" data_type: TYPE_INT64 dims: [ 77 ] reshape: { shape: [ 7, 11 ] } }`,
		`input { name: "A" data_type: TYPE_INT64 dims: [ -1, 6 ] reshape: { shape: [ -1, 2, 3 ] } }`,
		`input { name: "A" data_type: TYPE_INT64 dims: [ 2, 3, -1 ] reshape: { shape: [ 6, -1, 1 ] } }`,
	} {
		if _, err := ParseConfig("c.pbtxt", []byte(head+ok+"\n"), "m"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// A config saved with a UTF-8 byte order mark used to be reported as an
// "invalid field name" whose name is the invisible mark itself.
func TestParseConfigByteOrderMark(t *testing.T) {
	src := "\xef\xbb\xbfname: \"m\"\ninput { name: \"A\" data_type: TYPE_FP32 dims: [ 2 ] }\noutput { name: \"B\" data_type: TYPE_FP32 dims: [ 1 ] }\n"
	_, err := ParseConfig("c.pbtxt", []byte(src), "m")
	want := "c.pbtxt:1:1: the file starts with a UTF-8 byte order mark (bytes EF BB BF), which Triton's parser rejects; save it without one"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
