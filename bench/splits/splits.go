// Package splits draws, writes and reads the train/test splits of the IP-IQA
// protocol, so that Python training and the Go harness score the same
// images.
//
// N splits are drawn one after another from one random stream seeded by the
// user's seed (math/rand/v2's PCG with the seed as its first word and
// pcgStream as its second). Split ids therefore do not equal those numpy
// would draw for the same seed in the official code; the protocol (what is
// permuted, the fractions, the grouping) is the same.
//
//   - AGIQA-3k and the built-in sample: the distinct prompt groups (in
//     natural order) are shuffled; the first 80% (240 of AGIQA-3k's 300) are
//     train, the rest test.
//   - AGIQA-1k and any other dataset: each group (AGIQA-1k: object and
//     action in deepai's index space) goes to train with probability 0.8, in
//     natural group order.
//
// A draw that leaves train or test without images, or (holdout) train with
// fewer than two groups, so nothing to carve validation from, is drawn again
// (this can only happen on tiny datasets; AGIQA-1k's 180 groups make it
// vanishingly rare).
//
// Protocol "paper" has train and test only: IP-IQA's official code picks the
// best epoch on the test split itself. Protocol "holdout" then carves a
// validation set out of each split's train groups: the train groups are
// shuffled and the first 10% (rounded, at least one when train has two or
// more groups) become validation, for epoch selection without looking at
// test.
//
// The JSON file (written by File.Write, one image list per line):
//
//	{"dataset": "agiqa-3k", "protocol": "paper", "seed": 42, "n": 10,
//	 "images": 2982, "images_sha256": "<hex>",
//	 "splits": [{"index": 0, "train": [...], "val": [], "test": [...]}, ...]}
//
// images_sha256 is the sha256 of the sorted image names, each followed by a
// newline; with images it ties the file to one image set (File.Check).
// Image lists are sorted by name.
package splits

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"sort"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
)

// Protocols.
const (
	Paper   = "paper"
	Holdout = "holdout"
)

const (
	// TrainFraction is the share of groups that go to train.
	TrainFraction = 0.8
	// ValFraction is the share of train groups the holdout protocol moves to validation.
	ValFraction = 0.1
	// pcgStream is the PCG's second seed word, fixed so a seed means one stream.
	pcgStream = 0x6167697161 // "agiqa"
	// maxRedraws bounds the redraws of degenerate splits.
	maxRedraws = 1000
)

// Split is one train/val/test partition of the images (sorted names).
type Split struct {
	Index int      `json:"index"`
	Train []string `json:"train"`
	Val   []string `json:"val"`
	Test  []string `json:"test"`
}

// File is a splits file.
type File struct {
	Dataset  string `json:"dataset"`
	Protocol string `json:"protocol"`
	Seed     uint64 `json:"seed"`
	N        int    `json:"n"`
	// Images is the number of images in the dataset the splits were made for.
	Images int `json:"images"`
	// ImagesSHA256 is the hex sha256 of the dataset's sorted image names,
	// each followed by "\n": it ties the file to one image set.
	ImagesSHA256 string  `json:"images_sha256"`
	Splits       []Split `json:"splits"`

	// Path is where the file was read from or written to, for messages.
	Path string `json:"-"`
}

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

func imageNames(ds *dataset.Dataset) []string {
	names := make([]string, len(ds.Items))
	for i, it := range ds.Items {
		names[i] = it.Image
	}
	return names
}

// usesPermutation reports whether a dataset's splits permute its groups
// (fixed train size) rather than flip a coin per group.
func usesPermutation(name string) bool { return name == dataset.AGIQA3k || name == dataset.Sample }

