package client

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// Server-wide and model-management calls. Responses are the protocol messages
// themselves: they are plain data, and re-declaring them would only copy them.

// Live reports whether the server process is up (ServerLive).
func (c *Client) Live(ctx context.Context) (bool, error) {
	r, err := invoke(ctx, c, "ServerLive", "", true,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.ServerLiveResponse, error) {
			return s.ServerLive(ctx, &pb.ServerLiveRequest{}, o...)
		})
	return r.GetLive(), err
}

// Ready reports whether the server accepts inference (ServerReady).
func (c *Client) Ready(ctx context.Context) (bool, error) {
	r, err := invoke(ctx, c, "ServerReady", "", true,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.ServerReadyResponse, error) {
			return s.ServerReady(ctx, &pb.ServerReadyRequest{}, o...)
		})
	return r.GetReady(), err
}

// ModelReady reports whether a model version ("" = the server's choice) is
// ready. An unknown model is an error (NotFound) on Triton, not false.
func (c *Client) ModelReady(ctx context.Context, model, version string) (bool, error) {
	r, err := invoke(ctx, c, "ModelReady", model, true,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.ModelReadyResponse, error) {
			return s.ModelReady(ctx, &pb.ModelReadyRequest{Name: model, Version: version}, o...)
		})
	return r.GetReady(), err
}

// ServerMetadata returns the server's name, version and extensions.
func (c *Client) ServerMetadata(ctx context.Context) (*pb.ServerMetadataResponse, error) {
	return invoke(ctx, c, "ServerMetadata", "", true,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.ServerMetadataResponse, error) {
			return s.ServerMetadata(ctx, &pb.ServerMetadataRequest{}, o...)
		})
}

// ModelMetadata returns a model's versions, platform and tensor signatures.
func (c *Client) ModelMetadata(ctx context.Context, model, version string) (*pb.ModelMetadataResponse, error) {
	return invoke(ctx, c, "ModelMetadata", model, true,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.ModelMetadataResponse, error) {
			return s.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: model, Version: version}, o...)
		})
}

// ModelConfig returns a model's configuration as the server resolved it.
func (c *Client) ModelConfig(ctx context.Context, model, version string) (*pb.ModelConfig, error) {
	r, err := invoke(ctx, c, "ModelConfig", model, true,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.ModelConfigResponse, error) {
			return s.ModelConfig(ctx, &pb.ModelConfigRequest{Name: model, Version: version}, o...)
		})
	if err != nil {
		return nil, err
	}
	if r.GetConfig() == nil {
		return nil, badResponse("ModelConfig", model, errors.New("response carries no config"))
	}
	return r.GetConfig(), nil
}

// ModelStatistics returns the cumulative statistics of a model version; model
// "" asks for every model. Counters only grow: subtract two snapshots to get a
// window.
func (c *Client) ModelStatistics(ctx context.Context, model, version string) ([]*pb.ModelStatistics, error) {
	r, err := invoke(ctx, c, "ModelStatistics", model, true,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.ModelStatisticsResponse, error) {
			return s.ModelStatistics(ctx, &pb.ModelStatisticsRequest{Name: model, Version: version}, o...)
		})
	return r.GetModelStats(), err
}

// RepositoryIndex lists the models in the repository; readyOnly limits it to
// models that are ready.
func (c *Client) RepositoryIndex(ctx context.Context, readyOnly bool) ([]*pb.RepositoryIndexResponse_ModelIndex, error) {
	r, err := invoke(ctx, c, "RepositoryIndex", "", true,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.RepositoryIndexResponse, error) {
			return s.RepositoryIndex(ctx, &pb.RepositoryIndexRequest{Ready: readyOnly}, o...)
		})
	return r.GetModels(), err
}

// LoadModel loads or reloads a model (the server must run with explicit model
// control). params are Triton's load parameters, e.g. "config" with a JSON
// config override; nil for none. Not retried: a reload has effects. With
// several replicas it reaches one of them; use Replica(i) to load on each.
func (c *Client) LoadModel(ctx context.Context, model string, params map[string]*pb.ModelRepositoryParameter) error {
	_, err := invoke(ctx, c, "RepositoryModelLoad", model, false,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.RepositoryModelLoadResponse, error) {
			return s.RepositoryModelLoad(ctx, &pb.RepositoryModelLoadRequest{ModelName: model, Parameters: params}, o...)
		})
	return err
}

// UnloadModel unloads a model. Not retried; see LoadModel about replicas.
func (c *Client) UnloadModel(ctx context.Context, model string, params map[string]*pb.ModelRepositoryParameter) error {
	_, err := invoke(ctx, c, "RepositoryModelUnload", model, false,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.RepositoryModelUnloadResponse, error) {
			return s.RepositoryModelUnload(ctx, &pb.RepositoryModelUnloadRequest{ModelName: model, Parameters: params}, o...)
		})
	return err
}

// SystemSharedMemoryStatus returns the registered system shared-memory regions,
// keyed by region name; name "" asks for all of them.
func (c *Client) SystemSharedMemoryStatus(ctx context.Context, name string) (map[string]*pb.SystemSharedMemoryStatusResponse_RegionStatus, error) {
	r, err := invoke(ctx, c, "SystemSharedMemoryStatus", "", true,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.SystemSharedMemoryStatusResponse, error) {
			return s.SystemSharedMemoryStatus(ctx, &pb.SystemSharedMemoryStatusRequest{Name: name}, o...)
		})
	return r.GetRegions(), err
}

// RegisterSystemSharedMemory registers byteSize bytes at offset of the POSIX
// shared-memory object key (e.g. "/agiqa_in") under name. The region lives on
// one server: with several replicas, register through Replica(i) and send the
// requests that use it through the same view. Not retried (a second register
// of the same name fails with AlreadyExists).
func (c *Client) RegisterSystemSharedMemory(ctx context.Context, name, key string, offset, byteSize uint64) error {
	if name == "" || key == "" || byteSize == 0 {
		return newError("SystemSharedMemoryRegister", "", codes.InvalidArgument,
			errors.New("region name, key and a non-zero byte size are required"))
	}
	_, err := invoke(ctx, c, "SystemSharedMemoryRegister", "", false,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.SystemSharedMemoryRegisterResponse, error) {
			return s.SystemSharedMemoryRegister(ctx, &pb.SystemSharedMemoryRegisterRequest{
				Name: name, Key: key, Offset: offset, ByteSize: byteSize}, o...)
		})
	return err
}

// UnregisterSystemSharedMemory unregisters a region; name "" unregisters all.
func (c *Client) UnregisterSystemSharedMemory(ctx context.Context, name string) error {
	_, err := invoke(ctx, c, "SystemSharedMemoryUnregister", "", false,
		func(ctx context.Context, s pb.GRPCInferenceServiceClient, o []grpc.CallOption) (*pb.SystemSharedMemoryUnregisterResponse, error) {
			return s.SystemSharedMemoryUnregister(ctx, &pb.SystemSharedMemoryUnregisterRequest{Name: name}, o...)
		})
	return err
}
