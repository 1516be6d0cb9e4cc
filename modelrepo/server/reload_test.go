package server

import (
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// A reload whose new config or files are broken used to replace the loaded model with the broken
// one, so a model that served a moment before answered Unavailable. As in Triton, the failed reload
// now reports the failure and changes nothing: the loaded version keeps serving and stays READY.
func TestFailedReloadKeepsServing(t *testing.T) {
	h := start(t)
	c := ctx(t)
	cfgPath := filepath.Join(h.dir, "echo", "config.pbtxt")
	good := testModels["echo"][0]
	serving := func(when string) {
		t.Helper()
		resp, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2))
		if err != nil || resp.ModelVersion != "1" || !slices.Equal(floats(t, resp, "SUM"), []float32{3}) {
			t.Errorf("%s: echo answers %v, %v; want version 1 serving", when, resp, err)
		}
		if r, err := h.c.ModelReady(c, &pb.ModelReadyRequest{Name: "echo"}); err != nil || !r.Ready {
			t.Errorf("%s: echo not ready (%v)", when, err)
		}
		if st := h.srv.repositoryIndex()["echo"]; st.GetState() != "READY" || st.GetVersion() != "1" {
			t.Errorf("%s: index says %v, want version 1 READY", when, st)
		}
	}
	load := func() error {
		_, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "echo"})
		return err
	}

	writeFile(t, cfgPath, "backend: \"native\"\nmax_batch_size: 8\ninput { name: \"X\" data_type: TYPE_FP32 dims: [ 2 ]\n")
	wantStatus(t, load(), codes.InvalidArgument, `model "echo"`, filepath.Join("echo", "config.pbtxt"), "keeps serving (version 1)")
	serving("after a reload with a broken config")

	// Files: the config is fine, version 1's function does not exist.
	writeFile(t, cfgPath, "backend: \"native\"\nmax_batch_size: 8\n"+echoIO)
	writeFile(t, filepath.Join(h.dir, "echo", "1", NativeFile), "servertest.nope\n")
	wantStatus(t, load(), codes.Internal, `model "echo"`, "servertest.nope", "keeps serving (version 1)")
	serving("after a reload whose version 1 does not load")

	// A new version that does not load leaves version 1 serving (latest policy selects only 2).
	writeFile(t, filepath.Join(h.dir, "echo", "1", NativeFile), "servertest.echo\n")
	writeFile(t, filepath.Join(h.dir, "echo", "2", NativeFile), "servertest.nope\n")
	wantStatus(t, load(), codes.Internal, "version 2", "servertest.nope", "keeps serving (version 1)")
	serving("after a reload whose new version 2 does not load")

	// Fixed, the reload takes effect.
	writeFile(t, filepath.Join(h.dir, "echo", "2", NativeFile), "servertest.echo\n")
	writeFile(t, cfgPath, good)
	if err := load(); err != nil {
		t.Fatal(err)
	}
	if resp, err := h.c.ModelInfer(c, xReq("echo", []int64{1, 2}, 1, 2)); err != nil || resp.ModelVersion != "2" {
		t.Errorf("after a good reload: %v %v, want version 2", resp, err)
	}

	// A model with nothing loaded still takes the failed state, so the index gives the reason.
	_, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "missingfn"})
	wantStatus(t, err, codes.Internal, "servertest.nope")
	if st := h.srv.repositoryIndex()["missingfn"]; st.GetState() != "UNAVAILABLE" {
		t.Errorf("missingfn: %v", st)
	}
}

// The versions of a failed reload that did load are closed, not leaked, and the old instances stay.
func TestFailedReloadClosesItsInstances(t *testing.T) {
	h := start(t)
	c := ctx(t)
	before, closedBefore := h.counter.loads.Load(), h.counter.closes.Load()
	// "counted" runs 2 instances of version 1. Reloaded with every version selected and a broken
	// version 2, version 1's two new instances load and version 2's first fails.
	writeFile(t, filepath.Join(h.dir, "counted", "config.pbtxt"), testModels["counted"][0]+"\nversion_policy { all {} }")
	writeFile(t, filepath.Join(h.dir, "counted", "2", NativeFile), "servertest.nope\n")
	_, err := h.c.RepositoryModelLoad(c, &pb.RepositoryModelLoadRequest{ModelName: "counted"})
	wantStatus(t, err, codes.Internal, `model "counted"`, "version 2", "keeps serving (version 1)")
	if l, cl := h.counter.loads.Load()-before, h.counter.closes.Load()-closedBefore; l != 3 || cl != 2 {
		t.Errorf("failed reload: %d load attempts, %d closes; want 3 and 2 (the new version 1 closed, the old kept)", l, cl)
	}
	if _, err := h.c.ModelInfer(c, xReq("counted", []int64{1, 2}, 1, 2)); err != nil {
		t.Errorf("counted after its failed reload: %v", err)
	}
}
