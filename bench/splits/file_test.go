package splits

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// A FIFO named as the splits file is refused at once, not read (which would block until a writer came).
func TestReadRefusesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "splits.json")
	testenv.Mkfifo(t, fifo)
	done := make(chan error, 1)
	go func() { _, err := Read(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("Read(FIFO) = %v, want an error naming it a FIFO", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read blocked on a FIFO")
	}
}
