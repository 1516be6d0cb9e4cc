package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireChromium makes a missing headless Chromium a failure (scripts/test.sh sets it; Debian's
// package is chromium).
const RequireChromium = "AGIQA_REQUIRE_CHROMIUM"

// Chromium returns the path of a Chromium binary ($AGIQA_CHROMIUM, else chromium or chromium-browser
// on PATH), or skips tb (fails under AGIQA_REQUIRE_CHROMIUM=1) when there is none.
func Chromium(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("AGIQA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	SkipOrFail(tb, RequireChromium, "no headless Chromium (install Debian's chromium, or set AGIQA_CHROMIUM)")
	return ""
}
