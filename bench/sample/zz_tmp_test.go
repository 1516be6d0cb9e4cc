package sample

import (
	"context"
	"testing"
	"time"
)

func TestZZTmp(t *testing.T) {
	t0 := time.Now()
	ds, err := Generate(context.Background(), "/tmp/samp", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(len(ds.Items), time.Since(t0))
	t0 = time.Now()
	Generate(context.Background(), "/tmp/samp", 0)
	t.Log("reuse", time.Since(t0))
}
