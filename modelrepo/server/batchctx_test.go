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
