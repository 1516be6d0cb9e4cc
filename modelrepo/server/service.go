package server

import (
	"context"
	"io"
	"sort"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// service implements inference.GRPCInferenceService on a Server.
type service struct {
	pb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

func (v *service) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

// ServerReady is true until shutdown starts; a model that failed to load
// shows in ModelReady and RepositoryIndex, not here.
func (v *service) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: !v.s.stopping.Load()}, nil
}

// ModelReady answers false (not an error) for unknown models, as Triton does;
// a version that is not a number is InvalidArgument there too.
func (v *service) ModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	if _, err := parseVersion(req.Name, req.Version); err != nil {
		return nil, err
	}
	_, err := v.s.resolve(req.Name, req.Version)
	return &pb.ModelReadyResponse{Ready: err == nil}, nil
}

func (v *service) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: v.s.opts.name, Version: v.s.opts.version,
		Extensions: append([]string(nil), Extensions...)}, nil
}

// modelFor finds the model of a metadata or config request. As in Triton
// (both go through GetModel there), it needs a ready version, so that after an
// unload infer, metadata, config and statistics all answer "not ready".
func (s *Server) modelFor(name, version string) (*modelState, error) {
	if _, err := s.resolve(name, version); err != nil {
		return nil, err
	}
	s.mu.RLock()
	ms := s.models[name]
	s.mu.RUnlock()
	if ms == nil || ms.model == nil { // unloaded since resolve
		return nil, status.Errorf(codes.NotFound, "model %q is not ready", name)
	}
	return ms, nil
}

// ModelMetadata reports shapes with -1 for the batch dimension when the
// model batches, as Triton does.
func (v *service) ModelMetadata(_ context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	ms, err := v.s.modelFor(req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	cfg := ms.model.Config
	resp := &pb.ModelMetadataResponse{Name: ms.name, Platform: cfg.Platform}
	if resp.Platform == "" {
		resp.Platform = modelrepo.BackendName(cfg)
	}
	for _, vs := range ms.versions {
		if vs.ready {
			resp.Versions = append(resp.Versions, vs.vstr)
		}
	}
	shape := func(dims []int64) []int64 {
		if cfg.MaxBatchSize > 0 {
			return append([]int64{-1}, dims...)
		}
		return append([]int64(nil), dims...)
	}
	wire := func(dt pb.DataType) string {
		if d, ok := tensorName(dt); ok {
			return d
		}
		return dt.String()
	}
	for _, in := range cfg.Input {
		resp.Inputs = append(resp.Inputs, &pb.ModelMetadataResponse_TensorMetadata{Name: in.Name, Datatype: wire(in.DataType), Shape: shape(in.Dims)})
	}
	for _, out := range cfg.Output {
		resp.Outputs = append(resp.Outputs, &pb.ModelMetadataResponse_TensorMetadata{Name: out.Name, Datatype: wire(out.DataType), Shape: shape(out.Dims)})
	}
	return resp, nil
}

func (v *service) ModelConfig(_ context.Context, req *pb.ModelConfigRequest) (*pb.ModelConfigResponse, error) {
	ms, err := v.s.modelFor(req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	return &pb.ModelConfigResponse{Config: ms.model.Config}, nil
}

func (v *service) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	return v.s.resolveAndInfer(ctx, req)
}

// ModelStreamInfer runs a stream's requests concurrently (so they can share
// batches) and sends each one response, or its error_message, as it completes.
// At most opts.perStream requests of the stream, and opts.inFlight of all
// streams, are in flight; at either bound the stream reads no further until a
// response has been sent, so a client that never reads is held back by flow
// control rather than making the server keep its responses.
func (v *service) ModelStreamInfer(stream grpc.BidiStreamingServer[pb.ModelInferRequest, pb.ModelStreamInferResponse]) error {
	ctx := stream.Context()
	var (
		wg      sync.WaitGroup
		sendMu  sync.Mutex
		sendErr error
	)
	send := func(m *pb.ModelStreamInferResponse) {
		sendMu.Lock()
		defer sendMu.Unlock()
		if sendErr == nil {
			sendErr = stream.Send(m)
		}
	}
	slots := make(chan struct{}, v.s.opts.perStream)
	var recvErr error
	for {
		var req *pb.ModelInferRequest
		if req, recvErr = v.recvWithin(ctx, stream, slots); recvErr != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() {
				<-v.s.inFlight
				<-slots
				wg.Done()
			}()
			resp, err := v.ModelInfer(ctx, req)
			if err != nil {
				failed := &pb.ModelInferResponse{ModelName: req.ModelName, ModelVersion: req.ModelVersion, Id: req.Id}
				markFinal(failed)
				send(&pb.ModelStreamInferResponse{ErrorMessage: status.Convert(err).Message(), InferResponse: failed})
				return
			}
			markFinal(resp)
			send(&pb.ModelStreamInferResponse{InferResponse: resp})
		}()
	}
	wg.Wait()
	if recvErr != io.EOF {
		return recvErr
	}
	return sendErr
}

