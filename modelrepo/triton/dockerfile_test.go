package triton_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// Docker cannot run here, so the Dockerfiles are parsed: instructions, stages
// and COPY sources must be valid, and the Triton image must install the
// library where model.py looks for it.

type instruction struct {
	line      int
	cmd, args string
}

var knownInstructions = []string{"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
	"LABEL", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// parseDockerfile joins continuation lines and checks each instruction,
// FROM's form and that COPY --from names an earlier stage.
func parseDockerfile(data []byte) ([]instruction, error) {
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		if !slices.Contains(knownInstructions, cmd) {
			return nil, fmt.Errorf("line %d: unknown instruction %q", start, cmd)
		}
		if strings.TrimSpace(args) == "" {
			return nil, fmt.Errorf("line %d: %s without arguments", start, cmd)
		}
		out = append(out, instruction{start, cmd, strings.TrimSpace(args)})
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: continuation at the end of the file", start)
	}
	if len(out) == 0 || out[0].cmd != "FROM" && out[0].cmd != "ARG" {
		return nil, fmt.Errorf("no FROM first")
	}
	fromRe := regexp.MustCompile(`^(\S+)(?: AS ([a-z][a-z0-9_-]*))?$`)
	var stages []string
	for _, in := range out {
		switch in.cmd {
		case "FROM":
			m := fromRe.FindStringSubmatch(in.args)
			if m == nil {
				return nil, fmt.Errorf("line %d: FROM %q is not `image [AS name]`", in.line, in.args)
			}
			stages = append(stages, m[2])
		case "COPY":
			if from, ok := strings.CutPrefix(strings.Fields(in.args)[0], "--from="); ok && !slices.Contains(stages, from) {
				return nil, fmt.Errorf("line %d: COPY --from=%s names no earlier stage", in.line, from)
			}
			if len(strings.Fields(in.args)) < 2 {
				return nil, fmt.Errorf("line %d: COPY needs a source and a destination", in.line)
			}
		}
	}
	return out, nil
}

func TestDockerfilesParse(t *testing.T) {
	root := testenv.ModuleRoot(t)
	for _, p := range []string{"Dockerfile", "modelrepo/triton/Dockerfile", "modelrepo/python/Dockerfile"} {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseDockerfile(data); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for what, bad := range map[string]string{
		"unknown":      "FROM a\nRUNN x\n",
		"stage":        "FROM a AS b\nCOPY --from=c /x /y\n",
		"continuation": "FROM a\nRUN x \\\n",
		"empty":        "FROM a\nRUN\n",
	} {
		if _, err := parseDockerfile([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", what)
		}
	}
}

// The Triton image: the pinned tritonserver base of docker-compose.yml's
// service, the library built from baselines/capi with the Go image the
// harness uses, installed at model.py's default path beside agiqa_native.py.
func TestTritonImageInstallsTheLibrary(t *testing.T) {
	root := testenv.ModuleRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "modelrepo", "triton", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := parseDockerfile(data)
	if err != nil {
		t.Fatal(err)
	}
	modelPy, err := os.ReadFile(filepath.Join(root, "modelrepo", "triton", "model.py"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^DEFAULT_LIBRARY = "([^"]+)"$`).FindSubmatch(modelPy)
	if m == nil {
		t.Fatal("model.py has no DEFAULT_LIBRARY")
	}
	lib := string(m[1])
	harness, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	goImage := regexp.MustCompile(`(?m)^FROM (golang:\S+)`).FindSubmatch(harness)

	var froms, runs, copies []string
	env := map[string]string{}
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, strings.Fields(in.args)[0])
		case "RUN":
			runs = append(runs, in.args)
		case "COPY":
			copies = append(copies, in.args)
			if f := strings.Fields(in.args); !strings.HasPrefix(f[0], "--") {
				for _, src := range f[:len(f)-1] {
					if _, err := os.Stat(filepath.Join(root, src)); err != nil {
						t.Errorf("line %d: COPY source %s is not in the build context: %v", in.line, src, err)
					}
				}
			}
		case "ENV":
			k, v, _ := strings.Cut(in.args, "=")
			env[k] = v
		}
	}
	if len(froms) != 2 || goImage == nil || froms[0] != string(goImage[1]) || !regexp.MustCompile(`^nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3$`).MatchString(froms[1]) {
		t.Errorf("stages %v: want the harness's Go image (%s), then a pinned tritonserver image", froms, goImage)
	}
	built := slices.ContainsFunc(runs, func(r string) bool {
		return strings.Contains(r, "CGO_ENABLED=1 go build") && strings.Contains(r, "-buildmode=c-shared") &&
			strings.Contains(r, "-o /out/libagiqa.so ./baselines/capi")
	})
	if !built {
		t.Errorf("no RUN builds ./baselines/capi as a c-shared /out/libagiqa.so: %q", runs)
	}
	want := []string{"--from=native /out/libagiqa.so " + lib, "modelrepo/triton/agiqa_native.py " + filepath.Join(filepath.Dir(lib), "agiqa_native.py")}
	for _, w := range want {
		if !slices.Contains(copies, w) {
			t.Errorf("no COPY %s (have %q)", w, copies)
		}
	}
	if env["AGIQA_NATIVE_LIB"] != lib {
		t.Errorf("ENV AGIQA_NATIVE_LIB=%q, want %s", env["AGIQA_NATIVE_LIB"], lib)
	}
}
