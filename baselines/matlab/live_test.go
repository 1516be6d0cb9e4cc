package matlab

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// RequireOctave makes TestPrimitivesLiveOctave fail instead of skipping when octave is missing.
const RequireOctave = "AGIQA_REQUIRE_OCTAVE"

// TestPrimitivesLiveOctave re-runs testdata/gen_primitives.m with this machine's Octave and checks the
// Go code against its fresh output, so that the committed fixture cannot drift from its generator.
func TestPrimitivesLiveOctave(t *testing.T) {
	octave, err := exec.LookPath("octave")
	if err != nil {
		testenv.SkipOrFail(t, RequireOctave, "octave is not on PATH (Debian packages octave, octave-image)")
	}
	out := filepath.Join(t.TempDir(), "live.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, octave, "--no-gui", "--quiet", "--no-window-system", "--eval",
		"out = '"+out+"'; gen_primitives")
	cmd.Dir = "testdata"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("octave gen_primitives.m: %v\n%s", err, b)
	}
	live := loadRef(t, out)
	committed := loadRef(t, "testdata/primitives_ref.json")
	if len(live.Cases) != len(committed.Cases) {
		t.Errorf("live generator wrote %d cases, the committed fixture holds %d: regenerate it", len(live.Cases), len(committed.Cases))
	}
	checkRef(t, live)
}
