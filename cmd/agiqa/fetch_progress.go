package main

import (
	"fmt"
	"io"
)

// fetchProgress prints download progress: a line rewritten in place on a
// terminal; in a log, a line per tenth of the file (per 10 MB when the size
// is unknown), so a slow download does not flood CI output.
type fetchProgress struct {
	w        io.Writer
	tty      bool
	name     string
	lastStep int64
	open     bool // a terminal line not yet ended
}

// endLine ends a half-drawn terminal line before other output.
func (p *fetchProgress) endLine() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

const unknownSizeStep = 10e6

func (p *fetchProgress) update(name string, done, total int64) {
	if name != p.name {
		p.name, p.lastStep = name, -1
	}
	var msg string
	var step int64
	if total > 0 {
		msg = fmt.Sprintf("%s: %.1f / %.1f MB (%d%%)", name, float64(done)/1e6, float64(total)/1e6, done*100/total)
		step = done * 10 / total
	} else {
		msg = fmt.Sprintf("%s: %.1f MB", name, float64(done)/1e6)
		step = done / unknownSizeStep
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", msg)
		p.open = true
		if total > 0 && done >= total {
			p.endLine()
		}
		return
	}
	if step > p.lastStep {
		p.lastStep = step
		fmt.Fprintln(p.w, msg)
	}
}
