package modelrepo

import (
	"fmt"
	"slices"
	"sort"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// Ensembles (Triton's `platform: "ensemble"`, model_config.proto
// ModelEnsembling): each step names a composing model and version (-1: the
// latest the composing model serves), input_map maps the composing model's
// input name to an ensemble tensor, output_map its output name to an ensemble
// tensor. Ensemble tensors are the ensemble's own inputs and outputs plus
// intermediate ones that steps produce and consume.

// PlatformEnsemble is the platform of an ensemble model.
const PlatformEnsemble = "ensemble"

// IsEnsemble reports whether cfg is an ensemble.
func IsEnsemble(cfg *pb.ModelConfig) bool {
	return cfg.GetPlatform() == PlatformEnsemble || cfg.GetEnsembleScheduling() != nil
}

// ensemble is the single-config part of an ensemble's validation: every step
// names a model and maps tensors, every tensor has one producer, every step
// input exists, every ensemble input is used and every output produced, and
// the steps form no cycle. What the composing models declare is checked by
// CheckEnsemble, which needs the repository.
func (v *validator) ensemble(cfg *pb.ModelConfig) {
	root := v.root
	sched := cfg.GetEnsembleScheduling()
	snode := root.field("ensemble_scheduling", 0)
	switch {
	case cfg.GetPlatform() != PlatformEnsemble:
		v.errorf(snode, "ensemble_scheduling needs platform: \"ensemble\" (platform is %q, backend %q)", cfg.GetPlatform(), cfg.GetBackend())
		return
	case cfg.GetBackend() != "":
		v.errorf(root.field("backend", 0), "an ensemble has no backend (backend %q): its steps run on their models' backends", cfg.GetBackend())
	case sched == nil || len(sched.Step) == 0:
		v.errorf(or(snode, root.field("platform", 0)), "platform \"ensemble\" needs ensemble_scheduling with at least one step")
		return
	}
	if len(cfg.InstanceGroup) > 0 {
		v.errorf(root.field("instance_group", 0), "an ensemble has no instance_group: its steps run on their models' instances")
	}
	producer := map[string]string{} // tensor -> "ensemble input" or "step N"
	for _, in := range cfg.Input {
		producer[in.Name] = "ensemble input"
	}
	for i, st := range sched.Step {
		node := or(snode.field("step", i), snode)
		label := stepLabel(i, st)
		if st.ModelName == "" {
			v.errorf(node, "%s: no model_name", label)
		}
		if st.ModelVersion < -1 || st.ModelVersion == 0 {
			v.errorf(or(node.field("model_version", 0), node), "%s: model_version %d; use -1 (latest) or a version >= 1", label, st.ModelVersion)
		}
		if len(st.InputMap) == 0 {
			v.errorf(node, "%s: no input_map (which ensemble tensors feed the model's inputs)", label)
		}
		if len(st.OutputMap) == 0 {
			v.errorf(node, "%s: no output_map (which ensemble tensors the model's outputs become)", label)
		}
		for _, out := range sortedKeys(st.OutputMap) {
			t := st.OutputMap[out]
			if p, dup := producer[t]; dup {
				v.errorf(node, "%s: output %q maps to tensor %q, which %s already provides", label, out, t, p)
				continue
			}
			producer[t] = label
		}
	}
	consumed := map[string]bool{}
	for i, st := range sched.Step {
		node := or(snode.field("step", i), snode)
		for _, in := range sortedKeys(st.InputMap) {
			t := st.InputMap[in]
			consumed[t] = true
			if _, ok := producer[t]; !ok {
				v.errorf(node, "%s: input %q reads tensor %q, which no ensemble input or step output provides", stepLabel(i, st), in, t)
			}
		}
	}
	for i, in := range cfg.Input {
		if !consumed[in.Name] {
			v.errorf(or(root.field("input", i), root), "ensemble input %q is not read by any step", in.Name)
		}
	}
	for i, out := range cfg.Output {
		if p, ok := producer[out.Name]; !ok || p == "ensemble input" {
			v.errorf(or(root.field("output", i), root), "ensemble output %q is not produced by any step's output_map", out.Name)
		}
	}
	if len(v.errs) == 0 {
		if _, err := EnsembleOrder(sched); err != nil {
			v.errorf(snode, "%v", err)
		}
	}
}

func stepLabel(i int, st *pb.ModelEnsembling_Step) string {
	return fmt.Sprintf("ensemble step %d (model %q)", i+1, st.GetModelName())
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// EnsembleOrder returns the step indexes in an order where every step comes
// after the steps producing its inputs, or an error naming a cycle's steps.
func EnsembleOrder(sched *pb.ModelEnsembling) ([]int, error) {
	producer := map[string]int{}
	for i, st := range sched.GetStep() {
		for _, t := range st.OutputMap {
			producer[t] = i
		}
	}
	done := make([]bool, len(sched.GetStep()))
	var order []int
	for len(order) < len(done) {
		progress := false
		for i, st := range sched.GetStep() {
			if done[i] {
				continue
			}
			ready := true
			for _, t := range st.InputMap {
				if p, ok := producer[t]; ok && !done[p] {
					ready = false
				}
			}
			if ready {
				done[i], progress = true, true
				order = append(order, i)
			}
		}
		if !progress {
			var stuck []string
			for i, st := range sched.GetStep() {
				if !done[i] {
					stuck = append(stuck, stepLabel(i, st))
				}
			}
			return nil, fmt.Errorf("ensemble steps form a cycle: %v wait on each other's outputs", stuck)
		}
	}
	return order, nil
}

// CheckEnsemble checks an ensemble's steps against the configs of the models
// they call (lookup returns a composing model's config, or an error for an
// unknown one): each mapped input and output exists, types agree along every
// tensor, shapes agree where both sides are fixed, no composing model is an
// ensemble's own name, every required input of a composing model is fed, and
// the ensemble's max_batch_size fits each composing model's (Triton's rule).
// Each problem names the step and the tensor.
func CheckEnsemble(cfg *pb.ModelConfig, lookup func(name string) (*pb.ModelConfig, error)) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	type tensorType struct {
		dt   pb.DataType
		dims []int64
		from string
	}
	types := map[string]tensorType{}
	for _, in := range cfg.GetInput() {
		types[in.Name] = tensorType{in.DataType, in.Dims, fmt.Sprintf("ensemble input %q", in.Name)}
	}
	sched := cfg.GetEnsembleScheduling()
	order, err := EnsembleOrder(sched)
	if err != nil {
		return []string{err.Error()}
	}
	for _, i := range order {
		st := sched.Step[i]
		label := stepLabel(i, st)
		if st.ModelName == cfg.GetName() {
			add("%s: an ensemble cannot call itself", label)
			continue
		}
		sub, err := lookup(st.ModelName)
		if err != nil {
			add("%s: %v", label, err)
			continue
		}
		if cfg.GetMaxBatchSize() > sub.GetMaxBatchSize() {
			add("%s: ensemble max_batch_size %d is larger than model %q's %d", label, cfg.GetMaxBatchSize(), st.ModelName, sub.GetMaxBatchSize())
		}
		for _, in := range sub.GetInput() {
			if _, ok := st.InputMap[in.Name]; !ok && !in.Optional {
				add("%s: model %q input %q is not in input_map", label, st.ModelName, in.Name)
			}
		}
		for _, name := range sortedKeys(st.InputMap) {
			t := st.InputMap[name]
			idx := slices.IndexFunc(sub.GetInput(), func(x *pb.ModelInput) bool { return x.Name == name })
			if idx < 0 {
				add("%s: input_map names input %q, which model %q does not have (inputs: %s)", label, name, st.ModelName, inputNames(sub))
				continue
			}
			in := sub.Input[idx]
			have, ok := types[t]
			switch {
			case !ok:
				add("%s: input %q reads tensor %q, which no earlier step produces", label, name, t)
			case have.dt != in.DataType:
				add("%s: tensor %q is %s (%s) but model %q input %q is %s", label, t, have.dt, have.from, st.ModelName, name, in.DataType)
			case !dimsCompatible(have.dims, in.Dims):
				add("%s: tensor %q has dims %s (%s) but model %q input %q has %s", label, t, formatDims(have.dims), have.from, st.ModelName, name, formatDims(in.Dims))
			}
		}
		for _, name := range sortedKeys(st.OutputMap) {
			t := st.OutputMap[name]
			idx := slices.IndexFunc(sub.GetOutput(), func(x *pb.ModelOutput) bool { return x.Name == name })
			if idx < 0 {
				add("%s: output_map names output %q, which model %q does not have", label, name, st.ModelName)
				continue
			}
			out := sub.Output[idx]
			types[t] = tensorType{out.DataType, out.Dims, fmt.Sprintf("model %q output %q", st.ModelName, name)}
		}
	}
	for _, out := range cfg.GetOutput() {
		have, ok := types[out.Name]
		switch {
		case !ok:
			// ensemble() reported it, or a step above failed.
		case have.dt != out.DataType:
			add("ensemble output %q is %s but %s gives %s", out.Name, out.DataType, have.from, have.dt)
		case !dimsCompatible(have.dims, out.Dims):
			add("ensemble output %q has dims %s but %s gives %s", out.Name, formatDims(out.Dims), have.from, formatDims(have.dims))
		}
	}
	return problems
}

func inputNames(cfg *pb.ModelConfig) string {
	var names []string
	for _, in := range cfg.GetInput() {
		names = append(names, in.Name)
	}
	return fmt.Sprint(names)
}

// dimsCompatible: same rank, and equal wherever both are fixed (-1 matches anything).
func dimsCompatible(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != -1 && b[i] != -1 && a[i] != b[i] {
			return false
		}
	}
	return true
}

