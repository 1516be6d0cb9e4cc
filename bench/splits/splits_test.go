package splits

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agiqa-bench/agiqa/bench/dataset"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// synthetic builds a dataset with groups prompt groups of perGroup images.
func synthetic(name string, groups, perGroup int) *dataset.Dataset {
	ds := &dataset.Dataset{Name: name, LabelFile: "synthetic.csv"}
	for g := 0; g < groups; g++ {
		for i := 0; i < perGroup; i++ {
			ds.Items = append(ds.Items, dataset.Item{
				Image: fmt.Sprintf("gen%d_%03d.jpg", i, g), Prompt: fmt.Sprint("prompt ", g),
				MOS: float64(i), MOSAlign: math.NaN(), Group: fmt.Sprint(g),
			})
		}
	}
	return ds
}

func groupOf(ds *dataset.Dataset) map[string]string {
	m := map[string]string{}
	for _, it := range ds.Items {
		m[it.Image] = it.Group
	}
	return m
}

// checkPartition verifies every image is on exactly one side and no group
// is on two sides, independently of File.Check.
func checkPartition(t *testing.T, ds *dataset.Dataset, f *File) {
	t.Helper()
	group := groupOf(ds)
	for _, s := range f.Splits {
		seen := map[string]string{}
		groupSide := map[string]string{}
		for side, imgs := range map[string][]string{"train": s.Train, "val": s.Val, "test": s.Test} {
			for _, img := range imgs {
				if prev, dup := seen[img]; dup {
					t.Fatalf("split %d: %s in %s and %s", s.Index, img, prev, side)
				}
				seen[img] = side
				g, ok := group[img]
				if !ok {
					t.Fatalf("split %d: unknown image %s", s.Index, img)
				}
				if prev, ok := groupSide[g]; ok && prev != side {
					t.Fatalf("split %d: group %s in %s and %s", s.Index, g, prev, side)
				}
				groupSide[g] = side
			}
		}
		if len(seen) != len(ds.Items) {
			t.Fatalf("split %d covers %d of %d images", s.Index, len(seen), len(ds.Items))
		}
	}
}

func TestMakePermutation3k(t *testing.T) {
	ds := synthetic(dataset.AGIQA3k, 300, 3)
	f, err := Make(ds, Paper, 10, 42)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, ds, f)
	if err := f.Check(ds); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Summary(ds) {
		if s.TrainGroups != 240 || s.TestGroups != 60 || s.ValGroups != 0 || s.Train != 720 || s.Test != 180 {
			t.Errorf("split %d sizes %+v, want 240/60 groups", s.Index, s)
		}
	}
	if reflect.DeepEqual(f.Splits[0].Test, f.Splits[1].Test) {
		t.Error("splits 0 and 1 are identical: later splits must continue the stream")
	}
	if f.Images != 900 || f.ImagesSHA256 != ImagesDigest(imageNames(ds)) || f.N != 10 || f.Seed != 42 {
		t.Errorf("header %+v", f)
	}
}

func TestMakeBernoulli1k(t *testing.T) {
	ds := synthetic(dataset.AGIQA1k, 180, 6)
	f, err := Make(ds, Paper, 10, 7)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, ds, f)
	sizes := map[int]bool{}
	total := 0
	for _, s := range f.Summary(ds) {
		sizes[s.TrainGroups] = true
		total += s.TrainGroups
	}
	// Coin flips: train sizes vary between splits; the mean share is 0.8
	// (sd of the 10-split mean is about 0.01).
	if len(sizes) < 2 {
		t.Errorf("all splits have the same train size %v: not per-group coin flips", sizes)
	}
	if share := float64(total) / 1800; math.Abs(share-0.8) > 0.05 {
		t.Errorf("mean train share %.3f, want about 0.8", share)
	}
}

