package client

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// fakeServer is a small in-process implementation of the Triton service. It
// serves one model, "double": FP32 input X of any shape, outputs Y = 2X (same
// shape) and N = INT64 [1] element count. It answers outputs in the reverse of
// the requested order so that decoding by position would be caught.
type fakeServer struct {
	pb.UnimplementedGRPCInferenceServiceServer
	name string

	mu        sync.Mutex
	calls     map[string]int
	fail      map[string][]error // errors returned before succeeding, per method
	lastInfer *pb.ModelInferRequest
	loaded    []string
	regions   map[string]*pb.SystemSharedMemoryStatusResponse_RegionStatus
	// infer replaces the "double" model when set.
	infer func(*pb.ModelInferRequest) (*pb.ModelInferResponse, error)
	// blockLive makes ServerLive wait for its context to end.
	blockLive bool
}

func newFake(name string) *fakeServer {
	return &fakeServer{name: name, calls: map[string]int{}, fail: map[string][]error{},
		regions: map[string]*pb.SystemSharedMemoryStatusResponse_RegionStatus{}}
}

// hit counts a call and pops a queued failure, if any.
func (f *fakeServer) hit(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if q := f.fail[method]; len(q) > 0 {
		f.fail[method] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeServer) failNext(method string, code codes.Code, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.fail[method] = append(f.fail[method], status.Errorf(code, "%s: injected %s", f.name, code))
	}
}

func (f *fakeServer) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func unknownModel(name string) error {
	return status.Errorf(codes.NotFound, "Request for unknown model: '%s' is not found", name)
}

// startFake serves f on 127.0.0.1:0 until the test ends and returns the address.
func startFake(t testing.TB, f *fakeServer, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterGRPCInferenceServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func (f *fakeServer) ServerLive(ctx context.Context, _ *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	if err := f.hit("ServerLive"); err != nil {
		return nil, err
	}
	if f.blockLive {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &pb.ServerLiveResponse{Live: true}, nil
}

func (f *fakeServer) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	if err := f.hit("ServerReady"); err != nil {
		return nil, err
	}
	return &pb.ServerReadyResponse{Ready: true}, nil
}

func (f *fakeServer) ModelReady(_ context.Context, r *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	if err := f.hit("ModelReady"); err != nil {
		return nil, err
	}
	if r.Name != "double" {
		return nil, unknownModel(r.Name)
	}
	return &pb.ModelReadyResponse{Ready: r.Version == "" || r.Version == "1"}, nil
}

func (f *fakeServer) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	if err := f.hit("ServerMetadata"); err != nil {
		return nil, err
	}
	return &pb.ServerMetadataResponse{Name: f.name, Version: "2.0", Extensions: []string{"system_shared_memory"}}, nil
}

func (f *fakeServer) ModelMetadata(_ context.Context, r *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	if err := f.hit("ModelMetadata"); err != nil {
		return nil, err
	}
	if r.Name != "double" {
		return nil, unknownModel(r.Name)
	}
	return &pb.ModelMetadataResponse{Name: "double", Versions: []string{"1"}, Platform: "fake",
		Inputs: []*pb.ModelMetadataResponse_TensorMetadata{{Name: "X", Datatype: "FP32", Shape: []int64{-1}}},
		Outputs: []*pb.ModelMetadataResponse_TensorMetadata{
			{Name: "Y", Datatype: "FP32", Shape: []int64{-1}}, {Name: "N", Datatype: "INT64", Shape: []int64{1}}},
	}, nil
}

func (f *fakeServer) ModelConfig(_ context.Context, r *pb.ModelConfigRequest) (*pb.ModelConfigResponse, error) {
	if err := f.hit("ModelConfig"); err != nil {
		return nil, err
	}
	if r.Name != "double" {
		return nil, unknownModel(r.Name)
	}
	return &pb.ModelConfigResponse{Config: &pb.ModelConfig{Name: "double", MaxBatchSize: 8}}, nil
}

func (f *fakeServer) ModelStatistics(_ context.Context, r *pb.ModelStatisticsRequest) (*pb.ModelStatisticsResponse, error) {
	if err := f.hit("ModelStatistics"); err != nil {
		return nil, err
	}
	return &pb.ModelStatisticsResponse{ModelStats: []*pb.ModelStatistics{{Name: "double", Version: r.Version,
		InferenceCount: uint64(f.count("ModelInfer"))}}}, nil
}

func (f *fakeServer) RepositoryIndex(_ context.Context, r *pb.RepositoryIndexRequest) (*pb.RepositoryIndexResponse, error) {
	if err := f.hit("RepositoryIndex"); err != nil {
		return nil, err
	}
	models := []*pb.RepositoryIndexResponse_ModelIndex{{Name: "double", Version: "1", State: "READY"}}
	if !r.Ready {
		models = append(models, &pb.RepositoryIndexResponse_ModelIndex{Name: "broken", State: "UNAVAILABLE", Reason: "no file"})
	}
	return &pb.RepositoryIndexResponse{Models: models}, nil
}

