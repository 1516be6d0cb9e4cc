package runner

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Not a terminal: plain lines, at most one per interval, with the rate of
// this run's images only (cached ones excluded) and the ETA it implies.
func TestLineProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false, 5*time.Second)
	lp, ok := p.(*lineProgress)
	if !ok {
		t.Fatalf("NewProgress(terminal=false) = %T, want plain lines", p)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	lp.now = func() time.Time { return now }

	p.Start("m v1", 10, 4)
	now = t0.Add(time.Second)
	p.Add(1) // within the interval: silent
	now = t0.Add(6 * time.Second)
	p.Add(2) // 3 sent in 6 s = 0.5 img/s, 3 left: ETA 6 s
	now = t0.Add(8 * time.Second)
	p.Add(3)
	p.Finish()
	want := "m v1: 10 images, 4 already cached\n" +
		"m v1: 7/10 images, 0.5 img/s, ETA 6s\n" +
		"m v1: 10/10 images, 0.8 img/s, ETA 0s\n"
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// A run served entirely from the cache says so instead of "0.0 img/s, ETA ?".
func TestLineProgressAllCached(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false, 5*time.Second)
	p.Start("m v1", 10, 10)
	p.Finish()
	if got, want := buf.String(), "m v1: 10 images, 10 already cached\nm v1: 10/10 images, all from the cache\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// A terminal gets a bar sized to the images still to infer, with images/s.
func TestBarProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, true, time.Second)
	if _, ok := p.(*barProgress); !ok {
		t.Fatalf("NewProgress(terminal=true) = %T, want a bar", p)
	}
	p.Start("m v1", 10, 4)
	p.Add(3) // the first update draws; the finished bar is cleared
	p.Add(3)
	p.Finish()
	out := buf.String()
	for _, want := range []string{"m v1 (4 of 10 cached)", "3/6", "img/"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "/10") {
		t.Errorf("bar counts cached images as work done:\n%q", out)
	}
}

func TestBarProgressAllCached(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, true, time.Second)
	p.Start("m v1", 5, 5)
	p.Finish()
	if got := buf.String(); got != "m v1: all 5 images cached\n" {
		t.Errorf("got %q", got)
	}
}
