package modelrepo

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/prototext"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// ConfigError is one problem in a model's config.pbtxt or its directory. File
// is the path as the repository was opened plus the path inside it; Line and
// Col are 1-based, and 0 when the problem has no position (a directory).
type ConfigError struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e *ConfigError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
}

// ErrorList holds every problem found in one model, in file order.
type ErrorList []*ConfigError

func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap lets errors.As find the individual *ConfigError values.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// errorsOrNil keeps a nil ErrorList from turning into a non-nil error.
func (l ErrorList) errorsOrNil() error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(i, j int) bool { return l[i].Line < l[j].Line })
	return l
}

// protobuf-go separates parts of its messages with a space or, at random,
// U+00A0 (to discourage matching on them), hence the wide space classes.
var protoLineCol = regexp.MustCompile(`\(line (\d+):(\d+)\):[\s\x{00a0}]*`)

// ParseConfig decodes config.pbtxt text into a ModelConfig, validates it and
// fills the defaults Triton fills (name from the directory, version policy
// latest 1, one instance). file names the config in errors; modelName is the
// model directory's name. The error, when not nil, is an ErrorList.
func ParseConfig(file string, data []byte, modelName string) (*pb.ModelConfig, error) {
	cfg, _, err := ParseConfigWarnings(file, data, modelName)
	return cfg, err
}

// ParseConfigWarnings is ParseConfig that also returns a warning ("file:line:col:
// ...") for each field Triton defines and the embedded server ignores
// (tritonfields.go): such a config loads, as a repository written for Triton must.
func ParseConfigWarnings(file string, data []byte, modelName string) (*pb.ModelConfig, []string, error) {
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		// prototext would report an "invalid field name" that is the invisible mark.
		return nil, nil, ErrorList{{File: file, Line: 1, Col: 1,
			Msg: "the file starts with a UTF-8 byte order mark (bytes EF BB BF), which Triton's parser rejects; save it without one"}}
	}
	absent := findAbsent(data)
	var warnings []string
	for _, b := range absent {
		warnings = append(warnings, b.warning(file))
	}
	data = blankOut(data, absent)
	cfg := &pb.ModelConfig{}
	if err := prototext.Unmarshal(data, cfg); err != nil {
		return nil, nil, ErrorList{protoError(file, data, err)}
	}
	root, _ := parseTextPositions(data)
	v := &validator{file: file, root: root}
	v.check(cfg, modelName)
	if err := v.errs.errorsOrNil(); err != nil {
		return nil, nil, err
	}
	warnings = append(warnings, unimplementedWarnings(file, cfg, root)...)
	fillDefaults(cfg, modelName)
	return cfg, warnings, nil
}

// protoError turns a prototext error into a ConfigError at its line and column.
func protoError(file string, data []byte, err error) *ConfigError {
	msg := err.Error()
	_, s := parseTextPositions(data)
	if loc := protoLineCol.FindStringSubmatchIndex(msg); loc != nil {
		line, _ := strconv.Atoi(msg[loc[2]:loc[3]])
		col, _ := strconv.Atoi(msg[loc[4]:loc[5]])
		text := msg[loc[1]:]
		if s.unclosed != nil {
			// A missing brace surfaces later as a strange field; say where it opened.
			text += fmt.Sprintf(" (the %q at line %d:%d is never closed)", s.unclosed.text, s.unclosed.line, s.unclosed.col)
		}
		return &ConfigError{File: file, Line: line, Col: col, Msg: text}
	}
	msg = strings.TrimLeft(strings.TrimPrefix(msg, "proto:"), " \u00a0")
	if strings.Contains(msg, "unexpected EOF") {
		if s.unclosed != nil {
			return &ConfigError{File: file, Line: s.unclosed.line, Col: s.unclosed.col,
				Msg: fmt.Sprintf("%q opened here is never closed (unexpected end of file)", s.unclosed.text)}
		}
		return &ConfigError{File: file, Line: strings.Count(string(data), "\n") + 1, Msg: "unexpected end of file"}
	}
	return &ConfigError{File: file, Msg: msg}
}

type validator struct {
	file string
	root *textNode
	errs ErrorList
}

func (v *validator) errorf(at *textNode, format string, args ...any) {
	e := &ConfigError{File: v.file, Msg: fmt.Sprintf(format, args...)}
	if at != nil && at != v.root {
		e.Line, e.Col = at.line, at.col
	}
	v.errs = append(v.errs, e)
}

