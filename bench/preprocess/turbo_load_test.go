package preprocess

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// requireTurboEnv makes a missing libjpeg-turbo a test failure instead of a skip when set to "1"
// (scripts/test.sh sets it; builds that exclude libjpeg-turbo on purpose still skip).
const requireTurboEnv = "AGIQA_REQUIRE_TURBO"

func TestTurboLoaded(t *testing.T) {
	if !turboBuilt {
		t.Skipf("libjpeg-turbo excluded by the build: %s", TurboUnavailableReason())
	}
	if !TurboAvailable() {
		testenv.SkipOrFail(t, requireTurboEnv, "libjpeg-turbo is not available, JPEG tests ran the pure-Go decoder: %s",
			TurboUnavailableReason())
	}
	if r := TurboUnavailableReason(); r != "" {
		t.Errorf("TurboUnavailableReason = %q while libjpeg-turbo is loaded, want \"\"", r)
	}
	if !(Decoder{}).UsesTurbo() && os.Getenv(EnvPureGoJPEG) != "1" {
		t.Error("Decoder{}.UsesTurbo() = false although libjpeg-turbo is loaded")
	}
}

// fallbackChildEnv marks the re-executed test binary of TestTurboFallbackWithBogusLibrary.
const fallbackChildEnv = "AGIQA_PREPROCESS_FALLBACK_CHILD"

// TestTurboFallbackWithBogusLibrary runs this test binary again with AGIQA_TURBOJPEG_LIB naming a
// missing file: the library is loaded once per process, so the fallback is checked in a child that
// cannot disturb the other tests' use of the real library.
func TestTurboFallbackWithBogusLibrary(t *testing.T) {
	const bogus = "/nonexistent/agiqa-test/libturbojpeg.so.0"
	if os.Getenv(fallbackChildEnv) == "1" {
		checkFallback(t, bogus)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTurboFallbackWithBogusLibrary$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fallbackChildEnv+"=1", EnvTurboJPEGLib+"="+bogus, EnvPureGoJPEG+"=")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestTurboFallbackWithBogusLibrary")) {
		t.Fatalf("child with %s=%s: %v\n%s", EnvTurboJPEGLib, bogus, err, out)
	}
	t.Logf("child with %s=%s:\n%s", EnvTurboJPEGLib, bogus, out)
}

func checkFallback(t *testing.T, bogus string) {
	if TurboAvailable() || (Decoder{}).UsesTurbo() {
		t.Fatalf("TurboAvailable/UsesTurbo true with %s=%s", EnvTurboJPEGLib, bogus)
	}
	reason := TurboUnavailableReason()
	t.Logf("reason: %s", reason)
	if reason == "" {
		t.Error("TurboUnavailableReason is empty while libjpeg-turbo is unavailable")
	}
	if turboBuilt && (!strings.Contains(reason, bogus) || !strings.Contains(reason, EnvTurboJPEGLib)) {
		t.Errorf("reason %q does not name %s and the path %s", reason, EnvTurboJPEGLib, bogus)
	}
	// The default decoder must be the pure-Go one, byte for byte.
	data := synthJPEG(t, 97, 61)
	got, err := Decode(data, "synthetic.jpg")
	if err != nil {
		t.Fatalf("fallback decode: %v", err)
	}
	want, err := Decoder{PureGoJPEG: true}.Decode(data, "synthetic.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, want.Pix) {
		t.Error("fallback decode differs from the pure-Go decoder")
	}
	// decodeJPEGTurbo itself must not touch the unloaded library.
	direct, err := decodeJPEGTurbo(data, DefaultMaxPixels)
	if err != nil || !bytes.Equal(direct.Pix, want.Pix) {
		t.Errorf("decodeJPEGTurbo without the library: err %v, equal %v", err, bytes.Equal(direct.Pix, want.Pix))
	}
}
