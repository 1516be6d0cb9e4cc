package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
	"github.com/agiqa-bench/agiqa/modelrepo/ortbackend"
	"github.com/agiqa-bench/agiqa/modelrepo/server"
)

func init() {
	register(command{name: "repo", summary: "check a model repository (configs, contract, files, ONNX signatures)", run: runRepo})
	// The embedded server serves ONNX models through ONNX Runtime when its
	// library loads; otherwise they report not ready with the reason.
	extraBackends = func(logw io.Writer) []server.Option {
		opt, err := ortbackend.ForServer("")
		if err != nil && logw != nil {
			fmt.Fprintf(logw, "ONNX models will not be served: %v\n", err)
		}
		return []server.Option{opt}
	}
}

const repoUsage = `
Usage: agiqa repo check [flags] DIR

Checks the Triton model repository DIR the way a server loading it would:
every config.pbtxt parses and is valid (problems name file and line), the
model contract holds (IMAGE UINT8 [3,S,S], optional TOKENS INT64 [77], QUALITY
and/or ALIGNMENT FP32 [1], agiqa.* parameters), every version the version
policy selects has its model file (model.onnx, or a registered native
function), and, when ONNX Runtime loads, each ONNX file's inputs and outputs
match its config. Exits with status 1 when any model has a problem.

Example:
  agiqa repo check modelrepo/models`

func runRepo(ctx context.Context, io cmdIO, args []string) error {
	if len(args) > 0 && slices.Contains([]string{"-h", "-help", "--help"}, args[0]) {
		// check is the only subcommand: show its flags, not an empty list.
		return runRepoCheck(ctx, io, args)
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := newFlags(io, "repo", repoUsage)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		fs.Usage()
		return usagef("repo: missing subcommand (check)")
	}
	switch args[0] {
	case "check":
		return runRepoCheck(ctx, io, args[1:])
	}
	return usagef("repo: unknown subcommand %q (want check)", args[0])
}

