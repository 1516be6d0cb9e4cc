// Package splits draws, writes and reads the train/test splits of the IP-IQA
// protocol, so that Python training and the Go harness score the same
// images.
//
// N splits are drawn one after another from one seed, with one of two
// generators (Options.RNG, recorded in the file as "rng"):
//
//   - PCG (the default): math/rand/v2's PCG with the seed as its first word
//     and pcgStream as its second. The protocol (what is permuted, the
//     fractions, the grouping) is IP-IQA's, the ids are not the official ones.
//     AGIQA-3k and the built-in sample: the distinct prompt groups (in
//     natural order) are shuffled; the first 80% (240 of AGIQA-3k's 300) are
//     train, the rest test. AGIQA-1k and any other dataset: each group
//     (AGIQA-1k: object and action in deepai's index space) goes to train with
//     probability 0.8, in natural group order. A draw that leaves train or
//     test without images, or (holdout) train with fewer than two groups, is
//     drawn again (only tiny datasets come close).
//   - Official: the ids IP-IQA's official scripts draw after
//     seed_everything(seed), split after split from the same generators
//     (package internal/pyrand reproduces them): AGIQA-3k takes numpy's
//     np.random.permutation(300) and trains on the prompt indices among its
//     first 240; AGIQA-1k walks the label rows in file order and draws one
//     CPython random.random() < 0.8 (train) per (object, action) group not
//     seen before, so it needs AIGC_MOS_Zscore.xlsx, the file (and row order)
//     the official code reads. Other datasets are refused, and so is a seed
//     above 2**32-1 (np.random.seed rejects it). The official code never
//     redraws, so neither does this: a draw that leaves a side empty is an
//     error, not a silent departure from the official ids.
//
// Protocol "paper" has train and test only: IP-IQA's official code picks the
// best epoch on the test split itself. Protocol "holdout" then carves a
// validation set out of each split's train groups: the train groups are
// shuffled and the first 10% (rounded, at least one when train has two or
// more groups) become validation, for epoch selection without looking at
// test. With the PCG generator the shuffle continues its stream; with the
// official one it comes from a separate PCG stream (valStream), so test
// stays the official test and train plus validation the official train.
//
// The JSON file (written by File.Write, one image list per line):
//
//	{"dataset": "agiqa-3k", "protocol": "paper", "rng": "pcg", "seed": 42,
//	 "n": 10, "images": 2982, "images_sha256": "<hex>",
//	 "splits": [{"index": 0, "train": [...], "val": [], "test": [...]}, ...]}
//
// A file without "rng" (written before it existed) reads as pcg.
// images_sha256 is the sha256 of the sorted image names, each followed by a
// newline; with images it ties the file to one image set (File.Check).
// Image lists are sorted by name.
package splits

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/agiqa-bench/agiqa/bench/dataset"
)

// Protocols.
const (
	Paper   = "paper"
	Holdout = "holdout"
)

// Generators (Options.RNG, File.RNG).
const (
	PCG      = "pcg"
	Official = "official"
)

const (
	// TrainFraction is the share of groups that go to train.
	TrainFraction = 0.8
	// ValFraction is the share of train groups the holdout protocol moves to validation.
	ValFraction = 0.1
	// pcgStream is the PCG's second seed word, fixed so a seed means one stream.
	pcgStream = 0x6167697161 // "agiqa"
	// valStream is the second seed word of the PCG that carves validation
	// out of official draws, apart from the official generators.
	valStream = 0x616769716176616c // "agiqaval"
	// maxRedraws bounds the redraws of degenerate PCG splits.
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
	// RNG is the generator the splits were drawn with (PCG or Official).
	RNG  string `json:"rng"`
	Seed uint64 `json:"seed"`
	N    int    `json:"n"`
	// Images is the number of images in the dataset the splits were made for.
	Images int `json:"images"`
	// ImagesSHA256 is the hex sha256 of the dataset's sorted image names,
	// each followed by "\n": it ties the file to one image set.
	ImagesSHA256 string  `json:"images_sha256"`
	Splits       []Split `json:"splits"`

	// Path is where the file was read from or written to, for messages.
	Path string `json:"-"`
}

