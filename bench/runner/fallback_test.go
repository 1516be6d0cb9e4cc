package runner

import (
	"context"
	"net"
	"testing"

	"github.com/agiqa-bench/agiqa/client"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// noConfigServer forwards metadata and inference to a real server but answers
// ModelConfig with Unimplemented, as KServe v2 servers other than Triton do.
type noConfigServer struct {
	pb.UnimplementedGRPCInferenceServiceServer
	up pb.GRPCInferenceServiceClient
}

func (s *noConfigServer) ModelMetadata(ctx context.Context, r *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	return s.up.ModelMetadata(ctx, r)
}

func (s *noConfigServer) ModelInfer(ctx context.Context, r *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	return s.up.ModelInfer(ctx, r)
}

func TestDescribeFallsBackToMetadata(t *testing.T) {
	c, _ := startServer(t)
	conn, err := grpc.NewClient(c.Targets()[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gs := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(gs, &noConfigServer{up: pb.NewGRPCInferenceServiceClient(conn)})
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go gs.Serve(lis)
	defer gs.Stop()
	pc, err := client.New(context.Background(), lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	m, err := Describe(context.Background(), pc, "mean")
	if err != nil {
		t.Fatal(err)
	}
	if m.ImageSize != 16 || m.MaxBatch != 1 || len(m.Outputs) != 2 || m.PerSplit || !m.HigherIsBetter {
		t.Fatalf("from metadata: %+v", m)
	}
	items := makeItems(t, 3)
	cf, _ := OpenCache(t.TempDir(), "ds", m, "")
	defer cf.Close()
	rep, err := Run(context.Background(), pc, m, "", items, cf, Options{})
	if err != nil || rep.Inferred != 3 {
		t.Fatalf("run through the metadata-only server: %v %+v", err, rep)
	}
}
