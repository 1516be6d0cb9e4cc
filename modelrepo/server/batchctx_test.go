package server

import (
	"context"
	"testing"
	"time"
)

// A batch executes under a context that ends only when every one of its callers has gone (or the
// server stops): an ensemble then stops its steps for a batch nobody awaits, and never for one a
// caller still waits on.
func TestBatchContextEndsWhenEveryCallerHasGone(t *testing.T) {
	srv := &Server{}
	srv.baseCtx, srv.cancel = context.WithCancel(context.Background())
	defer srv.cancel()
	s := &scheduler{srv: srv}
	c1, cancel1 := context.WithCancel(context.Background())
	c2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	ctx, release := s.batchContext([]*request{{ctx: c1}, {ctx: c2}})
	defer release()
	cancel1()
	select {
	case <-ctx.Done():
		t.Fatal("batch context ended while one caller still waits")
	case <-time.After(50 * time.Millisecond):
	}
	cancel2()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("batch context did not end after every caller had gone")
	}

	// The server stopping ends it too; release frees it either way.
	c3 := context.Background()
	ctx, release = s.batchContext([]*request{{ctx: c3}})
	srv.cancel()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("batch context outlived the server")
	}
	release()
}

// End to end: a model that honours its context stops when the only caller of its batch cancels, so
// GracefulStop right after finds nothing left to drain.
func TestCancelledCallerStopsItsExecution(t *testing.T) {
	h := start(t)
	g := newGate(t, 5)
	t.Cleanup(func() { close(g.release) })
	rctx, rcancel := context.WithCancel(ctx(t))
	result := make(chan error, 1)
	go func() {
		_, err := h.c.ModelInfer(rctx, xReq("blocker", []int64{1, 2}, 5, 0))
		result <- err
	}()
	<-g.started
	rcancel()
	<-result
	h.stopped = true
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.GracefulStop(sctx); err != nil {
		t.Errorf("GracefulStop = %v: the cancelled request's execution kept running", err)
	}
}