// Make draws n splits of ds under protocol from seed.
func Make(ds *dataset.Dataset, protocol string, n int, seed uint64) (*File, error) {
	if protocol != Paper && protocol != Holdout {
		return nil, fmt.Errorf("unknown split protocol %q (want %s or %s)", protocol, Paper, Holdout)
	}
	if n < 1 {
		return nil, fmt.Errorf("number of splits %d: want at least 1", n)
	}
	groups := ds.Groups()
	if len(groups) < 2 {
		return nil, fmt.Errorf("dataset %s (%s) has %d prompt group(s); a split needs at least 2", ds.Name, ds.LabelFile, len(groups))
	}
	if usesPermutation(ds.Name) {
		if nTrain := int(math.Round(TrainFraction * float64(len(groups)))); nTrain >= len(groups) {
			return nil, fmt.Errorf("dataset %s (%s) has %d prompt groups; its %.0f/%.0f permutation split needs at least 3",
				ds.Name, ds.LabelFile, len(groups), 100*TrainFraction, 100*(1-TrainFraction))
		}
	}
	if protocol == Holdout && len(groups) < 3 {
		return nil, fmt.Errorf("dataset %s (%s) has %d prompt groups; the holdout protocol needs at least 3", ds.Name, ds.LabelFile, len(groups))
	}
	byGroup := map[string][]string{}
	for _, it := range ds.Items {
		byGroup[it.Group] = append(byGroup[it.Group], it.Image)
	}
	names := imageNames(ds)
	if len(names) != countUnique(names) {
		return nil, fmt.Errorf("dataset %s (%s) lists an image twice", ds.Name, ds.LabelFile)
	}
	rng := rand.New(rand.NewPCG(seed, pcgStream))
	f := &File{Dataset: ds.Name, Protocol: protocol, Seed: seed, N: n, Images: len(names), ImagesSHA256: ImagesDigest(names)}
	for k := 0; k < n; k++ {
		minTrain := 1
		if protocol == Holdout {
			minTrain = 2 // one to keep, one for validation
		}
		train, test, err := drawGroups(rng, groups, usesPermutation(ds.Name), minTrain)
		if err != nil {
			return nil, fmt.Errorf("dataset %s split %d: %w", ds.Name, k, err)
		}
		var val []string
		if protocol == Holdout {
			train, val = carveVal(rng, train)
		}
		f.Splits = append(f.Splits, Split{
			Index: k,
			Train: collect(byGroup, train),
			Val:   collect(byGroup, val),
			Test:  collect(byGroup, test),
		})
	}
	return f, nil
}

func countUnique(s []string) int {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return len(m)
}

// drawGroups splits groups (natural order) into train (at least minTrain
// groups) and test (at least one).
func drawGroups(rng *rand.Rand, groups []string, permute bool, minTrain int) (train, test []string, err error) {
	for try := 0; try < maxRedraws; try++ {
		train, test = train[:0], test[:0]
		if permute {
			perm := slices.Clone(groups)
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			nTrain := int(math.Round(TrainFraction * float64(len(perm))))
			train, test = perm[:nTrain], perm[nTrain:]
		} else {
			for _, g := range groups {
				if rng.Float64() < TrainFraction {
					train = append(train, g)
				} else {
					test = append(test, g)
				}
			}
		}
		if len(train) >= minTrain && len(test) > 0 {
			return train, test, nil
		}
	}
	return nil, nil, fmt.Errorf("%d draws left test empty or train with fewer than %d groups", maxRedraws, minTrain)
}

// carveVal moves ValFraction of the train groups (at least one when there
// are two or more) to validation.
func carveVal(rng *rand.Rand, train []string) (rest, val []string) {
	perm := slices.Clone(train)
	rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	nVal := int(math.Round(ValFraction * float64(len(perm))))
	if nVal == 0 && len(perm) >= 2 {
		nVal = 1
	}
	return perm[nVal:], perm[:nVal]
}

// collect returns the sorted images of the given groups (never nil, so the
// JSON has [] rather than null).
func collect(byGroup map[string][]string, groups []string) []string {
	out := []string{}
	for _, g := range groups {
		out = append(out, byGroup[g]...)
	}
	sort.Strings(out)
	return out
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
	}{{"dataset", f.Dataset}, {"protocol", f.Protocol}, {"seed", f.Seed}, {"n", f.N}, {"images", f.Images}, {"images_sha256", f.ImagesSHA256}} {
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

// Read reads and validates a splits file: every split must put each of the
// file's images on exactly one side, and the counts and digest must agree.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
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
// straddles train, validation and test.
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
	return nil
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
