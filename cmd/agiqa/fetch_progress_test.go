package main

import (
	"strings"
	"testing"
)

// In a log (not a terminal) a download says where it is at every tenth, not
// at every report the fetcher makes (5 a second).
func TestFetchProgressInALogPrintsTenths(t *testing.T) {
	var b strings.Builder
	p := &fetchProgress{w: &b}
	const total = 1_000_000
	for done := int64(0); done <= total; done += 7_000 {
		p.update("clip-rn50", done, total)
	}
	p.update("clip-rn50", total, total)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 11 || lines[0] != "clip-rn50: 0.0 / 1.0 MB (0%)" || lines[10] != "clip-rn50: 1.0 / 1.0 MB (100%)" {
		t.Errorf("%d lines:\n%s\nwant 11, from 0%% to 100%%", len(lines), b.String())
	}
	// A second asset starts its own count; an unknown size reports every 10 MB.
	b.Reset()
	for done := int64(0); done <= 35e6; done += 1e6 {
		p.update("vocab", done, 0)
	}
	if got := strings.Count(b.String(), "\n"); got != 4 || !strings.Contains(b.String(), "vocab: 30.0 MB\n") {
		t.Errorf("unknown size:\n%s\nwant 4 lines, one per 10 MB", b.String())
	}
}

// On a terminal one line is rewritten in place and ended when the asset is done.
func TestFetchProgressOnATerminalRewritesOneLine(t *testing.T) {
	var b strings.Builder
	p := &fetchProgress{w: &b, tty: true}
	p.update("w", 500, 1000)
	p.update("w", 1000, 1000)
	if got, want := b.String(), "\rw: 0.0 / 0.0 MB (50%)\x1b[K\rw: 0.0 / 0.0 MB (100%)\x1b[K\n"; got != want {
		t.Errorf("terminal output %q, want %q", got, want)
	}
}