// EnsembleLookup is CheckEnsemble's lookup over a repository: a composing
// model's config, or why it cannot be used.
func (r *Repository) EnsembleLookup(name string) (*pb.ModelConfig, error) {
	m, err := r.ReadModel(name)
	if err != nil {
		if !IsPlainName(name) {
			return nil, fmt.Errorf("model name %q is not a plain name", name)
		}
		if me, ok := err.(*ModelError); ok {
			if me.Config != nil {
				// A valid config whose files are missing (weights not exported yet): the steps can
				// still be checked; the model itself reports what it lacks.
				return me.Config, nil
			}
			return nil, fmt.Errorf("model %q does not load: %v", name, me.Err)
		}
		return nil, fmt.Errorf("model %q is not in repository %s", name, r.Label)
	}
	return m.Config, nil
}

// RolePreprocess is agiqa.role on a server-side preprocessing model.
const RolePreprocess = "preprocess"

// preprocessContract is ContractCheck for a preprocessing model: ENCODED
// BYTES [1] in, IMAGE UINT8 [3,S,S] (or [3,-1,-1] for "native") out.
func preprocessContract(cfg *pb.ModelConfig) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("model %q: ", cfg.GetName())+fmt.Sprintf(format, args...))
	}
	if len(cfg.GetInput()) != 1 || cfg.Input[0].Name != "ENCODED" || cfg.Input[0].DataType != pb.DataType_TYPE_STRING ||
		!slices.Equal(cfg.Input[0].Dims, []int64{1}) {
		add("a preprocessing model (agiqa.role preprocess) takes one input ENCODED TYPE_STRING [1]")
	}
	if len(cfg.GetOutput()) != 1 || cfg.Output[0].Name != InputImage || cfg.Output[0].DataType != pb.DataType_TYPE_UINT8 ||
		len(cfg.Output[0].Dims) != 3 || cfg.Output[0].Dims[0] != 3 {
		add("a preprocessing model (agiqa.role preprocess) returns one output IMAGE TYPE_UINT8 [3, S, S]")
	}
	if cfg.GetDynamicBatching() != nil {
		add("a preprocessing model must not batch dynamically: one bad image would fail the other requests of its batch")
	}
	return problems
}
