package dataset

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// checkLoaded is what every label file that loads must satisfy, whatever its bytes were.
func checkLoaded(t *testing.T, ds *Dataset) {
	t.Helper()
	if len(ds.Items) == 0 {
		t.Fatal("loaded with no items")
	}
	for _, it := range ds.Items {
		if math.IsNaN(it.MOS) || math.IsInf(it.MOS, 0) || it.Image == "" || strings.ContainsAny(it.Image, `/\`) {
			t.Fatalf("item %+v", it)
		}
		if !utf8.ValidString(it.Prompt) || strings.IndexByte(it.Prompt, 0) >= 0 {
			t.Fatalf("prompt %q is not UTF-8 text without NUL", it.Prompt)
		}
	}
}

// FuzzLoadCSV feeds arbitrary bytes to the three CSV readers (generic, AGIQA-3k data.csv,
// AGIQA-1k AIGC_all.csv): none may panic, and what loads is clean. Seeds: the package's CSV
// fixtures and the bad-text files.
func FuzzLoadCSV(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.csv"))
	more, _ := filepath.Glob(filepath.Join("testdata", "badtext", "*.csv"))
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("image,prompt,mos\na.jpg,a cat,0x1p-2\n"))
	f.Add([]byte("name,prompt,mos_quality,mos_align\nAttnGAN_normal_000.jpg,p,1,2\n"))
	f.Add([]byte("Image,Score\ndreamStudio_8_9_1_.jpg,3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "labels.csv")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{CSV, AGIQA3k, AGIQA1k} {
			if ds, err := LoadLimited(name, p, "", Limits{MaxLabelBytes: 1 << 20}); err == nil {
				checkLoaded(t, ds)
			}
		}
	})
}

// FuzzLoadXLSX feeds arbitrary bytes to the AGIQA-1k workbook reader. Seeds: a small workbook,
// and the same cut short.
func FuzzLoadXLSX(f *testing.F) {
	x := excelize.NewFile()
	for i, r := range [][]any{{"Image", "Prompt", "MOS"}, {"deepai_0_0_0_0.jpg", "", 1.5}, {"dreamStudio_1_2_1_0.jpg", "p", 2}} {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		x.SetSheetRow("Sheet1", cell, &r)
	}
	buf, err := x.WriteToBuffer()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:buf.Len()/2])
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "AIGC_MOS_Zscore.xlsx")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if ds, err := LoadLimited(AGIQA1k, p, "", Limits{MaxLabelBytes: 1 << 20}); err == nil {
			checkLoaded(t, ds)
		}
	})
}