// rng is the file's generator, PCG when unset.
func (f *File) rng() string {
	if f.RNG == "" {
		return PCG
	}
	return f.RNG
}

// Options says how MakeWith draws.
type Options struct {
	Protocol string // Paper or Holdout
	N        int    // number of splits, at least 1
	Seed     uint64 // Official needs 0..2**32-1
	RNG      string // PCG (also when empty) or Official
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

// drawer returns the groups of the next split's train, validation and test.
type drawer func() (train, val, test []string, err error)

// Make draws n splits of ds under protocol from seed with the PCG generator.
func Make(ds *dataset.Dataset, protocol string, n int, seed uint64) (*File, error) {
	return MakeWith(ds, Options{Protocol: protocol, N: n, Seed: seed, RNG: PCG})
}

// MakeWith draws o.N splits of ds as o says.
func MakeWith(ds *dataset.Dataset, o Options) (*File, error) {
	if o.RNG == "" {
		o.RNG = PCG
	}
	if err := checkOptions(ds, o); err != nil {
		return nil, err
	}
	groups := ds.Groups()
	var draw drawer
	var err error
	if o.RNG == Official {
		draw, err = officialDrawer(ds, groups, o)
	} else {
		draw = pcgDrawer(ds, groups, o)
	}
	if err != nil {
		return nil, err
	}
	byGroup := map[string][]string{}
	for _, it := range ds.Items {
		byGroup[it.Group] = append(byGroup[it.Group], it.Image)
	}
	names := imageNames(ds)
	f := &File{Dataset: ds.Name, Protocol: o.Protocol, RNG: o.RNG, Seed: o.Seed, N: o.N, Images: len(names), ImagesSHA256: ImagesDigest(names)}
	for k := 0; k < o.N; k++ {
		train, val, test, err := draw()
		if err != nil {
			return nil, fmt.Errorf("dataset %s split %d: %w", ds.Name, k, err)
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

// checkOptions refuses options and datasets no draw can serve.
func checkOptions(ds *dataset.Dataset, o Options) error {
	if o.Protocol != Paper && o.Protocol != Holdout {
		return fmt.Errorf("unknown split protocol %q (want %s or %s)", o.Protocol, Paper, Holdout)
	}
	if o.RNG != PCG && o.RNG != Official {
		return fmt.Errorf("unknown split generator %q (want %s or %s)", o.RNG, PCG, Official)
	}
	if o.N < 1 {
		return fmt.Errorf("number of splits %d: want at least 1", o.N)
	}
	groups := ds.Groups()
	if len(groups) < 2 {
		return fmt.Errorf("dataset %s (%s) has %d prompt group(s); a split needs at least 2", ds.Name, ds.LabelFile, len(groups))
	}
	if usesPermutation(ds.Name) {
		if nTrain := int(math.Round(TrainFraction * float64(len(groups)))); nTrain >= len(groups) {
			return fmt.Errorf("dataset %s (%s) has %d prompt groups; its %.0f/%.0f permutation split needs at least 3",
				ds.Name, ds.LabelFile, len(groups), 100*TrainFraction, 100*(1-TrainFraction))
		}
	}
	if o.Protocol == Holdout && len(groups) < 3 {
		return fmt.Errorf("dataset %s (%s) has %d prompt groups; the holdout protocol needs at least 3", ds.Name, ds.LabelFile, len(groups))
	}
	if names := imageNames(ds); len(names) != countUnique(names) {
		return fmt.Errorf("dataset %s (%s) lists an image twice", ds.Name, ds.LabelFile)
	}
	return nil
}

func countUnique(s []string) int {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return len(m)
}

// pcgDrawer draws every split and validation set from one PCG stream.
func pcgDrawer(ds *dataset.Dataset, groups []string, o Options) drawer {
	rng := rand.New(rand.NewPCG(o.Seed, pcgStream))
	minTrain := 1
	if o.Protocol == Holdout {
		minTrain = 2 // one to keep, one for validation
	}
	return func() (train, val, test []string, err error) {
		train, test, err = drawGroups(rng, groups, usesPermutation(ds.Name), minTrain)
		if err == nil && o.Protocol == Holdout {
			train, val = carveVal(rng, train)
		}
		return train, val, test, err
	}
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
