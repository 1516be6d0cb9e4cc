package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// Ensembles run as Triton schedules them (model_config.proto ModelEnsembling):
// a request's steps run as soon as the tensors they read exist, each step as
// an ordinary request to its composing model. That request goes through the
// server's infer path (resolve, decode, the model's queue and dynamic
// batcher), so steps of concurrent ensemble requests batch together on the
// composing model, and its statistics count them; the ensemble's own
// statistics count the ensemble requests.
//
// The ensemble version itself does not batch: each ensemble request runs on
// its own (EnsembleWorkers at once), so a request that fails in a step (an
// image that does not decode) fails alone. A composing model that batches
// dynamically merges the steps of several ensemble requests; the
// preprocessing models do not (preprocmodel), so a bad image cannot fail its
// neighbours' requests there.

// EnsembleWorkers is how many requests one ensemble version runs at once.
// Each is a goroutine waiting on its steps; the composing models' own
// instance counts bound the work.
const EnsembleWorkers = 64

// ensembleBackend runs platform "ensemble" models on this server; loadModel
// makes one per model load.
type ensembleBackend struct {
	s    *Server
	mu   sync.Mutex
	done map[int64]*ensembleInstance // per version: the EnsembleWorkers workers share one (it keeps no state)
}

// Load checks the steps against the composing models' configs in the
// repository (a step that does not connect fails the load, naming the step
// and tensor) and that those models are ready, and returns an instance that
// runs them.
func (b *ensembleBackend) Load(ctx context.Context, m *modelrepo.Model, version int64) (Instance, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if inst := b.done[version]; inst != nil {
		return inst, nil
	}
	inst, err := b.load(m)
	if err != nil {
		return nil, err
	}
	if b.done == nil {
		b.done = map[int64]*ensembleInstance{}
	}
	b.done[version] = inst
	return inst, nil
}

func (b *ensembleBackend) load(m *modelrepo.Model) (*ensembleInstance, error) {
	cfg := m.Config
	if problems := modelrepo.CheckEnsemble(cfg, b.s.repo.EnsembleLookup); len(problems) > 0 {
		return nil, fmt.Errorf("ensemble %q: %s", m.Name, strings.Join(problems, "; "))
	}
	order, err := modelrepo.EnsembleOrder(cfg.GetEnsembleScheduling())
	if err != nil {
		return nil, fmt.Errorf("ensemble %q: %w", m.Name, err)
	}
	// As in Triton, an ensemble is ready only with its composing models: one that did not load
	// would fail every request.
	for i, st := range cfg.GetEnsembleScheduling().GetStep() {
		v := ""
		if st.ModelVersion > 0 {
			v = strconv.FormatInt(st.ModelVersion, 10)
		}
		if _, err := b.s.resolve(st.ModelName, v); err != nil {
			return nil, fmt.Errorf("ensemble %q step %d: %s", m.Name, i+1, status.Convert(err).Message())
		}
	}
	return &ensembleInstance{s: b.s, name: m.Name, cfg: cfg, order: order}, nil
}

type ensembleInstance struct {
	s     *Server
	name  string
	cfg   *pb.ModelConfig
	order []int // steps in dependency order
}

func (*ensembleInstance) Close() error { return nil }

