package modelrepo

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// A config written for Triton may set fields the embedded server does not
// implement. They are accepted with a warning that names the field and says
// it is ignored, so an existing Triton repository serves here (issue 14,
// item 7). Two kinds:
//
//   - fields of Triton's model_config.proto that our .proto does not declare
//     (absentFields): the parser would call them unknown, so their text is
//     blanked out (spaces, newlines kept, so every later position stays right)
//     before the strict parse; a misspelt field is still an error;
//   - fields our .proto declares but the server does not act on
//     (unimplementedWarnings): parsed, served back by ModelConfig, ignored.
//
// Field names are Triton's (triton-inference-server/common
// protobuf/model_config.proto).

// absentFields: message full name -> Triton field name -> what it would do.
var absentFields = map[protoreflect.FullName]map[string]string{
	"inference.ModelConfig": {
		"sequence_batching":       "the sequence batcher",
		"batch_input":             "batch inputs added by the backend",
		"batch_output":            "batch outputs",
		"model_operations":        "model operations (op library files)",
		"model_repository_agents": "repository agents",
		"model_metrics":           "custom metric settings",
	},
	"inference.ModelInput":                   {"is_non_linear_format_io": "TensorRT non-linear IO formats"},
	"inference.ModelOutput":                  {"is_non_linear_format_io": "TensorRT non-linear IO formats"},
	"inference.ModelInstanceGroup":           {"secondary_devices": "secondary devices (NVDLA)"},
	"inference.ModelOptimizationPolicy.Cuda": {"graph_spec": "CUDA graph specifications"},
}

// blank is a byte range of config text to blank out, and why.
type blank struct {
	start, end int // byte offsets, end exclusive
	line, col  int
	field      string // dotted path, e.g. "input.is_non_linear_format_io"
	note       string
}

// findAbsent walks the text's fields along the ModelConfig descriptor and
// returns every occurrence of an absentFields field. It is lenient, like
// parseTextPositions: prototext decides validity afterwards.
func findAbsent(src []byte) []blank {
	s := scanText(src)
	lineStart := []int{0}
	for i, c := range src {
		if c == '\n' {
			lineStart = append(lineStart, i+1)
		}
	}
	off := func(t *textToken) int { return lineStart[t.line-1] + t.col - 1 }
	w := &absentWalker{s: s, off: off}
	w.fields((&pb.ModelConfig{}).ProtoReflect().Descriptor(), "", "")
	return w.out
}

type absentWalker struct {
	s   *textScanner
	off func(*textToken) int
	out []blank
}

func (w *absentWalker) fields(md protoreflect.MessageDescriptor, path, closer string) {
	s := w.s
	for {
		t := s.peek()
		if t == nil {
			return
		}
		if !t.str && t.text == closer {
			s.take()
			return
		}
		if t.str || t.text == "," || t.text == ";" || !isIdentByte(t.text[0]) {
			s.take() // extension names ("[a.b]") and stray tokens: skipped
			continue
		}
		name := s.take()
		if p := s.peek(); p != nil && !p.str && p.text == ":" {
			s.take()
		}
		var sub protoreflect.MessageDescriptor
		var fd protoreflect.FieldDescriptor
		if md != nil {
			fd = md.Fields().ByTextName(name.text)
			if fd != nil {
				sub = fd.Message()
			}
		}
		last := w.value(sub, join(path, name.text))
		if md == nil || fd != nil || last == nil {
			continue
		}
		if note, ok := absentFields[md.FullName()][name.text]; ok {
			w.out = append(w.out, blank{start: w.off(name), end: w.off(last) + len(last.text),
				line: name.line, col: name.col, field: join(path, name.text), note: note})
		}
	}
}

// value reads one field value (message, list or scalar) and returns its last token.
func (w *absentWalker) value(md protoreflect.MessageDescriptor, path string) *textToken {
	s := w.s
	t := s.peek()
	if t == nil {
		return nil
	}
	switch {
	case !t.str && (t.text == "{" || t.text == "<"):
		open := s.take()
		w.fields(md, path, closerOf(open.text))
		return w.prev()
	case !t.str && t.text == "[":
		s.take()
		for {
			e := s.peek()
			switch {
			case e == nil:
				return w.prev()
			case !e.str && e.text == "]":
				s.take()
				return w.prev()
			case !e.str && (e.text == "{" || e.text == "<"):
				w.value(md, path)
			default:
				s.take()
			}
		}
	default:
		last := s.take()
		for p := s.peek(); p != nil && p.str && last.str; p = s.peek() {
			last = s.take()
		}
		return last
	}
}

func (w *absentWalker) prev() *textToken {
	if w.s.i == 0 {
		return nil
	}
	return &w.s.toks[w.s.i-1]
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// blankOut returns src with each range replaced by spaces, newlines kept.
func blankOut(src []byte, bs []blank) []byte {
	if len(bs) == 0 {
		return src
	}
	out := append([]byte(nil), src...)
	for _, b := range bs {
		for i := b.start; i < b.end && i < len(out); i++ {
			if out[i] != '\n' {
				out[i] = ' '
			}
		}
	}
	return out
}

func (b blank) warning(file string) string {
	return fmt.Sprintf("%s:%d:%d: %s (%s) is a Triton field the embedded server does not implement: ignored",
		file, b.line, b.col, b.field, b.note)
}

// unimplementedWarnings names the fields of a parsed config that the embedded
// server reads but does not act on.
func unimplementedWarnings(file string, cfg *pb.ModelConfig, root *textNode) []string {
	var out []string
	warn := func(at *textNode, field, what string) {
		pos := file
		if at != nil && at != root {
			pos = fmt.Sprintf("%s:%d:%d", file, at.line, at.col)
		}
		out = append(out, fmt.Sprintf("%s: %s is not implemented by the embedded server (%s): ignored", pos, field, what))
	}
	if len(cfg.ModelWarmup) > 0 {
		warn(root.field("model_warmup", 0), "model_warmup", "no warmup requests are run at load")
	}
	if cfg.GetResponseCache().GetEnable() {
		warn(root.field("response_cache", 0), "response_cache", "every request is run")
	}
	if cfg.GetModelTransactionPolicy().GetDecoupled() {
		warn(root.field("model_transaction_policy", 0), "model_transaction_policy.decoupled", "one response per request")
	}
	if cfg.Optimization != nil {
		warn(root.field("optimization", 0), "optimization", "ONNX Runtime runs with its defaults on the CPU")
	}
	if db := cfg.GetDynamicBatching(); db != nil {
		node := root.field("dynamic_batching", 0)
		if db.PriorityLevels > 0 || len(db.PriorityQueuePolicy) > 0 {
			warn(node, "dynamic_batching priority levels", "one queue in arrival order")
		}
		if qp := db.GetDefaultQueuePolicy(); qp.GetDefaultTimeoutMicroseconds() > 0 || qp.GetAllowTimeoutOverride() {
			warn(node, "dynamic_batching default_queue_policy timeouts", "queued requests do not time out")
		}
	}
	for i, g := range cfg.InstanceGroup {
		node := root.field("instance_group", i)
		if g.Passive {
			warn(node, "instance_group passive", "every instance takes requests")
		}
		if g.RateLimiter != nil {
			warn(node, "instance_group rate_limiter", "no rate limiting")
		}
	}
	if len(cfg.CcModelFilenames) > 0 {
		warn(root.field("cc_model_filenames", 0), "cc_model_filenames", "default_model_filename is used")
	}
	return out
}
