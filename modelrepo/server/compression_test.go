package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"

	"github.com/agiqa-bench/agiqa/client"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

// wireStats records, on the client side, the grpc-encoding of requests and responses and the
// payload sizes before and after compression.
type wireStats struct {
	mu                 sync.Mutex
	sent, received     string // grpc-encoding out and in
	inLen, inCompLen   int
	outLen, outCompLen int
}

func (w *wireStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (w *wireStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (w *wireStats) HandleConn(context.Context, stats.ConnStats)                       {}
func (w *wireStats) HandleRPC(_ context.Context, s stats.RPCStats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch s := s.(type) {
	case *stats.OutHeader:
		w.sent = s.Compression
	case *stats.InHeader:
		w.received = s.Compression
	case *stats.InPayload:
		w.inLen, w.inCompLen = s.Length, s.CompressedLength
	case *stats.OutPayload:
		w.outLen, w.outCompLen = s.Length, s.CompressedLength
	}
}

// A request compressed with gzip or deflate (the algorithms Triton's clients offer) is served,
// and the response comes back compressed with the same algorithm: the response header names it
// and the compressed payload is smaller than the message (zeros compress). The agiqa client's
// WithCompression sends such requests; an uncompressed request gets an uncompressed response.
func TestCompressedRequestsAndResponses(t *testing.T) {
	h := start(t)
	c := ctx(t)
	for h.srv.Addr() == nil && c.Err() == nil { // Serve records its listener when it starts
		time.Sleep(time.Millisecond)
	}
	addr := h.srv.Addr().String()
	zeros := make([]float32, 8*2)
	for _, alg := range []string{"gzip", "deflate", ""} {
		ws := &wireStats{}
		opts := []client.Option{client.WithDialOptions(grpc.WithStatsHandler(ws))}
		if alg != "" {
			opts = append(opts, client.WithCompression(alg))
		}
		cl, err := client.New(c, addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		x, err := tensor.NewFP32("X", []int64{8, 2}, zeros)
		if err != nil {
			t.Fatal(err)
		}
		res, err := cl.Infer(c, client.InferRequest{Model: "echo", Inputs: []*tensor.Tensor{x}})
		cl.Close()
		if err != nil {
			t.Fatalf("%q: %v", alg, err)
		}
		if y, err := res.Output("Y"); err != nil || len(y.Raw) != 64 {
			t.Errorf("%q: output Y %v, %v", alg, y, err)
		}
		ws.mu.Lock()
		if ws.sent != alg || ws.received != alg {
			t.Errorf("%q: request sent with %q, response came with %q", alg, ws.sent, ws.received)
		}
		if alg != "" && (ws.inCompLen >= ws.inLen || ws.outCompLen >= ws.outLen) {
			t.Errorf("%q: response %d -> %d bytes, request %d -> %d bytes: not compressed", alg, ws.inLen, ws.inCompLen, ws.outLen, ws.outCompLen)
		}
		t.Logf("%q: request %d -> %d bytes, response %d -> %d bytes", alg, ws.outLen, ws.outCompLen, ws.inLen, ws.inCompLen)
		ws.mu.Unlock()
	}
	// A plain gRPC client (as tritonclient's) choosing deflate per call is served too.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := pb.NewGRPCInferenceServiceClient(conn).ServerMetadata(c, &pb.ServerMetadataRequest{}, grpc.UseCompressor("deflate")); err != nil {
		t.Errorf("ServerMetadata with deflate: %v", err)
	}
	if _, err := client.New(c, addr, client.WithCompression("br")); err == nil {
		t.Error("WithCompression(\"br\") accepted")
	}
}
