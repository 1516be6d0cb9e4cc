//go:build !linux

package runner

import (
	"context"
	"fmt"

	"github.com/agiqa-bench/agiqa/client"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

var errNoSHM = fmt.Errorf("%w: POSIX shared memory needs Linux (use --shared-memory none)", ErrSharedMemory)

type shmInputs struct{ c *client.Client }

func (s *shmInputs) place(context.Context, []*tensor.Tensor) ([]client.SharedMemoryInput, error) {
	return nil, errNoSHM
}

func (s *shmInputs) close() error { return nil }

// ProbeSharedMemory reports that system shared memory is unavailable off Linux.
func ProbeSharedMemory(context.Context, *client.Client) error { return errNoSHM }
