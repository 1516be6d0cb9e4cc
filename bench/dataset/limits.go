package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"github.com/agiqa-bench/agiqa/internal/regfile"
)

// DefaultMaxLabelBytes is the default Limits.MaxLabelBytes: 64 MiB, over a hundred times the
// largest label file of the AGIQA datasets (AGIQA-3k's data.csv, 436 KiB).
const DefaultMaxLabelBytes int64 = 64 << 20

// Limits bounds what reading one label file may cost. The zero value means the process defaults
// (SetDefaultLimits), which start as DefaultMaxLabelBytes.
type Limits struct {
	// MaxLabelBytes caps a label file's size and, for an xlsx workbook, the size of its unpacked
	// parts too; 0 means the default.
	MaxLabelBytes int64
}

// Validate reports a limit that cannot be used.
func (l Limits) Validate() error {
	if l.MaxLabelBytes < 0 {
		return fmt.Errorf("dataset: label file cap %d: want a positive number of bytes (0: the default, %d)", l.MaxLabelBytes, DefaultMaxLabelBytes)
	}
	return nil
}

var defaultMaxLabelBytes atomic.Int64

func init() { defaultMaxLabelBytes.Store(DefaultMaxLabelBytes) }

// SetDefaultLimits sets the limits Load (and LoadLimited's zero fields) use. The agiqa command sets
// them once, from --max-label-bytes, before it reads a label file.
func SetDefaultLimits(l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if l.MaxLabelBytes == 0 {
		l.MaxLabelBytes = DefaultMaxLabelBytes
	}
	defaultMaxLabelBytes.Store(l.MaxLabelBytes)
	return nil
}

// DefaultLimits returns the limits SetDefaultLimits last set.
func DefaultLimits() Limits { return Limits{MaxLabelBytes: defaultMaxLabelBytes.Load()} }

func (l Limits) maxLabelBytes() int64 {
	if l.MaxLabelBytes > 0 {
		return l.MaxLabelBytes
	}
	return defaultMaxLabelBytes.Load()
}

// readLabelFile reads a whole label file: a regular file (a FIFO would block, /dev/zero never
// ends) of at most lim's cap.
func readLabelFile(file string, lim Limits) ([]byte, error) {
	data, err := regfile.ReadFile(context.Background(), file, lim.maxLabelBytes())
	var nr *regfile.NotRegularError
	var big *regfile.TooLargeError
	switch {
	case errors.As(err, &nr):
		return nil, fmt.Errorf("labels %s is %s, not a label file", file, regfile.Kind(nr.Mode))
	case errors.As(err, &big):
		return nil, fmt.Errorf("labels %s is %d bytes, over the label-file cap of %d bytes (raise it with --max-label-bytes, Limits.MaxLabelBytes, if the file is genuine)",
			file, big.Size, big.Limit)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("labels %s: no such file", file)
	case err != nil:
		return nil, fmt.Errorf("labels: %w", err)
	}
	return data, nil
}

// checkText refuses content that is not UTF-8 text or holds a NUL byte, naming the line of the first
// offending byte (1 + the newlines before it). The training code's reader
// (modelrepo/python/agiqa_torch/data.py) applies the same rule with the same words, so both refuse
// the same files at the same line.
func checkText(file string, data []byte) error {
	for i := 0; i < len(data); {
		c := data[i]
		if c == 0 {
			return fmt.Errorf("%s:%d: NUL byte: a label file must be UTF-8 text", file, 1+bytes.Count(data[:i], []byte{'\n'}))
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("%s:%d: not UTF-8 text (byte 0x%02x): save the label file as UTF-8", file, 1+bytes.Count(data[:i], []byte{'\n'}), c)
		}
		i += n
	}
	return nil
}

// parseDecimal parses a score written in decimal: optional sign, digits with an optional point,
// optional exponent. strconv.ParseFloat alone also takes hex floats ("0x1p-2" is 0.25), "Inf",
// "NaN" and underscores, none of which a label file means as a score.
func parseDecimal(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && isDigit(s[i]); i++ {
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := i
		for ; i < len(s) && isDigit(s[i]); i++ {
		}
		if i == exp {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}
