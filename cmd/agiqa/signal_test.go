package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// envSignalChild makes TestSecondSignalExitsAtOnce, re-executed, run `agiqa serve` as main does.
const envSignalChild = "AGIQA_SIGNAL_TEST_CHILD"

// A second SIGINT or SIGTERM while `agiqa serve` drained was ignored: with a client holding a
// stream open, serve sat out its 10 s grace period. Now the first signal starts the drain and the
// second exits at once, with 130 (SIGINT) or 143 (SIGTERM). tables and perf share main's handling.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if os.Getenv(envSignalChild) != "" {
		os.Args = []string{"agiqa", "serve", "--addr", "127.0.0.1:0"}
		main()
		os.Exit(0)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			child, addr, stderr := startServeChild(t)
			// A stream left open keeps the graceful stop waiting (it drains streams too).
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stream, err := pb.NewGRPCInferenceServiceClient(conn).ModelStreamInfer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// One answered request shows the server has the stream; it stays open (no CloseSend).
			if err := stream.Send(&pb.ModelInferRequest{ModelName: "no-such-model"}); err != nil {
				t.Fatal(err)
			}
			if m, err := stream.Recv(); err != nil || m.ErrorMessage == "" {
				t.Fatalf("stream answered %v, %v; want an error message", m, err)
			}
			if err := child.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waitLine(t, stderr, "draining in-flight requests")
			sent := time.Now()
			if err := child.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- child.Wait() }()
			select {
			case err := <-exited:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
					t.Errorf("after the second %v: %v, want exit status %d", sig, err, 128+int(sig))
				}
				if d := time.Since(sent); d > 3*time.Second {
					t.Errorf("exited %v after the second %v", d, sig)
				}
			case <-time.After(5 * time.Second):
				_ = child.Process.Kill()
				t.Fatalf("still draining 5 s after the second %v", sig)
			}
		})
	}
}

// The first signal alone still drains and exits cleanly once nothing is in flight.
func TestOneSignalDrainsAndExitsZero(t *testing.T) {
	child, _, stderr := startServeChild(t)
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine(t, stderr, "draining in-flight requests")
	go io.Copy(io.Discard, stderr)
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after one SIGTERM with nothing in flight: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		_ = child.Process.Kill()
		t.Fatal("serve did not stop within 10 s of SIGTERM")
	}
}

// startServeChild re-executes the test binary as `agiqa serve` and returns it, its address and
// its stderr.
func startServeChild(t *testing.T) (*exec.Cmd, string, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondSignalExitsAtOnce$")
	cmd.Env = append(os.Environ(), envSignalChild+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	out := bufio.NewReader(stdout)
	addr := strings.TrimPrefix(waitLine(t, out, "agiqa serve: listening on "), "agiqa serve: listening on ")
	go io.Copy(io.Discard, out)
	return cmd, strings.TrimSpace(addr), bufio.NewReader(stderrPipe)
}

// waitLine reads r until a line containing want (at most 20 s) and returns it.
func waitLine(t *testing.T, r *bufio.Reader, want string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		for {
			l, err := r.ReadString('\n')
			if strings.Contains(l, want) {
				got <- l
				return
			}
			if err != nil {
				got <- ""
				return
			}
		}
	}()
	select {
	case l := <-got:
		if l == "" {
			t.Fatalf("output ended before a line with %q", want)
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatalf("no line with %q within 20 s", want)
	}
	return ""
}