func (f *fakeServer) RepositoryModelLoad(_ context.Context, r *pb.RepositoryModelLoadRequest) (*pb.RepositoryModelLoadResponse, error) {
	if err := f.hit("RepositoryModelLoad"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loaded = append(f.loaded, r.ModelName+":"+r.Parameters["config"].GetStringParam())
	return &pb.RepositoryModelLoadResponse{}, nil
}

func (f *fakeServer) RepositoryModelUnload(_ context.Context, r *pb.RepositoryModelUnloadRequest) (*pb.RepositoryModelUnloadResponse, error) {
	if err := f.hit("RepositoryModelUnload"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loaded = slices.DeleteFunc(f.loaded, func(s string) bool { return len(s) > len(r.ModelName) && s[:len(r.ModelName)+1] == r.ModelName+":" })
	return &pb.RepositoryModelUnloadResponse{}, nil
}

func (f *fakeServer) SystemSharedMemoryStatus(_ context.Context, r *pb.SystemSharedMemoryStatusRequest) (*pb.SystemSharedMemoryStatusResponse, error) {
	if err := f.hit("SystemSharedMemoryStatus"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*pb.SystemSharedMemoryStatusResponse_RegionStatus{}
	for k, v := range f.regions {
		if r.Name == "" || r.Name == k {
			out[k] = v
		}
	}
	if r.Name != "" && len(out) == 0 {
		return nil, status.Errorf(codes.NotFound, "Unable to find system shared memory region: '%s'", r.Name)
	}
	return &pb.SystemSharedMemoryStatusResponse{Regions: out}, nil
}

func (f *fakeServer) SystemSharedMemoryRegister(_ context.Context, r *pb.SystemSharedMemoryRegisterRequest) (*pb.SystemSharedMemoryRegisterResponse, error) {
	if err := f.hit("SystemSharedMemoryRegister"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.regions[r.Name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "shared memory region '%s' already in manager", r.Name)
	}
	f.regions[r.Name] = &pb.SystemSharedMemoryStatusResponse_RegionStatus{Name: r.Name, Key: r.Key, Offset: r.Offset, ByteSize: r.ByteSize}
	return &pb.SystemSharedMemoryRegisterResponse{}, nil
}

func (f *fakeServer) SystemSharedMemoryUnregister(_ context.Context, r *pb.SystemSharedMemoryUnregisterRequest) (*pb.SystemSharedMemoryUnregisterResponse, error) {
	if err := f.hit("SystemSharedMemoryUnregister"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Name == "" {
		clear(f.regions)
	} else {
		delete(f.regions, r.Name)
	}
	return &pb.SystemSharedMemoryUnregisterResponse{}, nil
}

func (f *fakeServer) ModelInfer(_ context.Context, r *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	if err := f.hit("ModelInfer"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.lastInfer = r
	hook := f.infer
	f.mu.Unlock()
	if hook != nil {
		return hook(r)
	}
	return double(r)
}

// double is the fake model: Y = 2X, N = len(X).
func double(r *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	if r.ModelName != "double" {
		return nil, unknownModel(r.ModelName)
	}
	if len(r.Inputs) != 1 || r.Inputs[0].Name != "X" || len(r.RawInputContents) != 1 {
		return nil, status.Errorf(codes.InvalidArgument, "double: want one raw input X, got %d inputs, %d raw", len(r.Inputs), len(r.RawInputContents))
	}
	x := &tensor.Tensor{Name: "X", DataType: tensor.DataType(r.Inputs[0].Datatype), Shape: r.Inputs[0].Shape, Raw: r.RawInputContents[0]}
	xs, err := x.Float32s()
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	for i := range xs {
		xs[i] *= 2
	}
	y, _ := tensor.NewFP32("Y", x.Shape, xs)
	n, _ := tensor.NewInt64("N", []int64{1}, []int64{int64(len(xs))})
	byName := map[string]*tensor.Tensor{"Y": y, "N": n}
	want := []string{"Y", "N"}
	if len(r.Outputs) > 0 {
		want = want[:0]
		for _, o := range r.Outputs {
			if byName[o.Name] == nil {
				return nil, status.Errorf(codes.InvalidArgument, "unexpected inference output '%s' for model 'double'", o.Name)
			}
			want = append(want, o.Name)
		}
	}
	resp := &pb.ModelInferResponse{ModelName: "double", ModelVersion: "1", Id: r.Id}
	for i := len(want) - 1; i >= 0; i-- { // reversed on purpose
		t := byName[want[i]]
		resp.Outputs = append(resp.Outputs, &pb.ModelInferResponse_InferOutputTensor{Name: t.Name, Datatype: string(t.DataType), Shape: t.Shape})
		resp.RawOutputContents = append(resp.RawOutputContents, t.Raw)
	}
	return resp, nil
}

// ModelStreamInfer collects requests until the client closes its side, then
// answers them in reverse order, so the client must match responses by ID.
// Requests the model refuses get an error_message response carrying the ID.
func (f *fakeServer) ModelStreamInfer(s pb.GRPCInferenceService_ModelStreamInferServer) error {
	if err := f.hit("ModelStreamInfer"); err != nil {
		return err
	}
	var reqs []*pb.ModelInferRequest
	for {
		r, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		reqs = append(reqs, r)
	}
	for i := len(reqs) - 1; i >= 0; i-- {
		resp, err := double(reqs[i])
		out := &pb.ModelStreamInferResponse{InferResponse: resp}
		if err != nil {
			out = &pb.ModelStreamInferResponse{ErrorMessage: fmt.Sprint(status.Convert(err).Message()),
				InferResponse: &pb.ModelInferResponse{Id: reqs[i].Id}}
		}
		if err := s.Send(out); err != nil {
			return err
		}
	}
	return nil
}
