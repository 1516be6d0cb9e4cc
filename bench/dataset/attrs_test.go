package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// attrCounts counts the items in each value of column (an item with two values counts in both).
func attrCounts(ds *Dataset, column string) map[string]int {
	out := map[string]int{}
	for _, it := range ds.Items {
		for _, v := range it.Attrs[column] {
			out[v]++
		}
	}
	return out
}

// The counts were made independently with Python's csv module on the same file:
// Counter(name.split('_')[0]), Counter(style or '(none)'), and per row the set of non-empty adj1/adj2
// values (or {'(none)'}).
func TestAttrsAGIQA3k(t *testing.T) {
	ds, err := Load(AGIQA3k, testenv.Shared(t, "data", "agiqa-3k", "data.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{
		AttrGenerator: {"sd1.5": 1200, "midjourney": 592, "AttnGAN": 300, "glide": 300, "xl2.2": 300, "DALLE2": 290},
		AttrStyle:     {NoValue: 1587, "abstract style": 278, "anime style": 280, "baroque style": 280, "realistic style": 277, "sci-fi style": 280},
		AttrAdjective: {NoValue: 1190, "HDR lighting": 260, "blurred detail": 260, "close-up": 257, "cold color": 260, "elevation view": 257,
			"hyper detail": 257, "long-shot": 260, "soft lighting": 259, "top view": 259, "warm color": 257},
		AttrSetting: {"normal": 1786, "highcorr": 300, "lowcorr": 300, "lowstep": 596},
	}
	for col, w := range want {
		if got := attrCounts(ds, col); !reflect.DeepEqual(got, w) {
			t.Errorf("%s: got %v, want %v", col, got, w)
		}
	}
	if got := ds.Attributes(); !reflect.DeepEqual(got, []string{AttrAdjective, AttrGenerator, AttrSetting, AttrStyle}) {
		t.Errorf("attributes %v", got)
	}
}

// Counts from the xlsx's shared strings read with Python's zipfile and re (names deduplicated in
// order, as the loader keeps the first of the repeated row): Counter(name.split('_')[0]) and the
// style code (last field).
func TestAttrsAGIQA1k(t *testing.T) {
	ds, err := Load(AGIQA1k, testenv.Shared(t, "data", "agiqa-1k", "AIGC_MOS_Zscore.xlsx"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, w := attrCounts(ds, AttrGenerator), map[string]int{"deepai": 720, "dreamStudio": 359}; !reflect.DeepEqual(got, w) {
		t.Errorf("generator %v, want %v", got, w)
	}
	if got, w := attrCounts(ds, AttrStyle), map[string]int{"anime style": 539, "realistic style": 540}; !reflect.DeepEqual(got, w) {
		t.Errorf("style %v, want %v", got, w)
	}
	for _, it := range ds.Items {
		if want := it.Attrs[AttrObject][0] + ", " + it.Attrs[AttrAction][0] + ", " + it.Attrs[AttrPlace][0] + ", " + it.Attrs[AttrStyle][0]; it.Prompt != want {
			t.Fatalf("%s: prompt %q, attributes spell %q", it.Image, it.Prompt, want)
		}
	}
	if _, ok := ds.Items[0].Attrs[AttrAdjective]; ok {
		t.Error("AGIQA-1k has no adjective column")
	}
}

func TestAttrsGenericCSV(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "labels.csv")
	csv := "image,prompt,mos,Generator,blur,noise,jpeg_quality,contrast\n" +
		"a.jpg,x,1,gan,0,0,95,1\n" +
		"b.jpg,x,2,diffusion,1.5,4,30,1\n" +
		"c.jpg,y,3,,0,0,95,0.5\n"
	if err := os.WriteFile(p, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := Load(CSV, p, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string][]string{
		{"generator": {"gan"}, "blur": {"0"}, "noise": {"0"}, "jpeg_quality": {"95"}, "contrast": {"1"}, AttrDegradation: {"none"}},
		{"generator": {"diffusion"}, "blur": {"1.5"}, "noise": {"4"}, "jpeg_quality": {"30"}, "contrast": {"1"}, AttrDegradation: {"blur", "noise", "jpeg"}},
		{"generator": {NoValue}, "blur": {"0"}, "noise": {"0"}, "jpeg_quality": {"95"}, "contrast": {"0.5"}, AttrDegradation: {"contrast"}},
	}
	for i, it := range ds.Items {
		if !reflect.DeepEqual(it.Attrs, want[i]) {
			t.Errorf("%s: attrs %v, want %v", it.Image, it.Attrs, want[i])
		}
	}
}
