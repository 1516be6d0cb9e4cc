package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// tensorSpec is one config input or output in wire terms.
type tensorSpec struct {
	name     string
	dt       tensor.DataType
	dims     []int64 // without the batch dimension
	optional bool
}

// versionState is one selected version of a model.
type versionState struct {
	name    string
	version int64
	vstr    string
	model   *modelrepo.Model
	cfg     *pb.ModelConfig
	ready   bool
	reason  string
	sched   *scheduler
	stats   *versionStats
	inputs  []*tensorSpec // config order
	outputs []*tensorSpec // config order
}

func (vs *versionState) input(name string) (int, *tensorSpec) {
	for i, sp := range vs.inputs {
		if sp.name == name {
			return i, sp
		}
	}
	return -1, nil
}

func (vs *versionState) output(name string) *tensorSpec {
	for _, sp := range vs.outputs {
		if sp.name == name {
			return sp
		}
	}
	return nil
}

func specNames(specs []*tensorSpec) string {
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = sp.name
	}
	return strings.Join(names, ", ")
}

// specs converts config tensors; an unsupported datatype (BF16) is a reason
// the version cannot load.
func (vs *versionState) buildSpecs() error {
	for _, in := range vs.cfg.Input {
		dt, ok := tensor.FromConfig(in.DataType)
		if !ok {
			return fmt.Errorf("input %q: datatype %s is not supported by the embedded server", in.Name, in.DataType)
		}
		vs.inputs = append(vs.inputs, &tensorSpec{name: in.Name, dt: dt, dims: in.Dims, optional: in.Optional})
	}
	for _, out := range vs.cfg.Output {
		dt, ok := tensor.FromConfig(out.DataType)
		if !ok {
			return fmt.Errorf("output %q: datatype %s is not supported by the embedded server", out.Name, out.DataType)
		}
		vs.outputs = append(vs.outputs, &tensorSpec{name: out.Name, dt: dt, dims: out.Dims})
	}
	return nil
}

type statKey struct {
	name    string
	version int64
}

// statsFor returns the cumulative counters of a version; they survive a reload
// (a load of a loaded model) but not an unload (forgetStats).
func (s *Server) statsFor(name string, version int64) *versionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := statKey{name, version}
	st := s.stats[k]
	if st == nil {
		st = newVersionStats()
		s.stats[k] = st
	}
	return st
}

// loadModel creates instances for every selected version of m. Failures are
// recorded per version as the reason it is not ready.
func (s *Server) loadModel(ctx context.Context, m *modelrepo.Model) *modelState {
	ms := &modelState{name: m.Name, model: m}
	for _, w := range m.Warnings { // fields a Triton config sets that this server ignores, ignored folders
		s.log.Printf("model %q: warning: %s", m.Name, w)
	}
	bname := modelrepo.BackendName(m.Config)
	b, haveBackend := s.opts.backends[bname]
	if bname == modelrepo.PlatformEnsemble && !haveBackend {
		b, haveBackend = &ensembleBackend{s: s}, true // ensemble.go
	}
	for _, v := range m.Selected {
		vs := &versionState{name: m.Name, version: v, vstr: strconv.FormatInt(v, 10), model: m, cfg: m.Config,
			stats: s.statsFor(m.Name, v)}
		ms.versions = append(ms.versions, vs)
		switch {
		case bname == "":
			vs.reason = "config.pbtxt sets neither backend nor platform"
		case !haveBackend:
			vs.reason = fmt.Sprintf("no backend %q in this server (available: %s)", bname, s.backendNames())
		}
		if vs.reason == "" {
			if err := vs.buildSpecs(); err != nil {
				vs.reason = err.Error()
			}
		}
		if vs.reason == "" {
			insts, err := loadInstances(ctx, b, m, v)
			if err != nil {
				vs.reason = err.Error()
			} else {
				vs.sched = newScheduler(s, vs, insts)
				vs.ready = true
			}
		}
		if vs.ready {
			s.log.Printf("loaded model %q version %d (%s backend, %d instances)", m.Name, v, bname, len(vs.sched.insts))
		} else {
			s.log.Printf("model %q version %d not loaded: %s", m.Name, v, vs.reason)
		}
	}
	return ms
}

func loadInstances(ctx context.Context, b Backend, m *modelrepo.Model, v int64) (insts []Instance, err error) {
	n := modelrepo.InstanceCount(m.Config)
	if modelrepo.IsEnsemble(m.Config) {
		n = EnsembleWorkers // requests at once; an ensemble has no instance_group
	}
	if n > MaxInstances {
		return nil, fmt.Errorf("instance_group asks for %d instances; this server runs at most %d per version", n, MaxInstances)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("backend panicked while loading: %v", p)
		}
		if err != nil {
			for _, in := range insts {
				_ = in.Close()
			}
			insts = nil
		}
	}()
	for i := 0; i < n; i++ {
		inst, err := b.Load(ctx, m, v)
		if err != nil {
			return insts, fmt.Errorf("instance %d of %d: %w", i+1, n, err)
		}
		if inst == nil {
			return insts, fmt.Errorf("instance %d of %d: backend returned no instance", i+1, n)
		}
		insts = append(insts, inst)
	}
	return insts, nil
}