// recvWithin takes a slot of the stream, receives its next request and takes a
// server-wide slot for it; on success the caller holds both. The server-wide
// slot is taken after Recv so that an idle stream holds none.
func (v *service) recvWithin(ctx context.Context, stream grpc.BidiStreamingServer[pb.ModelInferRequest, pb.ModelStreamInferResponse], slots chan struct{}) (*pb.ModelInferRequest, error) {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	req, err := stream.Recv()
	if err == nil {
		select {
		case v.s.inFlight <- struct{}{}:
			return req, nil
		case <-ctx.Done():
			err = status.FromContextError(ctx.Err()).Err()
		}
	}
	<-slots
	return nil, err
}

// ModelStatistics: an empty name lists every ready version of every model; a
// name, its ready versions (or the one asked for). As in Triton, only ready
// versions have statistics: an unknown model, one with no ready version, or a
// version that is not ready is InvalidArgument ("requested model ... is not
// available").
func (v *service) ModelStatistics(_ context.Context, req *pb.ModelStatisticsRequest) (*pb.ModelStatisticsResponse, error) {
	s := v.s
	n, err := parseVersion(req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	var states []*modelState
	if req.Name == "" {
		for _, ms := range s.models {
			states = append(states, ms)
		}
	} else if ms := s.models[req.Name]; ms != nil {
		states = append(states, ms)
	}
	s.mu.RUnlock()
	sort.Slice(states, func(i, j int) bool { return states[i].name < states[j].name })
	resp := &pb.ModelStatisticsResponse{}
	for _, ms := range states {
		for _, vs := range ms.versions {
			if vs.ready && (n == 0 || vs.version == n) {
				resp.ModelStats = append(resp.ModelStats, vs.stats.proto(vs.name, vs.vstr))
			}
		}
	}
	if req.Name != "" && len(resp.ModelStats) == 0 {
		if req.Version != "" && len(states) > 0 && states[0].latestReady() != nil {
			return nil, status.Errorf(codes.InvalidArgument, "statistics: requested model version %s is not available for model %q (ready: %s)",
				req.Version, req.Name, readyList(states[0]))
		}
		return nil, status.Errorf(codes.InvalidArgument, "statistics: requested model %q is not available (no ready version; ready models: %s)",
			req.Name, s.readyModelNames())
	}
	return resp, nil
}

func (v *service) RepositoryIndex(_ context.Context, req *pb.RepositoryIndexRequest) (*pb.RepositoryIndexResponse, error) {
	return &pb.RepositoryIndexResponse{Models: v.s.index(req.Ready)}, nil
}

func (v *service) RepositoryModelLoad(ctx context.Context, req *pb.RepositoryModelLoadRequest) (*pb.RepositoryModelLoadResponse, error) {
	if len(req.Parameters) > 0 {
		for k := range req.Parameters {
			return nil, status.Errorf(codes.InvalidArgument, "load of model %q: parameter %q is not supported by the embedded server", req.ModelName, k)
		}
	}
	if !modelrepo.IsPlainName(req.ModelName) {
		return nil, status.Errorf(codes.InvalidArgument, "load: %q is not a model name", req.ModelName)
	}
	if err := v.s.loadByName(ctx, req.ModelName); err != nil {
		return nil, err
	}
	return &pb.RepositoryModelLoadResponse{}, nil
}

func (v *service) RepositoryModelUnload(_ context.Context, req *pb.RepositoryModelUnloadRequest) (*pb.RepositoryModelUnloadResponse, error) {
	if err := v.s.unloadByName(req.ModelName); err != nil {
		return nil, err
	}
	return &pb.RepositoryModelUnloadResponse{}, nil
}

func (v *service) SystemSharedMemoryStatus(_ context.Context, req *pb.SystemSharedMemoryStatusRequest) (*pb.SystemSharedMemoryStatusResponse, error) {
	regions, err := v.s.shm.status(req.Name)
	if err != nil {
		return nil, err
	}
	return &pb.SystemSharedMemoryStatusResponse{Regions: regions}, nil
}

func (v *service) SystemSharedMemoryRegister(_ context.Context, req *pb.SystemSharedMemoryRegisterRequest) (*pb.SystemSharedMemoryRegisterResponse, error) {
	if err := v.s.shm.register(req); err != nil {
		return nil, err
	}
	return &pb.SystemSharedMemoryRegisterResponse{}, nil
}

func (v *service) SystemSharedMemoryUnregister(_ context.Context, req *pb.SystemSharedMemoryUnregisterRequest) (*pb.SystemSharedMemoryUnregisterResponse, error) {
	if err := v.s.shm.unregister(req.Name); err != nil {
		return nil, err
	}
	return &pb.SystemSharedMemoryUnregisterResponse{}, nil
}