// or returns the first non-nil node, so a message points at the most
// specific place the text has.
func or(nodes ...*textNode) *textNode {
	for _, n := range nodes {
		if n != nil {
			return n
		}
	}
	return nil
}

func (v *validator) check(cfg *pb.ModelConfig, modelName string) {
	root := v.root
	if cfg.Name != "" && modelName != "" && cfg.Name != modelName {
		v.errorf(root.field("name", 0), "name %q does not match the model directory %q", cfg.Name, modelName)
	}
	if cfg.MaxBatchSize < 0 {
		v.errorf(root.field("max_batch_size", 0), "max_batch_size is %d; it must be 0 (no batching) or more", cfg.MaxBatchSize)
	}
	if len(cfg.Input) == 0 {
		v.errorf(nil, "no input: a model needs at least one input block")
	}
	if len(cfg.Output) == 0 {
		v.errorf(nil, "no output: a model needs at least one output block")
	}
	seen := map[string]*textNode{}
	for i, in := range cfg.Input {
		node := root.field("input", i)
		v.tensor("input", in.Name, in.DataType, in.Dims, in.Reshape, node, seen)
	}
	seen = map[string]*textNode{}
	for i, out := range cfg.Output {
		node := root.field("output", i)
		v.tensor("output", out.Name, out.DataType, out.Dims, out.Reshape, node, seen)
	}
	for i, g := range cfg.InstanceGroup {
		node := root.field("instance_group", i)
		if g.Count < 0 {
			v.errorf(or(node.field("count", 0), node), "instance_group count is %d; it must be 1 or more (0 means 1)", g.Count)
		}
	}
	if p := cfg.VersionPolicy; p != nil {
		node := root.field("version_policy", 0)
		switch c := p.PolicyChoice.(type) {
		case *pb.ModelVersionPolicy_Latest_:
			if c.Latest.GetNumVersions() == 0 {
				lat := node.field("latest", 0)
				v.errorf(or(lat.field("num_versions", 0), lat, node), "version_policy latest needs num_versions >= 1")
			}
		case *pb.ModelVersionPolicy_Specific_:
			spec := node.field("specific", 0)
			if len(c.Specific.Versions) == 0 {
				v.errorf(or(spec, node), "version_policy specific lists no versions")
			}
			for j, ver := range c.Specific.Versions {
				if ver < 1 {
					v.errorf(or(spec.field("versions", j), spec, node), "version_policy specific version %d: versions are 1 or more", ver)
				}
			}
		}
	}
	if IsEnsemble(cfg) {
		v.ensemble(cfg) // ensemble.go
	}
	if db := cfg.GetDynamicBatching(); db != nil {
		node := root.field("dynamic_batching", 0)
		if cfg.MaxBatchSize < 1 {
			v.errorf(node, "dynamic_batching needs max_batch_size >= 1 (it is %d)", cfg.MaxBatchSize)
		}
		for j, p := range db.PreferredBatchSize {
			if p < 1 || (cfg.MaxBatchSize >= 1 && p > cfg.MaxBatchSize) {
				v.errorf(or(node.field("preferred_batch_size", j), node),
					"preferred_batch_size %d is outside 1..%d (max_batch_size)", p, cfg.MaxBatchSize)
			}
		}
	}
}

