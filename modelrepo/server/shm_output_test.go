package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// shmKey creates a /dev/shm object of size bytes filled with fill, and removes it at cleanup.
func shmKey(t *testing.T, size int, fill byte) (key, path string) {
	t.Helper()
	testenv.ShmDir(t)
	name := fmt.Sprintf("agiqa-out-%d-%d", os.Getpid(), time.Now().UnixNano())
	path = filepath.Join(shmDir, name)
	if err := os.WriteFile(path, bytes.Repeat([]byte{fill}, size), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return "/" + name, path
}

func shmOut(name, region string, offset, size int64) *pb.ModelInferRequest_InferRequestedOutputTensor {
	p := map[string]*pb.InferParameter{
		ParamSHMRegion:   {ParameterChoice: &pb.InferParameter_StringParam{StringParam: region}},
		ParamSHMByteSize: {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: size}},
	}
	if offset != 0 {
		p[ParamSHMOffset] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: offset}}
	}
	return &pb.ModelInferRequest_InferRequestedOutputTensor{Name: name, Parameters: p}
}

// A requested output with shared-memory parameters is written into the registered region at its
// offset (Triton's system shared-memory extension); the response lists it with an empty raw entry
// beside the other outputs' bytes. The expected bytes are the input's (echo's Y is X); the bytes
// around the output keep the fill.
func TestOutputToSharedMemory(t *testing.T) {
	h := start(t)
	c := ctx(t)
	key, path := shmKey(t, 64, 0xAA)
	if _, err := h.c.SystemSharedMemoryRegister(c, &pb.SystemSharedMemoryRegisterRequest{Name: "out", Key: key, Offset: 8, ByteSize: 48}); err != nil {
		t.Fatal(err)
	}
	req := xReq("echo", []int64{2, 2}, 1, 2, 3, 4)
	req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{shmOut("Y", "out", 4, 16), {Name: "SUM"}}
	resp, err := h.c.ModelInfer(c, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Outputs) != 2 || len(resp.RawOutputContents) != 2 || resp.Outputs[0].Name != "Y" ||
		fmt.Sprint(resp.Outputs[0].Shape) != "[2 2]" || resp.Outputs[0].Datatype != "FP32" || len(resp.RawOutputContents[0]) != 0 {
		t.Fatalf("response outputs %v, raw lengths %d", resp.Outputs, len(resp.RawOutputContents))
	}
	if sum := floats(t, resp, "SUM"); fmt.Sprint(sum) != "[3 7]" {
		t.Errorf("SUM = %v, want [3 7]", sum)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(bytes.Repeat([]byte{0xAA}, 12), fp32Raw(1, 2, 3, 4)...), bytes.Repeat([]byte{0xAA}, 36)...)
	if !bytes.Equal(got, want) {
		t.Errorf("shm object after infer:\n got %x\nwant %x", got, want)
	}

	// Bad placements fail that request alone, before the model runs, naming region, offset, size.
	for _, tc := range []struct {
		out  *pb.ModelInferRequest_InferRequestedOutputTensor
		subs []string
	}{
		{shmOut("Y", "out", 4, 8), []string{`output "Y"`, "16 bytes do not fit", `region "out"`, "offset 4", "shared_memory_byte_size 8"}},
		{shmOut("Y", "out", 40, 16), []string{`output "Y"`, "offset 40", "byte_size 16", `region "out" (48 bytes)`}},
		{shmOut("Y", "nope", 0, 16), []string{`output "Y"`, `region "nope" is not registered`}},
	} {
		req := xReq("echo", []int64{2, 2}, 1, 2, 3, 4)
		req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{tc.out}
		_, err := h.c.ModelInfer(c, req)
		wantStatus(t, err, codes.InvalidArgument, tc.subs...)
	}
	both := shmOut("Y", "out", 0, 16)
	both.Parameters[ParamClassification] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 1}}
	req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{both}
	_, err = h.c.ModelInfer(c, req)
	wantStatus(t, err, codes.InvalidArgument, `output "Y"`, "classification")
	noRegion := &pb.ModelInferRequest_InferRequestedOutputTensor{Name: "Y", Parameters: map[string]*pb.InferParameter{
		ParamSHMByteSize: {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 16}}}}
	req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{noRegion}
	_, err = h.c.ModelInfer(c, req)
	wantStatus(t, err, codes.InvalidArgument, `output "Y"`, ParamSHMRegion)
	if again, _ := os.ReadFile(path); !bytes.Equal(again, want) {
		t.Error("a refused request wrote into the region")
	}
	// The server serves on: the same good request works again.
	req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{shmOut("Y", "out", 4, 16)}
	if _, err := h.c.ModelInfer(c, req); err != nil {
		t.Errorf("good request after refused ones: %v", err)
	}
}

