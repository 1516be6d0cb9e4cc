package fetch

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// openPart opens the .part file for writing, never through a symbolic link (a leftover link would
// have the download overwrite its target), and only a regular file.
func openPart(a Asset, part string) (*os.File, error) {
	out, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY|oNoFollow, 0o644)
	if err != nil {
		if st, lerr := os.Lstat(part); lerr == nil {
			if cerr := checkPart(a, part, st); cerr != nil {
				return nil, cerr
			}
		}
		return nil, fmt.Errorf("%s: %w", a.Name, err)
	}
	if st, err := out.Stat(); err != nil || !st.Mode().IsRegular() {
		out.Close()
		return nil, fmt.Errorf("%s: %s is not a regular file; remove it and run again", a.Name, part)
	}
	return out, nil
}

// checkPart refuses a leftover .part that is not a regular file: a symbolic link would have the
// download write (and truncate) its target, and anything else cannot be resumed.
func checkPart(a Asset, part string, st os.FileInfo) error {
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s: %s is a symbolic link; refusing to write through it (remove it and run again)", a.Name, part)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s: %s is not a regular file (%s); remove it and run again", a.Name, part, st.Mode().Type())
	}
	return nil
}

// contentRange parses "bytes START-END/SIZE"; size is 0 when given as "*".
func contentRange(h string) (start, size int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(spec, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	if sz != "*" {
		if size, err = strconv.ParseInt(strings.TrimSpace(sz), 10, 64); err != nil || size < 0 {
			return 0, 0, false
		}
	}
	return start, size, true
}

// bodySpan is what a response covers: the offset its body starts at, the asset's full size when
// known (0 when not) and where that size came from; complete: a 416, the .part is already whole.
type bodySpan struct {
	start, total int64
	sizeFrom     string
	complete     bool
}

// span reads the response's status and sizes for a request from offset have. The published size
// wins over what the server says: a server announcing more is refused before a byte is written,
// one announcing less is reported short.
func span(a Asset, resp *http.Response, have int64) (bodySpan, error) {
	sp := bodySpan{total: a.Size, sizeFrom: "its published size"}
	check := func(n int64, verb string) error {
		switch {
		case a.Size > 0 && n > a.Size:
			return &permanentError{fmt.Errorf("%s: GET %s: the server %s %d bytes, longer than its published size of %d bytes",
				a.Name, a.URL, verb, n, a.Size)}
		case a.Size > 0 && n >= 0 && n < a.Size:
			return &permanentError{fmt.Errorf("%s: GET %s: short body: the server %s %d of %d bytes (the published size)",
				a.Name, a.URL, verb, n, a.Size)}
		case a.Size == 0 && n > 0:
			sp.total, sp.sizeFrom = n, "the size the server announced"
		}
		return nil
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, size, ok := contentRange(resp.Header.Get("Content-Range"))
		switch {
		case !ok:
			start = have // no usable Content-Range: trust that it answers the Range sent
		case start > have:
			return sp, &permanentError{fmt.Errorf("%s: GET %s: asked for bytes from %d, the server sent Content-Range %q",
				a.Name, a.URL, have, resp.Header.Get("Content-Range"))}
		}
		if size > 0 {
			if err := check(size, "has"); err != nil {
				return sp, err
			}
		}
		sp.start = start
	case http.StatusOK:
		// no range support (or nothing on disk): start over
		if err := check(resp.ContentLength, "sends"); err != nil {
			return sp, err
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// the .part file is already complete (or longer than the file): verify it
		sp.complete = true
		return sp, nil
	default:
		return sp, &permanentError{fmt.Errorf("%s: GET %s: %s", a.Name, a.URL, resp.Status)}
	}
	if sp.total > 0 && sp.start > sp.total {
		return sp, &permanentError{fmt.Errorf("%s: GET %s: the server resumes at byte %d, past %s of %d bytes",
			a.Name, a.URL, sp.start, sp.sizeFrom, sp.total)}
	}
	return sp, nil
}

type progressWriter struct {
	w      io.Writer
	done   int64
	total  int64
	name   string
	report Progress
	last   time.Time
	kick   func() // called on every write: data is flowing
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.kick != nil {
		p.kick()
	}
	if p.report != nil && (time.Since(p.last) > 200*time.Millisecond || (p.total > 0 && p.done >= p.total)) {
		p.last = time.Now()
		p.report(p.name, p.done, p.total)
	}
	return n, err
}