// Execute runs the steps of one request: each starts as soon as the tensors
// it reads exist (several at once when they can), as Triton's ensemble
// scheduler does. The first failing step's error is the request's.
func (e *ensembleInstance) Execute(ctx context.Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	steps := e.cfg.GetEnsembleScheduling().GetStep()
	have := map[string]*tensor.Tensor{} // touched by this goroutine only
	for _, t := range inputs {
		have[t.Name] = t
	}
	type result struct {
		i    int
		outs map[string]*tensor.Tensor
		err  error
	}
	results := make(chan result, len(steps)) // buffered: a step never blocks on a failed request
	started := make([]bool, len(steps))
	running, finished := 0, 0
	launch := func() {
		for _, i := range e.order {
			if started[i] || !stepReady(steps[i], have) {
				continue
			}
			started[i] = true
			running++
			ins := make(map[string]*tensor.Tensor, len(steps[i].InputMap))
			for name, t := range steps[i].InputMap {
				ins[name] = have[t]
			}
			go func() {
				outs, err := e.runStep(ctx, i, steps[i], ins)
				results <- result{i, outs, err}
			}()
		}
	}
	launch()
	var firstErr error
	for running > 0 {
		r := <-results
		running--
		switch {
		case r.err != nil:
			if firstErr == nil {
				firstErr = r.err
			}
		case firstErr == nil:
			for name, t := range steps[r.i].OutputMap {
				o := *r.outs[name]
				o.Name = t
				have[t] = &o
			}
			finished++
			launch()
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if finished < len(steps) {
		// An optional ensemble input that was not sent leaves its readers waiting.
		return nil, status.Errorf(codes.InvalidArgument, "ensemble %q: %s cannot run: an input it reads was not sent", e.name, stepName(steps, e.order, started))
	}
	outs := make([]*tensor.Tensor, 0, len(e.cfg.Output))
	for _, o := range e.cfg.Output {
		t, ok := have[o.Name]
		if !ok {
			return nil, status.Errorf(codes.Internal, "ensemble %q: no step produced output %q", e.name, o.Name)
		}
		outs = append(outs, t)
	}
	return outs, nil
}

func stepReady(st *pb.ModelEnsembling_Step, have map[string]*tensor.Tensor) bool {
	for _, t := range st.InputMap {
		if have[t] == nil {
			return false
		}
	}
	return true
}

func stepName(steps []*pb.ModelEnsembling_Step, order []int, done []bool) string {
	for _, i := range order {
		if !done[i] {
			return fmt.Sprintf("step %d (model %q)", i+1, steps[i].ModelName)
		}
	}
	return "a step"
}

// runStep sends one step's request through the server's infer path and
// returns its outputs by the composing model's output names. Errors keep the
// composing model's code (InvalidArgument for an image that does not decode)
// and name the step.
func (e *ensembleInstance) runStep(ctx context.Context, i int, st *pb.ModelEnsembling_Step, ins map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	req := &pb.ModelInferRequest{ModelName: st.ModelName}
	if st.ModelVersion > 0 {
		req.ModelVersion = strconv.FormatInt(st.ModelVersion, 10)
	}
	for _, name := range sortedNames(st.InputMap) {
		t := ins[name]
		req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: string(t.DataType), Shape: t.Shape})
		req.RawInputContents = append(req.RawInputContents, t.Raw)
	}
	for _, name := range sortedNames(st.OutputMap) {
		req.Outputs = append(req.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: name})
	}
	resp, err := e.s.resolveAndInfer(ctx, req)
	if err != nil {
		st := status.Convert(err)
		return nil, status.Errorf(st.Code(), "ensemble %q step %d (model %q): %s", e.name, i+1, req.ModelName, st.Message())
	}
	if len(resp.RawOutputContents) != len(resp.Outputs) {
		return nil, status.Errorf(codes.Internal, "ensemble %q step %d (model %q): %d outputs, %d raw contents", e.name, i+1, req.ModelName, len(resp.Outputs), len(resp.RawOutputContents))
	}
	outs := make(map[string]*tensor.Tensor, len(resp.Outputs))
	for j, o := range resp.Outputs {
		outs[o.Name] = &tensor.Tensor{Name: o.Name, DataType: tensor.DataType(o.Datatype), Shape: o.Shape, Raw: resp.RawOutputContents[j]}
	}
	for name := range st.OutputMap {
		if outs[name] == nil {
			return nil, status.Errorf(codes.Internal, "ensemble %q step %d (model %q) did not return output %q", e.name, i+1, req.ModelName, name)
		}
	}
	return outs, nil
}

func sortedNames(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