func (s *Server) backendNames() string {
	names := make([]string, 0, len(s.opts.backends))
	for n := range s.opts.backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// loadByName re-reads a model directory and swaps the new versions in; the
// old ones drain and close after the swap, so serving never pauses. As in
// Triton, a reload that fails (config, files, a version that does not load)
// changes nothing for a model that has a ready version: it keeps serving and
// the error names the failure.
func (s *Server) loadByName(ctx context.Context, name string) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	// Checked under loadMu: GracefulStop sets stopping before it takes loadMu
	// to close every model, so a load that gets the lock after that stop would
	// install instances nobody closes.
	if s.stopping.Load() {
		return status.Error(codes.Unavailable, "server is stopping")
	}
	m, err := s.repo.ReadModel(name)
	if errors.Is(err, fs.ErrNotExist) {
		return status.Errorf(codes.NotFound, "model %q: no such directory in repository %s", name, s.repo.Label)
	}
	var ms *modelState
	if err != nil {
		var me *modelrepo.ModelError
		if errors.As(err, &me) {
			err = me.Err
		}
		ms = &modelState{name: name, err: err}
		s.log.Printf("model %q not loaded: %v", name, err)
	} else {
		ms = s.loadModel(ctx, m)
	}
	var failure error
	switch {
	case ms.err != nil:
		failure = status.Errorf(codes.InvalidArgument, "load of model %q failed: %v", name, ms.err)
	case anyNotReady(ms) || len(ms.versions) == 0:
		failure = status.Errorf(codes.Internal, "load of model %q failed: %s", name, ms.reason())
	}
	s.mu.RLock()
	old := s.models[name]
	s.mu.RUnlock()
	if failure != nil && old != nil && old.latestReady() != nil {
		ms.close(true) // the versions of the failed load that did come up
		st := status.Convert(failure)
		s.log.Printf("model %q: reload failed, the loaded model keeps serving (version %s): %s", name, readyList(old), st.Message())
		return status.Errorf(st.Code(), "%s; the loaded model keeps serving (version %s)", st.Message(), readyList(old))
	}
	s.mu.Lock()
	s.models[name] = ms
	s.mu.Unlock()
	if old != nil {
		old.close(true)
	}
	return failure
}

// readyList names the ready versions of ms ("1, 2").
func readyList(ms *modelState) string {
	var vs []string
	for _, v := range ms.versions {
		if v.ready {
			vs = append(vs, v.vstr)
		}
	}
	return strings.Join(vs, ", ")
}

func anyNotReady(ms *modelState) bool {
	for _, vs := range ms.versions {
		if !vs.ready {
			return true
		}
	}
	return false
}

// unloadByName stops serving a model: queued requests finish, then the
// instances close. The versions stay listed as UNAVAILABLE "unloaded", and the
// model's statistics are dropped. Unloading a model that is not loaded
// succeeds and does nothing, as in Triton.
func (s *Server) unloadByName(name string) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.mu.Lock()
	old := s.models[name]
	if old == nil {
		s.mu.Unlock()
		s.log.Printf("unload of model %q: not loaded, nothing to do", name)
		return nil
	}
	ms := &modelState{name: name, model: old.model}
	for _, vs := range old.versions {
		nv := *vs
		nv.ready, nv.reason, nv.sched = false, "unloaded", nil
		ms.versions = append(ms.versions, &nv)
	}
	if len(ms.versions) == 0 {
		ms.err = errors.New("unloaded")
	}
	s.models[name] = ms
	s.mu.Unlock()
	old.close(true)
	s.forgetStats(name) // after the drain: the last requests counted into the old counters
	s.log.Printf("unloaded model %q", name)
	return nil
}

// index lists every model directory and every loaded version.
func (s *Server) index(readyOnly bool) []*pb.RepositoryIndexResponse_ModelIndex {
	s.mu.RLock()
	states := make(map[string]*modelState, len(s.models))
	for k, v := range s.models {
		states[k] = v
	}
	s.mu.RUnlock()
	names := map[string]bool{}
	for n := range states {
		names[n] = true
	}
	if scanned, err := s.repo.ScanNames(); err == nil {
		for _, n := range scanned {
			names[n] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var out []*pb.RepositoryIndexResponse_ModelIndex
	add := func(e *pb.RepositoryIndexResponse_ModelIndex) {
		if !readyOnly || e.State == stateReady {
			out = append(out, e)
		}
	}
	for _, n := range sorted {
		ms := states[n]
		switch {
		case ms == nil:
			add(&pb.RepositoryIndexResponse_ModelIndex{Name: n, State: stateUnavailable, Reason: "not loaded (RepositoryModelLoad loads it)"})
		case len(ms.versions) == 0:
			add(&pb.RepositoryIndexResponse_ModelIndex{Name: n, State: stateUnavailable, Reason: ms.reason()})
		default:
			for _, vs := range ms.versions {
				e := &pb.RepositoryIndexResponse_ModelIndex{Name: n, Version: vs.vstr, State: stateReady}
				if !vs.ready {
					e.State, e.Reason = stateUnavailable, vs.reason
				}
				add(e)
			}
		}
	}
	return out
}

// Model states as Triton names them in RepositoryIndex.
const (
	stateReady       = "READY"
	stateUnavailable = "UNAVAILABLE"
)

// nowMillis is last_inference's unit: milliseconds since the epoch.
func nowMillis() uint64 { return uint64(time.Now().UnixMilli()) }

// tensorName is a config datatype's wire name (TYPE_FP32 -> FP32).
func tensorName(dt pb.DataType) (string, bool) {
	d, ok := tensor.FromConfig(dt)
	return string(d), ok
}
