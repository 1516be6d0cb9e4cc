package runner

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

// Progress is told how a run advances.
type Progress interface {
	Start(label string, total, already int)
	Add(n int)
	Finish()
}

type nopProgress struct{}

func (nopProgress) Start(string, int, int) {}
func (nopProgress) Add(int)                {}
func (nopProgress) Finish()                {}

// NewProgress draws a bar (images/s, ETA) on a terminal, and prints a plain line
// every interval otherwise, so logs of batch jobs stay readable. Both are
// StageProgress: they show which stage (preprocessing or inference) is the bottleneck.
func NewProgress(w io.Writer, terminal bool, interval time.Duration) Progress {
	if terminal {
		return &barProgress{w: w}
	}
	return &lineProgress{w: w, interval: interval}
}

type barProgress struct {
	w      io.Writer
	bar    *progressbar.ProgressBar
	label  string
	stages func() StageRates
	last   time.Time
}

func (b *barProgress) Stages(f func() StageRates) { b.stages = f }

func (b *barProgress) Start(label string, total, already int) {
	// The bar counts only the images still to infer: cached ones added up front
	// would inflate its images/s and so shorten its ETA.
	b.bar, b.stages = nil, nil
	if already >= total {
		fmt.Fprintf(b.w, "%s: all %d images cached\n", label, total)
		return
	}
	if already > 0 {
		label = fmt.Sprintf("%s (%d of %d cached)", label, already, total)
	}
	b.label = label
	b.bar = progressbar.NewOptions(total-already,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("img"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
func (b *barProgress) Add(n int) {
	if b.bar == nil {
		return
	}
	// The stage rates settle slowly: redescribing once a second keeps the bar from flickering.
	if b.stages != nil && time.Since(b.last) >= time.Second {
		b.last = time.Now()
		if st := b.stages().String(); st != "" {
			b.bar.Describe(b.label + " [" + st + "]")
		}
	}
	b.bar.Add(n)
}

func (b *barProgress) Finish() {
	if b.bar != nil {
		b.bar.Finish()
		fmt.Fprintln(b.w)
	}
}

type lineProgress struct {
	w        io.Writer
	interval time.Duration
	mu       sync.Mutex
	label    string
	total    int
	done     int
	sent     int
	start    time.Time
	last     time.Time
	now      func() time.Time // time.Now; tests replace it
	stages   func() StageRates
}

func (l *lineProgress) Stages(f func() StageRates) {
	l.mu.Lock()
	l.stages = f
	l.mu.Unlock()
}

func (l *lineProgress) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

func (l *lineProgress) Start(label string, total, already int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.label, l.total, l.done, l.sent, l.stages = label, total, already, 0, nil
	l.start = l.clock()
	l.last = l.start
	fmt.Fprintf(l.w, "%s: %d images, %d already cached\n", label, total, already)
}

func (l *lineProgress) Add(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done += n
	l.sent += n
	if now := l.clock(); now.Sub(l.last) >= l.interval {
		l.last = now
		l.print()
	}
}

func (l *lineProgress) print() {
	// The rate counts only images sent in this run, not cached ones.
	el := l.clock().Sub(l.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(l.sent) / el
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(l.total-l.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	st := ""
	if l.stages != nil {
		if s := l.stages().String(); s != "" {
			st = "; " + s
		}
	}
	fmt.Fprintf(l.w, "%s: %d/%d images, %.1f img/s, ETA %s%s\n", l.label, l.done, l.total, rate, eta, st)
}

func (l *lineProgress) Finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == 0 && l.done == l.total {
		// Nothing was inferred: a rate of 0.0 img/s and "ETA ?" would read as a stall.
		fmt.Fprintf(l.w, "%s: %d/%d images, all from the cache\n", l.label, l.done, l.total)
		return
	}
	l.print()
}
