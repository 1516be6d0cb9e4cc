// Package regfile opens input files that must be regular files (label files, images) without ever
// blocking on something that is not one: a FIFO blocks open(2) until a writer appears and read(2)
// after, a character device such as /dev/zero never ends, and neither answers SIGINT. Open stats
// first, to name what the path is, then opens non-blocking and checks the opened file again, so a
// path swapped in between is caught too; Read reads with a byte cap, checking for cancellation
// between chunks.
package regfile

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Kind describes a file mode for messages: "a named pipe (FIFO)", "a directory".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file (mode " + m.String() + ")"
}

// NotRegularError is a path that exists but is not a regular file.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, Kind(e.Mode))
}

// Open opens path for reading when it is a regular file (symbolic links are followed), and returns
// its FileInfo from the opened descriptor. Anything else is a *NotRegularError; stat errors are
// returned as os.Stat gives them (errors.Is(err, fs.ErrNotExist) holds for a missing file).
func Open(path string) (*os.File, fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, &NotRegularError{Path: path, Mode: st.Mode()}
	}
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, nil, err
	}
	if st, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() { // swapped after the first stat
		f.Close()
		return nil, nil, &NotRegularError{Path: path, Mode: st.Mode()}
	}
	return f, st, nil
}

// TooLargeError is a file over a byte cap.
type TooLargeError struct {
	Path  string
	Size  int64 // bytes found: the file's size, or cap+1 when it grew while read
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is %d bytes, over the cap of %d bytes", e.Path, e.Size, e.Limit)
}

// chunk is how much Read reads between checks of ctx.
const chunk = 4 << 20

// Read appends to buf what r holds, up to limit bytes in all (buf included), reading chunk by
// chunk and returning ctx's error once it is cancelled. More than limit bytes is a *TooLargeError
// naming path.
func Read(ctx context.Context, path string, r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if int64(len(buf)) > limit {
			return nil, &TooLargeError{Path: path, Size: int64(len(buf)), Limit: limit}
		}
		want := int(min(int64(chunk), limit+1-int64(len(buf))))
		if cap(buf)-len(buf) < want {
			buf = append(buf, make([]byte, want)...)[:len(buf)]
		}
		n, err := io.ReadAtLeast(r, buf[len(buf):len(buf)+want], want)
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if int64(len(buf)) > limit {
				return nil, &TooLargeError{Path: path, Size: int64(len(buf)), Limit: limit}
			}
			return buf, nil
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
}

// ReadFile is Open then Read of the whole file, refusing a file over limit bytes before reading it.
func ReadFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, &TooLargeError{Path: path, Size: st.Size(), Limit: limit}
	}
	return Read(ctx, path, f, make([]byte, 0, st.Size()+1), limit)
}
