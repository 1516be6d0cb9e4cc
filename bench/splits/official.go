package splits

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/internal/pyrand"
)

// The official AGIQA-3k split (train_agiqa3k.py): np.random.permutation(300),
// train = the prompt indices among the first int(0.8 * 300).
const (
	officialPrompts3k = 300
	officialTrain3k   = 240
	// officialTrainP1k is the literal of random.random() < 0.8 (train_agiqa1k.py).
	officialTrainP1k = 0.8
)

// MaxOfficialSeed is the largest seed np.random.seed accepts.
const MaxOfficialSeed = math.MaxUint32

// officialDrawer returns the official code's draws for ds: numpy's legacy
// generator for AGIQA-3k, CPython's random for AGIQA-1k, both seeded once
// with o.Seed (as seed_everything does) and never redrawn.
func officialDrawer(ds *dataset.Dataset, groups []string, o Options) (drawer, error) {
	if o.Seed > MaxOfficialSeed {
		return nil, fmt.Errorf("seed %d: rng %s seeds numpy's np.random.seed, which takes 0..%d", o.Seed, Official, uint64(MaxOfficialSeed))
	}
	var side func() (train, test []string)
	switch ds.Name {
	case dataset.AGIQA3k:
		index, err := promptIndices3k(groups)
		if err != nil {
			return nil, fmt.Errorf("dataset %s (%s): %w", ds.Name, ds.LabelFile, err)
		}
		rs := pyrand.NewRandomState(uint32(o.Seed))
		side = func() (train, test []string) {
			inTrain := map[int]bool{}
			for _, p := range rs.Permutation(officialPrompts3k)[:officialTrain3k] {
				inTrain[p] = true
			}
			for _, g := range groups {
				if inTrain[index[g]] {
					train = append(train, g)
				} else {
					test = append(test, g)
				}
			}
			return train, test
		}
	case dataset.AGIQA1k:
		if ext := filepath.Ext(ds.LabelFile); !strings.EqualFold(ext, ".xlsx") {
			return nil, fmt.Errorf("dataset %s (%s): rng %s draws AGIQA-1k's groups in the row order of AIGC_MOS_Zscore.xlsx, the file the official code reads; "+
				"other label files (AIGC_all.csv) list the images in another order, so their draws would not be the official ids", ds.Name, ds.LabelFile, Official)
		}
		r := pyrand.NewRandom(o.Seed)
		side = func() (train, test []string) {
			seen := map[string]bool{}
			for _, it := range ds.Items { // file order: a group draws at its first row
				if seen[it.Group] {
					continue
				}
				seen[it.Group] = true
				if r.Float64() < officialTrainP1k {
					train = append(train, it.Group)
				} else {
					test = append(test, it.Group)
				}
			}
			return sortGroups(train), sortGroups(test)
		}
	default:
		return nil, fmt.Errorf("dataset %s: rng %s reproduces the official IP-IQA scripts, which split only %s and %s; use rng %s",
			ds.Name, Official, dataset.AGIQA1k, dataset.AGIQA3k, PCG)
	}
	val := rand.New(rand.NewPCG(o.Seed, valStream))
	return func() (train, v, test []string, err error) {
		train, test = side()
		if err := degenerate(train, test, o.Protocol); err != nil {
			return nil, nil, nil, err
		}
		if o.Protocol == Holdout {
			train, v = carveVal(val, train)
		}
		return train, v, test, nil
	}, nil
}

// degenerate refuses an official draw the protocol cannot use: the official
// code does not redraw, so redrawing would silently leave its ids.
func degenerate(train, test []string, protocol string) error {
	switch {
	case len(test) == 0:
		return errors.New("the official draw puts every group in train and the official code does not redraw; use another seed or rng pcg")
	case len(train) == 0:
		return errors.New("the official draw puts every group in test and the official code does not redraw; use another seed or rng pcg")
	case protocol == Holdout && len(train) < 2:
		return errors.New("the official draw leaves one train group, nothing to carve validation from; use another seed, protocol paper or rng pcg")
	}
	return nil
}

// promptIndices3k maps AGIQA-3k groups to the prompt indices the official
// permutation ranges over (0..299).
func promptIndices3k(groups []string) (map[string]int, error) {
	index := map[string]int{}
	for _, g := range groups {
		n, err := strconv.Atoi(g)
		if err != nil || n < 0 || n >= officialPrompts3k {
			return nil, fmt.Errorf("prompt group %q: rng %s permutes the prompt indices 0..%d, as the official code does", g, Official, officialPrompts3k-1)
		}
		index[g] = n
	}
	return index, nil
}

// sortGroups puts groups in natural order, so validation carving does not
// depend on the label file's row order.
func sortGroups(gs []string) []string {
	sort.Slice(gs, func(i, j int) bool { return dataset.NaturalLess(gs[i], gs[j]) })
	return gs
}

// checkOfficial redraws an rng official file and names the first split and
// image that differ: such a file claims the official ids, so it must hold
// them.
func (f *File) checkOfficial(ds *dataset.Dataset, where string) error {
	if f.rng() != Official {
		return nil
	}
	want, err := MakeWith(ds, Options{Protocol: f.Protocol, N: f.N, Seed: f.Seed, RNG: Official})
	if err != nil {
		return fmt.Errorf("splits file %s says rng %s, but no official draw exists here: %w", where, Official, err)
	}
	for k, s := range f.Splits {
		w := want.Splits[k]
		for _, side := range []struct {
			name      string
			got, want []string
		}{{"train", s.Train, w.Train}, {"val", s.Val, w.Val}, {"test", s.Test, w.Test}} {
			got := slices.Clone(side.got)
			sort.Strings(got)
			if !slices.Equal(got, side.want) { // MakeWith's lists are sorted
				d := strings.NewReplacer("only in the first", "only in the official draw", "only in the second", "only in the file").
					Replace(firstDifference(side.want, got))
				return fmt.Errorf("splits file %s split %d: %s is not the official draw for seed %d (%s)", where, k, side.name, f.Seed, d)
			}
		}
	}
	return nil
}
