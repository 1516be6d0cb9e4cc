package server

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// max_queue_size 4294967295 is a valid uint32 and killed the server at start (the queue was allocated
// at full size); instance_group count 100000 cost hundreds of MB before any request. The queue is now
// capped (the model serves), too many instances is a load error naming the count, and loading both
// costs little memory.
func TestHugeQueueAndInstanceCountsAreBounded(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bigqueue", "config.pbtxt"), `backend: "native"
max_batch_size: 8
`+echoIO+`dynamic_batching { default_queue_policy { max_queue_size: 4294967295 } }
parameters { key: "native.function" value { string_value: "servertest.echo" } }`)
	writeFile(t, filepath.Join(dir, "bigqueue", "1", NativeFile), "servertest.echo\n")
	writeFile(t, filepath.Join(dir, "manyinst", "config.pbtxt"), `backend: "native"
max_batch_size: 8
`+echoIO+`instance_group { count: 100000 }
parameters { key: "native.function" value { string_value: "servertest.echo" } }`)
	writeFile(t, filepath.Join(dir, "manyinst", "1", NativeFile), "servertest.echo\n")
	repo, err := modelrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	srv, err := New(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.GracefulStop(ctx(t))
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<20 {
		t.Errorf("loading the two models grew the heap by %d MB", grown>>20)
	}
	states := srv.repositoryIndex()
	if st := states["bigqueue"]; st.GetState() != "READY" {
		t.Errorf("bigqueue: %v, want READY with the queue capped at %d", st, MaxQueueSize)
	}
	if st := states["manyinst"]; st.GetState() == "READY" || !strings.Contains(st.GetReason(), "100000 instances") {
		t.Errorf("manyinst: %v, want a load error naming 100000 instances", st)
	}
}

// repositoryIndex maps each model to its index entry (latest version), for tests.
func (s *Server) repositoryIndex() map[string]*pb.RepositoryIndexResponse_ModelIndex {
	out := map[string]*pb.RepositoryIndexResponse_ModelIndex{}
	for _, m := range s.index(false) {
		out[m.Name] = m
	}
	return out
}
