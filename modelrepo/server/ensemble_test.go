package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/agiqa-bench/agiqa/bench/preprocess"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/internal/testenv"
	"github.com/agiqa-bench/agiqa/modelrepo"
	"github.com/agiqa-bench/agiqa/modelrepo/native"
	_ "github.com/agiqa-bench/agiqa/modelrepo/preprocmodel" // registers preprocess_*
)

// meanModel: QUALITY = the mean of each IMAGE row's bytes, computed here in float64 and rounded
// once, so a test can compute the same from the harness's pixels.
func meanModel(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	img, ok := native.TensorByName(in, "IMAGE")
	if !ok {
		return nil, errors.New("no IMAGE")
	}
	rows := int(img.Shape[0])
	per := len(img.Raw) / rows
	q := make([]float32, rows)
	for r := range q {
		q[r] = meanOf(img.Raw[r*per : (r+1)*per])
	}
	out, err := tensor.NewFP32("QUALITY", []int64{int64(rows), 1}, q)
	return []*tensor.Tensor{out}, err
}

func meanOf(b []byte) float32 {
	s := 0.0
	for _, v := range b {
		s += float64(v)
	}
	return float32(s / float64(len(b)))
}

func init() { native.Register("servertest.mean", meanModel) }

const meanConfig = `backend: "native"
max_batch_size: 8
input { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 224, 224 ] }
output { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] }
dynamic_batching { max_queue_delay_microseconds: 20000 }
instance_group { count: 1 }`

const preConfig = `backend: "native"
max_batch_size: 8
input { name: "ENCODED" data_type: TYPE_STRING dims: [ 1 ] }
output { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 224, 224 ] }
instance_group { count: 2 }`

// e2eConfig chains preprocess_resize_224 and mean; it also returns the preprocessed pixels.
const e2eConfig = `platform: "ensemble"
max_batch_size: 8
input { name: "IMAGE" data_type: TYPE_STRING dims: [ 1 ] }
output { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] }
output { name: "PIXELS" data_type: TYPE_UINT8 dims: [ 3, 224, 224 ] }
ensemble_scheduling {
  step { model_name: "preprocess_resize_224" model_version: -1
         input_map { key: "ENCODED" value: "IMAGE" } output_map { key: "IMAGE" value: "PIXELS" } }
  step { model_name: "mean" model_version: 1
         input_map { key: "IMAGE" value: "PIXELS" } output_map { key: "QUALITY" value: "QUALITY" } }
}`

// startRepo serves models (directory -> config, with a version 1 holding content) on a loopback port.
func startRepo(t *testing.T, models map[string][2]string) (*Server, pb.GRPCInferenceServiceClient) {
	t.Helper()
	dir := t.TempDir()
	for name, m := range models {
		writeFile(t, filepath.Join(dir, name, "config.pbtxt"), m[0])
		writeFile(t, filepath.Join(dir, name, "1", NativeFile), m[1])
	}
	repo, err := modelrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(repo)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.GracefulStop(c)
	})
	return srv, pb.NewGRPCInferenceServiceClient(conn)
}

func e2eRepo() map[string][2]string {
	return map[string][2]string{
		"preprocess_resize_224": {preConfig, "preprocess_resize_224"},
		"mean":                  {meanConfig, "servertest.mean"},
		"mean_e2e":              {e2eConfig, "# an ensemble's version folder holds no model file\n"},
	}
}

