package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// `agiqa serve --metrics-addr` serves Triton's metrics at /metrics; the line that names the
// endpoint follows the gRPC address line, and an empty --metrics-addr prints none.
func TestServeMetricsFlag(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runContext(ctx, pw, io.Discard, []string{"serve", "--addr", "127.0.0.1:0", "--http-addr", "", "--metrics-addr", "127.0.0.1:0"})
		pw.Close()
		done <- err
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10 s")
		}
	}()
	rd := bufio.NewReader(pr)
	var url string
	for range 3 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("serve output ended: %v", err)
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "agiqa serve: metrics on "); ok {
			url = rest
			break
		}
	}
	go io.Copy(io.Discard, rd)
	if !strings.HasSuffix(url, "/metrics") {
		t.Fatalf("serve printed no metrics URL (got %q)", url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "# TYPE nv_inference_request_success counter") {
		t.Errorf("GET %s: %s\n%s", url, resp.Status, body)
	}
}
