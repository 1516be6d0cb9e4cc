package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agiqa-bench/agiqa/client"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// kserveFake is a KServe v2 server that is not Triton: no ModelConfig
// (Unimplemented), metadata only. Model "iqa" is ready; "stale" is listed as
// READY by its index but ModelReady says false (readiness has one source).
// Every ModelInfer fails with InvalidArgument.
type kserveFake struct {
	pb.UnimplementedGRPCInferenceServiceServer
	infers atomic.Int32
}

func (f *kserveFake) RepositoryIndex(context.Context, *pb.RepositoryIndexRequest) (*pb.RepositoryIndexResponse, error) {
	return &pb.RepositoryIndexResponse{Models: []*pb.RepositoryIndexResponse_ModelIndex{
		{Name: "iqa", Version: "1", State: "READY"}, {Name: "stale", Version: "1", State: "READY"}}}, nil
}

func (f *kserveFake) ModelReady(_ context.Context, r *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	return &pb.ModelReadyResponse{Ready: r.Name == "iqa"}, nil
}

func (f *kserveFake) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

func (f *kserveFake) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: true}, nil
}

func (f *kserveFake) ModelMetadata(_ context.Context, r *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	if r.Name != "iqa" {
		return nil, status.Errorf(codes.NotFound, "no model %q", r.Name)
	}
	return &pb.ModelMetadataResponse{Name: "iqa", Versions: []string{"1"}, Platform: "other",
		Inputs:  []*pb.ModelMetadataResponse_TensorMetadata{{Name: "IMAGE", Datatype: "UINT8", Shape: []int64{-1, 3, 224, 224}}},
		Outputs: []*pb.ModelMetadataResponse_TensorMetadata{{Name: "QUALITY", Datatype: "FP32", Shape: []int64{-1, 1}}}}, nil
}

func (f *kserveFake) ModelInfer(context.Context, *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	f.infers.Add(1)
	return nil, status.Error(codes.InvalidArgument, "fake: refused")
}

func startKServeFake(t *testing.T) (*kserveFake, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &kserveFake{}
	srv := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}

// agiqa models against a server without ModelConfig: tensors come from
// ModelMetadata, and readiness from ModelReady, not the index's state.
func TestModelsFallsBackToMetadata(t *testing.T) {
	_, addr := startKServeFake(t)
	c, err := client.New(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	infos, err := listModels(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("models %+v", infos)
	}
	iqa, stale := infos[0], infos[1]
	if !iqa.Ready || strings.Join(iqa.Inputs, ";") != "IMAGE UINT8 [-1,3,224,224]" || strings.Join(iqa.Outputs, ";") != "QUALITY FP32 [-1,1]" {
		t.Errorf("iqa: %+v", iqa)
	}
	if stale.Ready || stale.Reason == "" {
		t.Errorf("stale (ModelReady false, index READY) shown ready: %+v", stale)
	}
}

// tables exits non-zero when every request of a model failed, instead of a
// NaN row and status 0; the default selection leaves "stale" out because
// ModelReady says it is not ready.
func TestTablesAllFailedExitsNonZero(t *testing.T) {
	f, addr := startKServeFake(t)
	dir := t.TempDir()
	sp := filepath.Join(dir, "sample.json")
	if _, stderr, err := runCLI(t, "splits", "--dataset", "sample", "--sample-size", "40", "--n", "2", "-o", sp); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	_, stderr, err := runCLI(t, "tables", "--server", addr, "--cache", filepath.Join(dir, "p"), "--sample-size", "40",
		"--dataset", "sample", "--splits", "sample="+sp, "--tables", "1", "--retries", "0")
	if err == nil || !strings.Contains(err.Error(), "iqa on sample: every one of its") || !strings.Contains(err.Error(), "fake: refused") {
		t.Errorf("err %v, want every image of iqa failed\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "model stale: not ready, left out") {
		t.Errorf("stale not left out as not ready:\n%s", stderr)
	}
	if f.infers.Load() == 0 {
		t.Error("no request was sent")
	}
}
