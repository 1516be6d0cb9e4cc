package splits

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
	"github.com/agiqa-bench/agiqa/internal/regfile"
)

// ImagesDigest is the ImagesSHA256 of a list of image names.
func ImagesDigest(images []string) string {
	sorted := slices.Clone(images)
	sort.Strings(sorted)
	h := sha256.New()
	for _, s := range sorted {
		h.Write([]byte(s))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Marshal encodes the file as indented JSON with one image list per line,
// byte-identical for identical contents.
func (f *File) Marshal() ([]byte, error) {
	var b bytes.Buffer
	field := func(name string, v any, last bool) error {
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  %q: %s", name, j)
		if !last {
			b.WriteString(",")
		}
		b.WriteString("\n")
		return nil
	}
	b.WriteString("{\n")
	for _, kv := range []struct {
		k string
		v any
	}{{"dataset", f.Dataset}, {"protocol", f.Protocol}, {"rng", f.rng()}, {"seed", f.Seed}, {"n", f.N}, {"images", f.Images}, {"images_sha256", f.ImagesSHA256}} {
		if err := field(kv.k, kv.v, false); err != nil {
			return nil, err
		}
	}
	b.WriteString("  \"splits\": [\n")
	for i, s := range f.Splits {
		fmt.Fprintf(&b, "    {\n      \"index\": %d,\n", s.Index)
		for j, side := range []struct {
			k string
			v []string
		}{{"train", s.Train}, {"val", s.Val}, {"test", s.Test}} {
			v := side.v
			if v == nil {
				v = []string{}
			}
			j2, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "      %q: %s", side.k, j2)
			if j < 2 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString("    }")
		if i < len(f.Splits)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("  ]\n}\n")
	return b.Bytes(), nil
}

// Write writes the file to path (through a temporary file and a rename, so
// a reader never sees half a file).
func (f *File) Write(path string) error {
	b, err := f.Marshal()
	if err != nil {
		return fmt.Errorf("splits %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("splits %s: %w", path, err)
	}
	f.Path = path
	return nil
}

// maxFileBytes bounds a splits file: AGIQA-3k's 10 splits are about 1.5 MB.
const maxFileBytes = 256 << 20

// Read reads and validates a splits file: every split must put each of the
// file's images on exactly one side, and the counts and digest must agree.
func Read(path string) (*File, error) {
	// A regular file only (a FIFO would block), and no larger than any splits file can be.
	b, err := regfile.ReadFile(context.Background(), path, maxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("splits: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("splits file %s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// Parse decodes and validates a splits file's contents.
func Parse(b []byte) (*File, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("empty file, want the JSON that 'agiqa splits' writes")
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(b, err)
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// jsonError places a decoding error at its line and column, and says what
// a type mismatch means in JSON's words rather than Go's.
func jsonError(b []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(b, se.Offset-1) // Offset counts the offending byte
		return fmt.Errorf("line %d, column %d: invalid JSON: %w", line, col, err)
	case errors.As(err, &te):
		line, col := position(b, te.Offset)
		if te.Field == "" {
			return fmt.Errorf("line %d, column %d: the file holds a JSON %s, want an object", line, col, te.Value)
		}
		want := map[reflect.Kind]string{reflect.String: "a string", reflect.Slice: "an array", reflect.Struct: "an object",
			reflect.Int: "an integer", reflect.Uint64: "an integer", reflect.Bool: "true or false"}[te.Type.Kind()]
		if want == "" {
			want = te.Type.Kind().String()
		}
		return fmt.Errorf("line %d, column %d: %q holds a JSON %s, want %s", line, col, te.Field, te.Value, want)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("truncated JSON: %w", err)
	}
	return err
}

// position turns a byte offset into a 1-based line and column.
func position(b []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func (f *File) validate() error {
	if f.Dataset == "" {
		return errors.New(`no "dataset"`)
	}
	if f.Protocol != Paper && f.Protocol != Holdout {
		return fmt.Errorf("protocol %q: want %s or %s", f.Protocol, Paper, Holdout)
	}
	if f.RNG == "" {
		f.RNG = PCG // files written before the field existed
	}
	if f.RNG != PCG && f.RNG != Official {
		return fmt.Errorf("rng %q: want %s or %s", f.RNG, PCG, Official)
	}
	if len(f.Splits) == 0 || len(f.Splits) != f.N {
		return fmt.Errorf(`"n" is %d but the file has %d splits`, f.N, len(f.Splits))
	}
	var ref []string
	for k, s := range f.Splits {
		if s.Index != k {
			return fmt.Errorf("split %d has index %d", k, s.Index)
		}
		if len(s.Train) == 0 || len(s.Test) == 0 {
			return fmt.Errorf("split %d: empty train or test", k)
		}
		if f.Protocol == Paper && len(s.Val) > 0 {
			return fmt.Errorf("split %d: protocol paper has no validation images, found %d", k, len(s.Val))
		}
		if f.Protocol == Holdout && len(s.Val) == 0 {
			return fmt.Errorf("split %d: protocol holdout needs validation images", k)
		}
		all := slices.Concat(s.Train, s.Val, s.Test)
		sort.Strings(all)
		for i := 1; i < len(all); i++ {
			if all[i] == all[i-1] {
				return fmt.Errorf("split %d: image %q appears twice", k, all[i])
			}
		}
		if ref == nil {
			ref = all
			continue
		}
		if !slices.Equal(all, ref) {
			return fmt.Errorf("split %d covers other images than split 0 (first difference: %s)", k, firstDifference(ref, all))
		}
	}
	if len(ref) != f.Images {
		return fmt.Errorf(`"images" is %d but each split holds %d`, f.Images, len(ref))
	}
	if d := ImagesDigest(ref); d != f.ImagesSHA256 {
		return fmt.Errorf(`"images_sha256" %s does not match the images listed (%s)`, f.ImagesSHA256, d)
	}
	return nil
}

// firstDifference names the first image (in sorted order) in exactly one of
// two sorted lists.
func firstDifference(a, b []string) string {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			i++
			j++
		case a[i] < b[j]:
			return fmt.Sprintf("%q only in the first", a[i])
		default:
			return fmt.Sprintf("%q only in the second", b[j])
		}
	}
	if i < len(a) {
		return fmt.Sprintf("%q only in the first", a[i])
	}
	if j < len(b) {
		return fmt.Sprintf("%q only in the second", b[j])
	}
	return "none"
}

// Check refuses a splits file made for another dataset: another name, or
// another image set (naming the first image the dataset lacks, or the first
// it has that the file lacks). It also checks that no prompt group of ds
// straddles train, validation and test, and that a file claiming rng
// official holds exactly the official draws for its seed.
func (f *File) Check(ds *dataset.Dataset) error {
	where := f.Path
	if where == "" {
		where = "(unsaved)"
	}
	if f.Dataset != ds.Name {
		return fmt.Errorf("splits file %s was made for dataset %s, not %s", where, f.Dataset, ds.Name)
	}
	names := imageNames(ds)
	if f.Images != len(names) || f.ImagesSHA256 != ImagesDigest(names) {
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
		}
		listed := slices.Concat(f.Splits[0].Train, f.Splits[0].Val, f.Splits[0].Test)
		sort.Strings(listed)
		inFile := map[string]bool{}
		for _, n := range listed {
			inFile[n] = true
			if !have[n] {
				return fmt.Errorf("splits file %s does not match dataset %s (%s): image %q is in the splits but not in the dataset (%d images in the splits, %d in the dataset)",
					where, ds.Name, ds.LabelFile, n, f.Images, len(names))
			}
		}
		sort.Strings(names)
		for _, n := range names {
			if !inFile[n] {
				return fmt.Errorf("splits file %s does not match dataset %s (%s): image %q is in the dataset but not in the splits (%d images in the splits, %d in the dataset)",
					where, ds.Name, ds.LabelFile, n, f.Images, len(names))
			}
		}
		return fmt.Errorf("splits file %s does not match dataset %s (%s): image list digest differs", where, ds.Name, ds.LabelFile)
	}
	group := map[string]string{}
	for _, it := range ds.Items {
		group[it.Image] = it.Group
	}
	for _, s := range f.Splits {
		side := map[string]string{}
		for _, part := range []struct {
			name   string
			images []string
		}{{"train", s.Train}, {"val", s.Val}, {"test", s.Test}} {
			for _, img := range part.images {
				g := group[img]
				if prev, ok := side[g]; ok && prev != part.name {
					return fmt.Errorf("splits file %s split %d: prompt group %q is in both %s and %s (image %q)", where, s.Index, g, prev, part.name, img)
				}
				side[g] = part.name
			}
		}
	}
	return f.checkOfficial(ds, where)
}

// Sizes are the image and group counts of one split.
type Sizes struct {
	Index                              int
	Train, Val, Test                   int
	TrainGroups, ValGroups, TestGroups int
}

// Summary counts images and groups per split side.
func (f *File) Summary(ds *dataset.Dataset) []Sizes {
	group := map[string]string{}
	for _, it := range ds.Items {
		group[it.Image] = it.Group
	}
	distinct := func(images []string) int {
		m := map[string]bool{}
		for _, img := range images {
			m[group[img]] = true
		}
		return len(m)
	}
	out := make([]Sizes, len(f.Splits))
	for i, s := range f.Splits {
		out[i] = Sizes{Index: s.Index, Train: len(s.Train), Val: len(s.Val), Test: len(s.Test),
			TrainGroups: distinct(s.Train), ValGroups: distinct(s.Val), TestGroups: distinct(s.Test)}
	}
	return out
}