func runRepoCheck(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "repo check", repoUsage)
	ortLib := fs.String("ort-lib", "", "ONNX Runtime shared `library` (default: $"+ortbackend.EnvLibrary+", then the standard places)")
	noORT := fs.Bool("no-ort", false, "skip the ONNX signature checks")
	requireORT := fs.Bool("require-ort", false, "fail when ONNX Runtime cannot be loaded (default: skip those checks, saying why)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("repo check: want exactly one repository directory, got %d arguments", fs.NArg())
	}
	if *noORT && *requireORT {
		return usagef("repo check: -no-ort and -require-ort contradict each other")
	}
	dir := fs.Arg(0)
	repo, err := modelrepo.Open(dir)
	if err != nil {
		return err
	}

	// ONNX checks need the library; without it they are skipped, and said so.
	var ort *ortbackend.Backend
	var ortSkipped string
	if *noORT {
		ortSkipped = "-no-ort given"
	} else if ort, err = ortbackend.New(*ortLib, ortbackend.WithIntraOpThreads(1)); err != nil {
		if *requireORT {
			return fmt.Errorf("repo check: %w", err)
		}
		ortSkipped = err.Error()
	}

	type report struct {
		name     string
		summary  string
		problems []string
		warnings []string
	}
	var reports []report
	for _, me := range repo.Errors {
		r := report{name: me.Name}
		var list modelrepo.ErrorList
		if errors.As(me.Err, &list) {
			for _, e := range list {
				r.problems = append(r.problems, e.Error())
			}
		} else {
			r.problems = append(r.problems, me.Err.Error())
		}
		if me.Config != nil {
			r.problems = append(r.problems, contractProblems(me.Config.GetName(), modelrepo.ContractCheck(me.Config))...)
		}
		reports = append(reports, r)
	}
	onnxModels := 0
	for _, m := range repo.Models {
		r := report{name: m.Name}
		r.problems = contractProblems(m.Name, modelrepo.ContractCheck(m.Config))
		backend := modelrepo.BackendName(m.Config)
		onnxNote := ""
		for _, v := range m.Selected {
			var err error
			switch backend {
			case ortbackend.Name:
				onnxModels++
				switch {
				case ort != nil:
					err = ort.Check(ctx, m, v)
					onnxNote = "; ONNX signature matches"
				default:
					err = onnxFilePresent(m, v)
					onnxNote = "; ONNX signature not checked"
				}
			case "native", "python":
				err = nativeFunctionPresent(ctx, m, v)
			case modelrepo.PlatformEnsemble:
				// The steps against the composing models' configs, as the server checks them at load.
				if v == m.Selected[0] {
					r.problems = append(r.problems, modelrepo.CheckEnsemble(m.Config, repo.EnsembleLookup)...)
				}
			default:
				// Triton may serve it; this binary cannot look inside.
				if v == m.Selected[0] {
					r.warnings = append(r.warnings, fmt.Sprintf("backend %q is not served by the embedded server; its files are not checked", backend))
				}
			}
			if err != nil {
				r.problems = append(r.problems, err.Error())
			}
		}
		r.summary = fmt.Sprintf("%s, %s%s", backend, versionList(m.Selected), onnxNote)
		r.warnings = slices.Concat(m.Warnings, r.warnings)
		reports = append(reports, r)
	}
	// Models and failed models come sorted separately; list them by name together.
	slices.SortFunc(reports, func(a, b report) int { return strings.Compare(a.name, b.name) })

	w := io.stdout
	fmt.Fprintf(w, "repository %s: %d models\n", dir, len(reports))
	bad := 0
	for _, r := range reports {
		if len(r.problems) == 0 {
			fmt.Fprintf(w, "ok   %s (%s)\n", r.name, r.summary)
		} else {
			bad++
			fmt.Fprintf(w, "FAIL %s\n", r.name)
		}
		for _, p := range r.problems {
			fmt.Fprintf(w, "     %s\n", p)
		}
		for _, x := range r.warnings {
			fmt.Fprintf(w, "     warning: %s\n", x)
		}
	}
	if ortSkipped != "" && onnxModels > 0 {
		fmt.Fprintf(w, "note: ONNX signatures not checked: %s\n", ortSkipped)
	}
	switch {
	case len(reports) == 0:
		return fmt.Errorf("repository %s holds no model directories", dir)
	case bad > 0:
		return fmt.Errorf("repository %s: %d of %d models have problems", dir, bad, len(reports))
	}
	fmt.Fprintf(w, "all %d models ok\n", len(reports))
	return nil
}

// contractProblems drops ContractCheck's `model "name": ` prefix: the
// report already groups by model.
func contractProblems(name string, problems []string) []string {
	prefix := fmt.Sprintf("model %q: ", name)
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = "contract: " + strings.TrimPrefix(p, prefix)
	}
	return out
}

func versionList(vs []int64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.FormatInt(v, 10)
	}
	if len(vs) == 1 {
		return "version " + parts[0]
	}
	return "versions " + strings.Join(parts, ", ")
}

// onnxFilePresent is the file check alone, for when ONNX Runtime is not loaded.
func onnxFilePresent(m *modelrepo.Model, version int64) error {
	file := ortbackend.ModelFileName(m.Config)
	v, ok := m.Version(version)
	if !ok {
		return fmt.Errorf("version %d: no version folder", version)
	}
	for _, f := range v.Files {
		if f == file {
			return nil
		}
	}
	return fmt.Errorf("version %d: %s is missing from %s (it holds %s)", version, file,
		filepath.Join(m.Dir, strconv.FormatInt(version, 10)), strings.Join(v.Files, ", "))
}

// nativeFunctionPresent checks that the function a native version names is
// compiled into this binary and that the version loads: a loader reads the
// version's own files (an SVR's model and range), so a broken file is found
// here rather than when the server starts.
func nativeFunctionPresent(ctx context.Context, m *modelrepo.Model, version int64) error {
	name, err := server.NativeBackend{}.FunctionName(m, version)
	if err != nil {
		return fmt.Errorf("version %d: %w", version, err)
	}
	if !native.Registered(name) {
		return fmt.Errorf("version %d: native function %q is not registered in this binary", version, name)
	}
	if err := (server.NativeBackend{}).Check(ctx, m, version); err != nil {
		return fmt.Errorf("version %d: %w", version, err)
	}
	return nil
}