func encodedReq(model string, images ...[]byte) *pb.ModelInferRequest {
	return &pb.ModelInferRequest{ModelName: model,
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "IMAGE", Datatype: "BYTES", Shape: []int64{int64(len(images)), 1}}},
		RawInputContents: [][]byte{tensor.EncodeBytes(images)}}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "bench", "preprocess", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The ensemble's preprocessing gives the harness's pixels (preprocess.DecodeCHW, what the runner
// sends) byte for byte, the model scores them, and concurrent requests batch on the composing model;
// a bad image fails its own request only, InvalidArgument naming the input and the decoder's reason.
func TestEnsembleRunsStepsAndIsolatesBadImages(t *testing.T) {
	_, c := startRepo(t, e2eRepo())
	files := []string{"c420.jpg", "c444.jpg", "c420_progressive.jpg", "gray.jpg", "rgb8.png", "palette.png", "rgba16.png"}
	bad := []byte("\xff\xd8\xff\xe0 this is not a JPEG")
	type result struct {
		resp *pb.ModelInferResponse
		err  error
	}
	results := make([]result, len(files)+1)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img := bad
			if i < len(files) {
				img = fixture(t, files[i])
			}
			results[i].resp, results[i].err = c.ModelInfer(ctx(t), encodedReq("mean_e2e", img))
		}()
	}
	wg.Wait()
	for i, f := range files {
		r := results[i]
		if r.err != nil {
			t.Errorf("%s: %v", f, r.err)
			continue
		}
		want, err := preprocess.DecodeCHW(fixture(t, f), f, 224, preprocess.MethodResize)
		if err != nil {
			t.Fatal(err)
		}
		if got := output(t, r.resp, "PIXELS").Raw; string(got) != string(want.Pix) {
			t.Errorf("%s: ensemble pixels differ from the harness's preprocess.DecodeCHW", f)
		}
		if q := floats(t, r.resp, "QUALITY"); len(q) != 1 || q[0] != meanOf(want.Pix) {
			t.Errorf("%s: QUALITY %v, want %v", f, q, meanOf(want.Pix))
		}
	}
	wantStatus(t, results[len(files)].err, codes.InvalidArgument, "ENCODED", "does not decode", `"preprocess_resize_224"`, "mean_e2e")

	// Statistics: the ensemble counts its requests; each composing model its own, as Triton reports.
	stats := func(name string) *pb.ModelStatistics {
		st, err := c.ModelStatistics(ctx(t), &pb.ModelStatisticsRequest{Name: name})
		if err != nil || len(st.ModelStats) != 1 {
			t.Fatalf("statistics of %s: %v %v", name, st, err)
		}
		return st.ModelStats[0]
	}
	n := uint64(len(files))
	if e := stats("mean_e2e"); e.InferenceStats.Success.Count != n || e.InferenceStats.Fail.Count != 1 {
		t.Errorf("mean_e2e: success %d fail %d, want %d and 1", e.InferenceStats.Success.Count, e.InferenceStats.Fail.Count, n)
	}
	if p := stats("preprocess_resize_224"); p.InferenceStats.Success.Count != n || p.InferenceStats.Fail.Count != 1 {
		t.Errorf("preprocess: success %d fail %d", p.InferenceStats.Success.Count, p.InferenceStats.Fail.Count)
	}
	m := stats("mean")
	if m.InferenceStats.Success.Count != n || m.InferenceCount != n {
		t.Errorf("mean: success %d inferences %d, want %d", m.InferenceStats.Success.Count, m.InferenceCount, n)
	}
	if m.ExecutionCount >= n {
		t.Logf("mean: %d executions for %d requests: the steps did not batch this time", m.ExecutionCount, n)
	}

	// A batch of two in one request: one preprocessing call, rows in order.
	a, b := fixture(t, "c422.jpg"), fixture(t, "rgb8.png")
	resp, err := c.ModelInfer(ctx(t), encodedReq("mean_e2e", a, b))
	if err != nil {
		t.Fatal(err)
	}
	wa, _ := preprocess.DecodeCHW(a, "a", 224, preprocess.MethodResize)
	wb, _ := preprocess.DecodeCHW(b, "b", 224, preprocess.MethodResize)
	if q := floats(t, resp, "QUALITY"); len(q) != 2 || q[0] != meanOf(wa.Pix) || q[1] != meanOf(wb.Pix) {
		t.Errorf("batch of 2: QUALITY %v, want %v %v", q, meanOf(wa.Pix), meanOf(wb.Pix))
	}
}