func (v *validator) tensor(kind, name string, dt pb.DataType, dims []int64, reshape *pb.ModelTensorReshape, node *textNode, seen map[string]*textNode) {
	at := or(node.field("name", 0), node)
	if name == "" {
		v.errorf(node, "%s without a name", kind)
	} else if first, dup := seen[name]; dup {
		where := ""
		if first != nil {
			where = fmt.Sprintf(" (first at line %d)", first.line)
		}
		v.errorf(at, "duplicate %s name %q%s", kind, name, where)
	} else {
		seen[name] = at
	}
	label := fmt.Sprintf("%s %q", kind, name)
	if dt == pb.DataType_TYPE_INVALID {
		v.errorf(or(node.field("data_type", 0), node), "%s has no data_type", label)
	}
	if len(dims) == 0 && reshape == nil {
		v.errorf(node, "%s has no dims (list the shape without the batch dimension, e.g. dims: [ 1 ])", label)
	}
	badDims := false
	for j, d := range dims {
		if d == 0 || d < -1 {
			v.errorf(or(node.field("dims", j), node), "%s dims[%d] is %d; a dimension is positive, or -1 for variable", label, j, d)
			badDims = true
		}
	}
	if reshape == nil {
		return
	}
	rnode := node.field("reshape", 0)
	shape := reshape.GetShape()
	for j, d := range shape {
		if d == 0 || d < -1 {
			v.errorf(or(rnode.field("shape", j), rnode, node), "%s reshape[%d] is %d; a dimension is positive, or -1 for variable", label, j, d)
			badDims = true
		}
	}
	if badDims || len(dims) == 0 {
		return
	}
	// Triton's rule: the same elements on both sides, and with variable
	// dimensions the same fixed element counts between them.
	ds, rs := fixedSegments(dims), fixedSegments(shape)
	switch {
	case len(ds) == 1 && len(rs) == 1 && ds[0] != rs[0]:
		v.errorf(or(rnode, node), "%s reshape %s has %d elements; dims %s has %d", label, formatDims(shape), rs[0], formatDims(dims), ds[0])
	case !slices.Equal(ds, rs):
		v.errorf(or(rnode, node), "%s reshape %s and dims %s differ in their variable (-1) dimensions or in the elements between them",
			label, formatDims(shape), formatDims(dims))
	}
}

// fixedSegments is the element count of each run of fixed dimensions between
// variable ones (-1): [2,3,-1,4] -> [6,4]; [] -> [1]. Counts saturate rather
// than overflow, so an absurd shape still compares unequal to a sane one.
func fixedSegments(dims []int64) []int64 {
	segs := []int64{1}
	for _, d := range dims {
		if d == -1 {
			segs = append(segs, 1)
			continue
		}
		last := &segs[len(segs)-1]
		if *last > math.MaxInt64/d {
			*last = math.MaxInt64
		} else {
			*last *= d
		}
	}
	return segs
}

// formatDims writes dims as Triton's messages do: [-1,3,4].
func formatDims(dims []int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// fillDefaults completes a valid config the way Triton reports it back.
func fillDefaults(cfg *pb.ModelConfig, modelName string) {
	if cfg.Name == "" {
		cfg.Name = modelName
	}
	if cfg.VersionPolicy == nil {
		cfg.VersionPolicy = &pb.ModelVersionPolicy{PolicyChoice: &pb.ModelVersionPolicy_Latest_{
			Latest: &pb.ModelVersionPolicy_Latest{NumVersions: 1}}}
	}
	if len(cfg.InstanceGroup) == 0 {
		cfg.InstanceGroup = []*pb.ModelInstanceGroup{{Count: 1, Kind: pb.ModelInstanceGroup_KIND_CPU}}
	}
	for i, g := range cfg.InstanceGroup {
		if g.Count == 0 {
			g.Count = 1
		}
		if g.Name == "" {
			g.Name = fmt.Sprintf("%s_%d", cfg.Name, i)
		}
	}
}

// InstanceCount is the total instance count over instance_group entries
// (after defaults, at least 1).
func InstanceCount(cfg *pb.ModelConfig) int {
	n := 0
	for _, g := range cfg.GetInstanceGroup() {
		c := int(g.Count)
		if c == 0 {
			c = 1
		}
		n += c
	}
	if n == 0 {
		n = 1
	}
	return n
}

// BackendName is the backend that runs a model: `backend`, or the backend a
// Triton `platform` implies (onnxruntime_onnx -> onnxruntime).
func BackendName(cfg *pb.ModelConfig) string {
	if cfg.GetBackend() != "" {
		return cfg.GetBackend()
	}
	switch p := cfg.GetPlatform(); {
	case p == "onnxruntime_onnx":
		return "onnxruntime"
	case p == "tensorrt_plan":
		return "tensorrt"
	case p == "pytorch_libtorch":
		return "pytorch"
	case strings.HasPrefix(p, "tensorflow_"):
		return "tensorflow"
	default:
		return p
	}
}

// Parameter returns a config parameter's string_value.
func Parameter(cfg *pb.ModelConfig, key string) (string, bool) {
	p, ok := cfg.GetParameters()[key]
	if !ok {
		return "", false
	}
	return p.GetStringValue(), true
}
