package splits

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/internal/pyrand"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// officialFixture is testdata/official.json: the first splits the official
// IP-IQA scripts draw, computed by testdata/gen_official.py with numpy and
// CPython from the real label files.
type officialFixture struct {
	Cases []struct {
		Dataset string `json:"dataset"`
		Seed    uint64 `json:"seed"`
		Splits  []struct {
			TrainSHA256 string   `json:"train_sha256"`
			TestSHA256  string   `json:"test_sha256"`
			TestGroups  []string `json:"test_groups"`
		} `json:"splits"`
	} `json:"cases"`
}

func realDatasets(t *testing.T) map[string]*dataset.Dataset {
	t.Helper()
	data := sharedData(t)
	out := map[string]*dataset.Dataset{}
	for name, file := range map[string]string{
		dataset.AGIQA3k: filepath.Join(data, "agiqa-3k", "data.csv"),
		dataset.AGIQA1k: filepath.Join(data, "agiqa-1k", "AIGC_MOS_Zscore.xlsx"),
	} {
		ds, err := dataset.Load(name, file, "")
		if err != nil {
			t.Fatal(err)
		}
		out[name] = ds
	}
	return out
}

func distinctGroups(ds *dataset.Dataset, images []string) []string {
	group := groupOf(ds)
	var gs []string
	for _, img := range images {
		if g := group[img]; !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	sort.Strings(gs)
	return gs
}

func TestOfficialMatchesPython(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "official.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx officialFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	dss := realDatasets(t)
	checked := 0
	for _, c := range fx.Cases {
		ds := dss[c.Dataset]
		f, err := MakeWith(ds, Options{Protocol: Paper, N: len(c.Splits), Seed: c.Seed, RNG: Official})
		if err != nil {
			t.Fatalf("%s seed %d: %v", c.Dataset, c.Seed, err)
		}
		if err := f.Check(ds); err != nil {
			t.Errorf("%s seed %d: %v", c.Dataset, c.Seed, err)
		}
		for k, want := range c.Splits {
			s := f.Splits[k]
			wantGroups := slices.Clone(want.TestGroups)
			sort.Strings(wantGroups)
			if got := distinctGroups(ds, s.Test); !slices.Equal(got, wantGroups) {
				t.Errorf("%s seed %d split %d: test groups %v, official %v", c.Dataset, c.Seed, k, got, wantGroups)
			}
			if ImagesDigest(s.Train) != want.TrainSHA256 || ImagesDigest(s.Test) != want.TestSHA256 {
				t.Errorf("%s seed %d split %d: train or test images differ from the official draw", c.Dataset, c.Seed, k)
			}
			checked++
		}
	}
	if checked < 2*10 {
		t.Fatalf("only %d splits checked", checked)
	}
}

// The fixture must be what the official code's draws give now: rerun
// gen_official.py when $AGIQA_PYTHON names an interpreter (CI sets it).
func TestOfficialFixtureMatchesPython(t *testing.T) {
	py := os.Getenv("AGIQA_PYTHON")
	if py == "" {
		testenv.SkipOrFail(t, testenv.RequirePython, "$AGIQA_PYTHON is not set, so testdata/gen_official.py is not rerun")
	}
	data := sharedData(t)
	out, err := exec.Command(py, filepath.Join("testdata", "gen_official.py"), data).Output()
	if err != nil {
		testenv.SkipOrFail(t, testenv.RequirePython, "%s testdata/gen_official.py (needs numpy and openpyxl): %v", py, err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "official.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("%s testdata/gen_official.py no longer writes testdata/official.json: regenerate and review", py)
	}
}

// On the 300 prompt groups the official AGIQA-3k draw is the numpy
// permutation itself: test = the last 60 indices of each successive
// permutation(300).
func TestOfficial3kIsThePermutation(t *testing.T) {
	ds := synthetic(dataset.AGIQA3k, 300, 2)
	f, err := MakeWith(ds, Options{Protocol: Paper, N: 5, Seed: 42, RNG: Official})
	if err != nil {
		t.Fatal(err)
	}
	rs := pyrand.NewRandomState(42)
	for k, s := range f.Splits {
		var want []string
		for _, p := range rs.Permutation(300)[240:] {
			want = append(want, fmt.Sprint(p))
		}
		sort.Strings(want)
		if got := distinctGroups(ds, s.Test); !slices.Equal(got, want) {
			t.Fatalf("split %d: test groups %v, want %v", k, got, want)
		}
	}
	if f.RNG != Official {
		t.Errorf("RNG %q", f.RNG)
	}
}

// synthetic1k builds AGIQA-1k-like items (groups "o,a"), listed in the given group order.
func synthetic1k(groups []string) *dataset.Dataset {
	ds := &dataset.Dataset{Name: dataset.AGIQA1k, LabelFile: "AIGC_MOS_Zscore.xlsx"}
	for _, g := range groups {
		for i := 0; i < 2; i++ {
			ds.Items = append(ds.Items, dataset.Item{Image: fmt.Sprintf("img_%s_%d.jpg", strings.ReplaceAll(g, ",", "_"), i),
				MOS: 1, MOSAlign: math.NaN(), Group: g})
		}
	}
	return ds
}

// AGIQA-1k draws follow the file's row order: the first random() belongs to
// the group of the first row, whatever its natural rank.
func TestOfficial1kFollowsRowOrder(t *testing.T) {
	order := []string{"7,7", "0,3", "11,14", "2,1", "5,0", "9,9", "1,1", "3,12"}
	ds := synthetic1k(order)
	for seed := uint64(0); seed < 30; seed++ {
		f, err := MakeWith(ds, Options{Protocol: Paper, N: 3, Seed: seed, RNG: Official})
		r := pyrand.NewRandom(seed)
		var want [][]string // test groups per split, or nil after a degenerate draw
		for k := 0; k < 3; k++ {
			var test []string
			for _, g := range order {
				if r.Float64() >= 0.8 {
					test = append(test, g)
				}
			}
			sort.Strings(test)
			if len(test) == 0 || len(test) == len(order) {
				want = nil
				break
			}
			want = append(want, test)
		}
		if want == nil {
			if err == nil || !strings.Contains(err.Error(), "does not redraw") {
				t.Errorf("seed %d: degenerate official draw gave %v", seed, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for k, s := range f.Splits {
			if got := distinctGroups(ds, s.Test); !slices.Equal(got, want[k]) {
				t.Errorf("seed %d split %d: test groups %v, want %v", seed, k, got, want[k])
			}
		}
	}
}

// Holdout with the official draws keeps the official test and carves
// validation out of the official train only.
func TestOfficialHoldout(t *testing.T) {
	ds := synthetic(dataset.AGIQA3k, 300, 2)
	paper, err := MakeWith(ds, Options{Protocol: Paper, N: 4, Seed: 7, RNG: Official})
	if err != nil {
		t.Fatal(err)
	}
	hold, err := MakeWith(ds, Options{Protocol: Holdout, N: 4, Seed: 7, RNG: Official})
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, ds, hold)
	for k, s := range hold.Splits {
		p := paper.Splits[k]
		trainVal := slices.Concat(s.Train, s.Val)
		sort.Strings(trainVal)
		if !slices.Equal(s.Test, p.Test) || !slices.Equal(trainVal, p.Train) || len(distinctGroups(ds, s.Val)) != 24 {
			t.Errorf("split %d: holdout does not keep the official sides (val groups %d)", k, len(distinctGroups(ds, s.Val)))
		}
	}
	if err := hold.Check(ds); err != nil {
		t.Error(err)
	}
}

func TestOfficialRefusals(t *testing.T) {
	csv1k := synthetic1k([]string{"0,0", "0,1", "0,2"})
	csv1k.LabelFile = "AIGC_all.csv"
	bad3k := synthetic(dataset.AGIQA3k, 301, 1)
	for _, c := range []struct {
		ds   *dataset.Dataset
		seed uint64
		want string
	}{
		{synthetic(dataset.AGIQA3k, 300, 1), 1 << 32, "seed 4294967296: rng official seeds numpy's np.random.seed, which takes 0..4294967295"},
		{synthetic(dataset.CSV, 10, 1), 1, "split only agiqa-1k and agiqa-3k; use rng pcg"},
		{synthetic(dataset.Sample, 10, 1), 1, "split only agiqa-1k and agiqa-3k"},
		{csv1k, 1, "row order of AIGC_MOS_Zscore.xlsx"},
		{bad3k, 1, `prompt group "300": rng official permutes the prompt indices 0..299`},
	} {
		_, err := MakeWith(c.ds, Options{Protocol: Paper, N: 1, Seed: c.seed, RNG: Official})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.ds.Name, err, c.want)
		}
	}
	if _, err := MakeWith(csv1k, Options{Protocol: Paper, N: 1, RNG: "numpy"}); err == nil || !strings.Contains(err.Error(), `unknown split generator "numpy"`) {
		t.Errorf("unknown rng: %v", err)
	}
}

// Check refuses a file that says rng official but holds other splits.
func TestCheckOfficialRedraws(t *testing.T) {
	ds := synthetic(dataset.AGIQA3k, 300, 1)
	f, err := MakeWith(ds, Options{Protocol: Paper, N: 2, Seed: 42, RNG: Official})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Marshal()
	if !bytes.Contains(b, []byte(`"rng": "official"`)) {
		t.Fatalf("file does not record the generator:\n%s", b[:200])
	}
	other, _ := Parse(b)
	other.Seed = 43
	if err := other.Check(ds); err == nil || !strings.Contains(err.Error(), "split 0: train is not the official draw for seed 43") {
		t.Errorf("another seed: %v", err)
	}
	pcg, _ := Parse(b)
	pcg.RNG = PCG // the same ids claimed as pcg are not redrawn
	if err := pcg.Check(ds); err != nil {
		t.Errorf("pcg: %v", err)
	}
	old := bytes.Replace(b, []byte("  \"rng\": \"official\",\n"), nil, 1)
	g, err := Parse(old)
	if err != nil || g.RNG != PCG {
		t.Errorf("a file without rng: %v, rng %q (want pcg)", err, g.RNG)
	}
}