// An output whose size only the model knows (BYTES) is checked when it exists: too small a
// region fails that request after the run; a fitting one receives Triton's BYTES encoding
// (4-byte little-endian length, then the bytes, per element).
func TestBytesOutputToSharedMemoryCheckedAfterRun(t *testing.T) {
	h := start(t)
	c := ctx(t)
	key, path := shmKey(t, 32, 0)
	if _, err := h.c.SystemSharedMemoryRegister(c, &pb.SystemSharedMemoryRegisterRequest{Name: "s", Key: key, ByteSize: 32}); err != nil {
		t.Fatal(err)
	}
	in := &pb.ModelInferRequest{ModelName: "strings",
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "S", Datatype: "BYTES", Shape: []int64{1, 2}}},
		RawInputContents: [][]byte{tensor.EncodeBytes([][]byte{[]byte("ab"), []byte("cd")})},
		Outputs:          []*pb.ModelInferRequest_InferRequestedOutputTensor{shmOut("S_OUT", "s", 0, 8)}}
	_, err := h.c.ModelInfer(c, in)
	wantStatus(t, err, codes.InvalidArgument, `output "S_OUT"`, "12 bytes do not fit", `region "s"`, "offset 0", "shared_memory_byte_size 8")
	in.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{shmOut("S_OUT", "s", 0, 12)}
	if _, err := h.c.ModelInfer(c, in); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := tensor.EncodeBytes([][]byte{[]byte("AB"), []byte("CD")}); !bytes.Equal(got[:12], want) {
		t.Errorf("region holds %x, want %x", got[:12], want)
	}
	st, err := h.c.ModelStatistics(c, &pb.ModelStatisticsRequest{Name: "strings"})
	if err != nil {
		t.Fatal(err)
	}
	if is := st.ModelStats[0].InferenceStats; is.Success.Count != 1 || is.Fail.Count != 1 {
		t.Errorf("statistics: %d successes, %d failures; want 1 and 1", is.Success.Count, is.Fail.Count)
	}
}

// A key the server could only open read-only still serves inputs, but an output aimed at it is
// refused with the reason (checked on the registry: as root, file modes do not stop O_RDWR).
func TestOutputToReadOnlyRegionRefused(t *testing.T) {
	r := testRegistry(t, 10, 1<<20)
	r.regions["ro"] = &shmRegion{name: "ro", key: "/k", size: 16, mapped: make([]byte, 16)}
	err := r.write("Y", shmRef{region: "ro", length: 16}, make([]byte, 8))
	wantStatus(t, err, codes.InvalidArgument, `output "Y"`, `region "ro"`, "read-only")
	r.regions["rw"] = &shmRegion{name: "rw", key: "/k", offset: 4, size: 12, mapped: make([]byte, 16), writable: true}
	if err := r.write("Y", shmRef{region: "rw", offset: 4, length: 8}, []byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	if got := r.regions["rw"].mapped; !bytes.Equal(got[8:16], []byte{1, 2, 3, 4, 5, 6, 7, 8}) || !bytes.Equal(got[:8], make([]byte, 8)) {
		t.Errorf("mapping after write: %v (region offset 4 + output offset 4 = byte 8)", got)
	}
	delete(r.regions, "ro")
	delete(r.regions, "rw")
}