func TestHoldoutHasVal(t *testing.T) {
	for _, name := range []string{dataset.AGIQA3k, dataset.CSV} {
		ds := synthetic(name, 300, 2)
		f, err := Make(ds, Holdout, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkPartition(t, ds, f)
		if err := f.Check(ds); err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Summary(ds) {
			if s.Val == 0 {
				t.Fatalf("%s split %d has no validation images", name, s.Index)
			}
			if name == dataset.AGIQA3k && (s.ValGroups != 24 || s.TrainGroups != 216 || s.TestGroups != 60) {
				t.Errorf("split %d: %+v, want 216/24/60 groups", s.Index, s)
			}
		}
	}
	// Small datasets still get one validation group.
	f, err := Make(synthetic(dataset.Sample, 5, 2), Holdout, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Splits[0].Val) != 2 || len(f.Splits[0].Test) != 2 {
		t.Errorf("5 groups: %+v", f.Splits[0])
	}
}

func TestSeedDeterminism(t *testing.T) {
	ds := synthetic(dataset.AGIQA1k, 50, 4)
	dir := t.TempDir()
	var files [3][]byte
	for i, seed := range []uint64{42, 42, 43} {
		f, err := Make(ds, Paper, 4, seed)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprint(i, ".json"))
		if err := f.Write(p); err != nil {
			t.Fatal(err)
		}
		if files[i], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("same seed gave different files")
	}
	if bytes.Equal(files[0], files[2]) {
		t.Error("seeds 42 and 43 gave the same file")
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	ds := synthetic(dataset.AGIQA3k, 20, 2)
	f, err := Make(ds, Holdout, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "splits.json")
	if err := f.Write(p); err != nil {
		t.Fatal(err)
	}
	g, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("read back %+v\nwrote %+v", g, f)
	}
	if err := g.Check(ds); err != nil {
		t.Error(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), "{\n  \"dataset\": \"agiqa-3k\",\n  \"protocol\": \"holdout\",\n  \"rng\": \"pcg\",\n  \"seed\": 5,\n  \"n\": 2,\n  \"images\": 40,\n  \"images_sha256\": \"") {
		t.Errorf("layout:\n%s", b[:200])
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644", st.Mode(), err)
	}
	// A write that cannot land (the path is a folder) leaves no temporary file.
	dir := filepath.Dir(p)
	if err := os.Mkdir(filepath.Join(dir, "taken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(filepath.Join(dir, "taken")); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Errorf("write over a folder: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestReadRejectsBrokenFiles(t *testing.T) {
	ds := synthetic(dataset.AGIQA3k, 10, 2)
	good, err := Make(ds, Paper, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(f *File)) []byte {
		b, _ := good.Marshal()
		f, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		fn(f)
		out, _ := f.Marshal()
		return out
	}
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"twice": {edit(func(f *File) { f.Splits[1].Test = append(f.Splits[1].Test, f.Splits[1].Train[0]) }), "appears twice"},
		"n":     {edit(func(f *File) { f.N = 3 }), `"n" is 3 but the file has 2 splits`},
		"drop": {edit(func(f *File) { f.Splits[1].Train = f.Splits[1].Train[1:] }),
			"split 1 covers other images than split 0 (first difference: \"gen0_"},
		"count":    {edit(func(f *File) { f.Images = 7 }), `"images" is 7 but each split holds 20`},
		"digest":   {edit(func(f *File) { f.ImagesSHA256 = "00" }), `"images_sha256" 00 does not match`},
		"rng":      {edit(func(f *File) { f.RNG = "numpy" }), `rng "numpy": want pcg or official`},
		"val":      {edit(func(f *File) { f.Splits[0].Val = []string{"x.jpg"} }), "protocol paper has no validation images"},
		"protocol": {edit(func(f *File) { f.Protocol = "best" }), `protocol "best"`},
		"index":    {edit(func(f *File) { f.Splits[1].Index = 5 }), "split 1 has index 5"},
		"json":     {[]byte(`{"dataset": "x", `), "unexpected EOF"},
		// Decoding errors give line and column, in JSON's words.
		"syntax": {[]byte("{\"dataset\": \"x\",\n \"seed\": 4,,\n}"), "line 2, column 12: invalid JSON: invalid character ','"},
		"type":   {[]byte("{\"dataset\": \"x\",\n \"seed\": \"42\"}"), `line 2, column 14: "seed" holds a JSON string, want an integer`},
		"ids":    {[]byte(`{"splits": [{"test": [7]}]}`), `"splits.test" holds a JSON number, want a string`},
		"array":  {[]byte(`[1, 2]`), "the file holds a JSON array, want an object"},
		"empty":  {[]byte(" \n"), "empty file"},
	}
	dir := t.TempDir()
	for name, c := range cases {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, c.b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Read(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want %q naming the file", name, err, c.want)
		}
	}
}

func TestCheckRefusesOtherDataset(t *testing.T) {
	ds := synthetic(dataset.AGIQA3k, 10, 2)
	f, err := Make(ds, Paper, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.Path = "s.json"
	other := synthetic(dataset.AGIQA1k, 10, 2)
	if err := f.Check(other); err == nil || !strings.Contains(err.Error(), "s.json was made for dataset agiqa-3k, not agiqa-1k") {
		t.Errorf("name mismatch: %v", err)
	}
	fewer := synthetic(dataset.AGIQA3k, 10, 2)
	fewer.Items = fewer.Items[1:] // drops gen0_000.jpg
	if err := f.Check(fewer); err == nil || !strings.Contains(err.Error(), `s.json does not match dataset agiqa-3k (synthetic.csv): image "gen0_000.jpg" is in the splits but not in the dataset`) {
		t.Errorf("missing image: %v", err)
	}
	more := synthetic(dataset.AGIQA3k, 10, 2)
	more.Items = append(more.Items, dataset.Item{Image: "zz.jpg", Group: "0"})
	if err := f.Check(more); err == nil || !strings.Contains(err.Error(), `image "zz.jpg" is in the dataset but not in the splits`) {
		t.Errorf("extra image: %v", err)
	}
	// Give a test image the group of a train image: the group now straddles.
	regrouped := synthetic(dataset.AGIQA3k, 10, 2)
	trainImg, testImg := f.Splits[0].Train[0], f.Splits[0].Test[0]
	for i := range regrouped.Items {
		if regrouped.Items[i].Image == trainImg || regrouped.Items[i].Image == testImg {
			regrouped.Items[i].Group = "new"
		}
	}
	if err := f.Check(regrouped); err == nil || !strings.Contains(err.Error(), `split 0: prompt group "new" is in both train and test`) {
		t.Errorf("straddling group: %v", err)
	}
}

func TestMakeErrors(t *testing.T) {
	ds := synthetic(dataset.CSV, 10, 1)
	if _, err := Make(ds, "best-epoch", 1, 1); err == nil || !strings.Contains(err.Error(), `unknown split protocol "best-epoch"`) {
		t.Errorf("protocol: %v", err)
	}
	if _, err := Make(ds, Paper, 0, 1); err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Errorf("n: %v", err)
	}
	if _, err := Make(synthetic(dataset.CSV, 1, 4), Paper, 1, 1); err == nil || !strings.Contains(err.Error(), "1 prompt group(s)") {
		t.Errorf("one group: %v", err)
	}
	if _, err := Make(synthetic(dataset.CSV, 2, 4), Holdout, 1, 1); err == nil || !strings.Contains(err.Error(), "holdout protocol needs at least 3") {
		t.Errorf("holdout with two groups: %v", err)
	}
	// 80% of 2 groups rounds to 2: a fixed-size permutation can never leave a test group.
	if _, err := Make(synthetic(dataset.AGIQA3k, 2, 4), Paper, 1, 1); err == nil || !strings.Contains(err.Error(), "has 2 prompt groups; its 80/20 permutation split needs at least 3") {
		t.Errorf("permutation with two groups: %v", err)
	}
	if _, err := Make(synthetic(dataset.AGIQA3k, 3, 4), Paper, 1, 1); err != nil {
		t.Errorf("permutation with three groups: %v", err)
	}
	dup := synthetic(dataset.CSV, 3, 1)
	dup.Items = append(dup.Items, dup.Items[0])
	if _, err := Make(dup, Paper, 1, 1); err == nil || !strings.Contains(err.Error(), "lists an image twice") {
		t.Errorf("duplicate: %v", err)
	}
}

// Two groups with coin flips are degenerate a quarter of the time each:
// redraws must still give non-empty sides.
func TestTinyDatasetRedraws(t *testing.T) {
	ds := synthetic(dataset.CSV, 2, 1)
	f, err := Make(ds, Paper, 50, 9)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, ds, f)
	for _, s := range f.Splits {
		if len(s.Train) != 1 || len(s.Test) != 1 {
			t.Fatalf("split %d: %+v", s.Index, s)
		}
	}
}

// sharedData returns ../shared/data beside the repository root, or skips the test when it is absent
// (fails it under AGIQA_REQUIRE_SHARED=1).
func sharedData(t *testing.T) string {
	t.Helper()
	return testenv.Shared(t, "data")
}

func TestRealDatasets(t *testing.T) {
	data := sharedData(t)
	ds3, err := dataset.Load(dataset.AGIQA3k, filepath.Join(data, "agiqa-3k", "data.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Make(ds3, Paper, 10, 42)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, ds3, f)
	for _, s := range f.Summary(ds3) {
		if s.TrainGroups != 240 || s.TestGroups != 60 || s.Train+s.Test != 2982 {
			t.Errorf("3k split %d: %+v", s.Index, s)
		}
	}
	ds1, err := dataset.Load(dataset.AGIQA1k, filepath.Join(data, "agiqa-1k", "AIGC_MOS_Zscore.xlsx"), "")
	if err != nil {
		t.Fatal(err)
	}
	f1, err := Make(ds1, Holdout, 10, 42)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, ds1, f1)
	if err := f1.Check(ds1); err != nil {
		t.Error(err)
	}
	if err := f1.Check(ds3); err == nil {
		t.Error("a 1k splits file passed the check against AGIQA-3k")
	}
}

// Reference: printf 'a.jpg\nb.jpg\n' | sha256sum
func TestImagesDigest(t *testing.T) {
	const want = "ae991490ddec641f32c2a9283efe577e379738f1d9e0f6494f4a351af5293626"
	if got := ImagesDigest([]string{"b.jpg", "a.jpg"}); got != want {
		t.Errorf("digest %s, want %s", got, want)
	}
}

// Under the holdout protocol a coin-flip draw (AGIQA-1k, generic CSV) that
// puts a single group in train leaves nothing to carve validation from: Make
// must draw again rather than write a file that Read then refuses ("protocol
// holdout needs validation images").
func TestHoldoutCoinFlipNeverLeavesValEmpty(t *testing.T) {
	ds := synthetic(dataset.CSV, 3, 2)
	for seed := uint64(0); seed < 20; seed++ {
		f, err := Make(ds, Holdout, 10, seed)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		b, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(b); err != nil {
			t.Fatalf("seed %d: Make wrote a file Parse refuses: %v", seed, err)
		}
		checkPartition(t, ds, f)
	}
}
