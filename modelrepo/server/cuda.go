package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// The CUDA shared-memory extension, answered as Triton built without GPU support answers it
// (src/grpc/grpc_server.cc without TRITON_ENABLE_GPU): no region can be registered, so status
// lists none and unregistering (one or all) succeeds with nothing to do; register fails with
// InvalidArgument, "failed to register CUDA shared memory region: '<name>', GPUs not supported".
// The extension is not listed in ServerMetadata, so clients that check it use system shared
// memory instead.

func (v *service) CudaSharedMemoryStatus(_ context.Context, req *pb.CudaSharedMemoryStatusRequest) (*pb.CudaSharedMemoryStatusResponse, error) {
	if req.Name != "" {
		return nil, status.Errorf(codes.NotFound, "unable to find cuda shared memory region: %q (the embedded server has no GPU support, so none is ever registered)", req.Name)
	}
	return &pb.CudaSharedMemoryStatusResponse{Regions: map[string]*pb.CudaSharedMemoryStatusResponse_RegionStatus{}}, nil
}

func (v *service) CudaSharedMemoryRegister(_ context.Context, req *pb.CudaSharedMemoryRegisterRequest) (*pb.CudaSharedMemoryRegisterResponse, error) {
	return nil, invalidf("failed to register CUDA shared memory region: '%s', GPUs not supported (the embedded server runs models on the CPU; use system shared memory)", req.Name)
}

func (v *service) CudaSharedMemoryUnregister(context.Context, *pb.CudaSharedMemoryUnregisterRequest) (*pb.CudaSharedMemoryUnregisterResponse, error) {
	return &pb.CudaSharedMemoryUnregisterResponse{}, nil
}