// An ensemble whose steps do not connect fails to load, naming the step and tensor; the others load.
func TestEnsembleThatDoesNotConnectFailsToLoad(t *testing.T) {
	models := e2eRepo()
	swap := func(old, new string) string { return strings.Replace(e2eConfig, old, new, 1) }
	cases := map[string]struct{ config, want string }{
		"missing_tensor": {swap(`value: "PIXELS" } output_map { key: "QUALITY"`, `value: "PIXELZ" } output_map { key: "QUALITY"`),
			`tensor "PIXELZ", which no ensemble input or step output provides`},
		"type_mismatch": {swap(`input { name: "IMAGE" data_type: TYPE_STRING`, `input { name: "IMAGE" data_type: TYPE_UINT8`),
			`ensemble step 1 (model "preprocess_resize_224"): tensor "IMAGE" is TYPE_UINT8`},
		"unknown_model":  {swap(`model_name: "mean"`, `model_name: "nomodel"`), `ensemble step 2 (model "nomodel"): model "nomodel" is not in repository`},
		"unknown_input":  {swap(`input_map { key: "IMAGE" value: "PIXELS" }`, `input_map { key: "PICTURE" value: "PIXELS" }`), `input_map names input "PICTURE"`},
		"batch_too_big":  {swap("max_batch_size: 8", "max_batch_size: 16"), "ensemble max_batch_size 16 is larger"},
		"no_step_output": {swap(`output_map { key: "QUALITY" value: "QUALITY" }`, `output_map { key: "QUALITY" value: "SCORE" }`), `ensemble output "QUALITY" is not produced`},
	}
	for name, c := range cases {
		models[name] = [2]string{c.config, "#\n"}
	}
	srv, cl := startRepo(t, models)
	for name, c := range cases {
		_, err := cl.ModelInfer(ctx(t), encodedReq(name, fixture(t, "c420.jpg")))
		if err == nil {
			t.Errorf("%s: served", name)
			continue
		}
		reason := ""
		for _, e := range srv.index(false) {
			if e.Name == name {
				reason = e.Reason
			}
		}
		if !strings.Contains(reason, c.want) {
			t.Errorf("%s: reason %q lacks %q", name, reason, c.want)
		}
	}
	if _, err := cl.ModelInfer(ctx(t), encodedReq("mean_e2e", fixture(t, "c420.jpg"))); err != nil {
		t.Errorf("the good ensemble beside them: %v", err)
	}
}

// Steps run in dependency order, not listing order, and independent steps both run: here the model
// steps are listed before the preprocessing they read, and two read the same tensor.
func TestEnsembleDependencyOrder(t *testing.T) {
	models := e2eRepo()
	models["fanout"] = [2]string{`platform: "ensemble"
max_batch_size: 8
input { name: "IMAGE" data_type: TYPE_STRING dims: [ 1 ] }
output { name: "Q1" data_type: TYPE_FP32 dims: [ 1 ] }
output { name: "Q2" data_type: TYPE_FP32 dims: [ 1 ] }
ensemble_scheduling {
  step { model_name: "mean" model_version: -1 input_map { key: "IMAGE" value: "PIXELS" } output_map { key: "QUALITY" value: "Q1" } }
  step { model_name: "mean" model_version: 1 input_map { key: "IMAGE" value: "PIXELS" } output_map { key: "QUALITY" value: "Q2" } }
  step { model_name: "preprocess_resize_224" model_version: -1 input_map { key: "ENCODED" value: "IMAGE" } output_map { key: "IMAGE" value: "PIXELS" } }
}`, "#\n"}
	models["cycle"] = [2]string{`platform: "ensemble"
max_batch_size: 8
input { name: "IMAGE" data_type: TYPE_STRING dims: [ 1 ] }
output { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] }
ensemble_scheduling {
  step { model_name: "mean" input_map { key: "IMAGE" value: "A" } output_map { key: "QUALITY" value: "QUALITY" } }
  step { model_name: "mean" input_map { key: "IMAGE" value: "QUALITY" } output_map { key: "QUALITY" value: "A" } }
  step { model_name: "preprocess_resize_224" input_map { key: "ENCODED" value: "IMAGE" } output_map { key: "IMAGE" value: "B" } }
}`, "#\n"}
	srv, c := startRepo(t, models)
	img := fixture(t, "c444.jpg")
	resp, err := c.ModelInfer(ctx(t), encodedReq("fanout", img))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := preprocess.DecodeCHW(img, "c444.jpg", 224, preprocess.MethodResize)
	q1, q2 := floats(t, resp, "Q1"), floats(t, resp, "Q2")
	if len(q1) != 1 || len(q2) != 1 || q1[0] != meanOf(want.Pix) || q2[0] != q1[0] {
		t.Errorf("fanout: Q1 %v Q2 %v, want %v", q1, q2, meanOf(want.Pix))
	}
	for _, e := range srv.index(false) {
		if e.Name == "cycle" && (e.State == stateReady || !strings.Contains(e.Reason, "cycle")) {
			t.Errorf("cycle: state %s, reason %q", e.State, e.Reason)
		}
	}
}
