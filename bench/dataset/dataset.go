// Package dataset reads the label files of the AGIQA datasets (and of any
// dataset laid out as a plain CSV) into one in-memory form: image name, image
// path, prompt, quality MOS, alignment MOS and the prompt group that the
// split protocol keeps on one side of a split.
//
// Label files are checked strictly: a missing column, a MOS that is not a
// finite number or a duplicated image is an error naming the file, the line
// and the value. The two known defects of the AGIQA-1k files are repaired
// deterministically and reported as warnings (see loadAGIQA1kXLSX and
// loadAGIQA1kCSV).
package dataset

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dataset names understood by Load and Locate.
const (
	AGIQA3k = "agiqa-3k"
	AGIQA1k = "agiqa-1k"
	// CSV is any dataset described by a CSV file with the columns
	// image,prompt,mos and optionally mos_align and group.
	CSV = "csv"
	// Sample is the built-in generated dataset (package bench/sample); its
	// labels.csv has the generic CSV layout.
	Sample = "sample"
)

// Names lists the dataset names Load accepts.
func Names() []string { return []string{AGIQA1k, AGIQA3k, CSV, Sample} }

// Item is one labelled image.
type Item struct {
	// Image is the image's file name as written in the label file (after the
	// repairs reported in Dataset.Warnings).
	Image string `json:"image"`
	// Path is the image's path on disk, or "" when no image folder was given.
	Path string `json:"path,omitempty"`
	// Prompt is the text prompt the image was generated from.
	Prompt string `json:"prompt"`
	// MOS is the perceptual-quality mean opinion score.
	MOS float64 `json:"mos"`
	// MOSAlign is the text-image alignment MOS, NaN when the dataset has none.
	MOSAlign float64 `json:"-"`
	// Group is the prompt group: images of one group never straddle a split.
	Group string `json:"group"`
	// Attrs are the descriptive columns breakdowns group by (attrs.go): column -> the item's values
	// (usually one; AGIQA-3k's adjective has up to two). Not part of the JSON form.
	Attrs map[string][]string `json:"-"`

	// labelName is the name as the label file spelled it when a repair
	// changed it; Load falls back to it when only that file is on disk.
	labelName string
}

// MarshalJSON writes mos_align as null when the item has none (JSON has no NaN).
func (it Item) MarshalJSON() ([]byte, error) {
	type plain Item
	out := struct {
		plain
		MOSAlign *float64 `json:"mos_align"`
	}{plain: plain(it)}
	if it.HasAlign() {
		out.MOSAlign = &it.MOSAlign
	}
	return json.Marshal(out)
}

// HasAlign reports whether the item carries an alignment MOS.
func (it Item) HasAlign() bool { return !math.IsNaN(it.MOSAlign) }

// Warning is a defect in a label file that was repaired or skipped.
type Warning struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Message) }

// Dataset is a loaded label file.
type Dataset struct {
	Name      string
	LabelFile string
	// ImagesDir is the folder Item.Path values were resolved against ("" if none).
	ImagesDir string
	Items     []Item
	Warnings  []Warning
}

// Groups returns the distinct groups in natural order (numbers by value).
func (d *Dataset) Groups() []string {
	seen := map[string]bool{}
	var gs []string
	for _, it := range d.Items {
		if !seen[it.Group] {
			seen[it.Group] = true
			gs = append(gs, it.Group)
		}
	}
	sort.Slice(gs, func(i, j int) bool { return NaturalLess(gs[i], gs[j]) })
	return gs
}

// HasAlign reports whether every item has an alignment MOS.
func (d *Dataset) HasAlign() bool {
	for _, it := range d.Items {
		if !it.HasAlign() {
			return false
		}
	}
	return len(d.Items) > 0
}

// Load reads the label file of the named dataset within the default Limits.
// imagesDir, when not empty, is joined with each image name to fill Item.Path
// (existence is checked by Preflight, not here).
func Load(name, labelsPath, imagesDir string) (*Dataset, error) {
	return LoadLimited(name, labelsPath, imagesDir, Limits{})
}

// LoadLimited is Load within lim (zero fields: the defaults). Only a regular
// file within the size cap is read; a label file must be UTF-8 text without
// NUL, and scores must be decimal numbers.
func LoadLimited(name, labelsPath, imagesDir string, lim Limits) (*Dataset, error) {
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	var (
		ds  *Dataset
		err error
	)
	switch name {
	case AGIQA3k:
		ds, err = loadAGIQA3k(labelsPath, lim)
	case AGIQA1k:
		switch strings.ToLower(filepath.Ext(labelsPath)) {
		case ".xlsx":
			ds, err = loadAGIQA1kXLSX(labelsPath, lim)
		case ".csv":
			ds, err = loadAGIQA1kCSV(labelsPath, lim)
		default:
			return nil, fmt.Errorf("agiqa-1k labels %s: want AIGC_MOS_Zscore.xlsx or AIGC_all.csv (extension .xlsx or .csv)", labelsPath)
		}
	case CSV, Sample:
		ds, err = loadGenericCSV(labelsPath, lim)
	default:
		return nil, unknownName(name)
	}
	if err != nil {
		return nil, err
	}
	ds.Name = name
	ds.LabelFile = labelsPath
	if len(ds.Items) == 0 {
		return nil, fmt.Errorf("%s: no labelled images", labelsPath)
	}
	if imagesDir != "" {
		ds.ImagesDir = imagesDir
		for i := range ds.Items {
			it := &ds.Items[i]
			it.Path = filepath.Join(imagesDir, it.Image)
			if it.labelName != "" && !fileExists(it.Path) {
				if p := filepath.Join(imagesDir, it.labelName); fileExists(p) {
					it.Path = p
				}
			}
		}
	}
	return ds, nil
}

func unknownName(name string) error {
	return fmt.Errorf("unknown dataset %q (known: %s)", name, strings.Join(Names(), ", "))
}

// labelCandidates are the label files Locate looks for, best first.
var labelCandidates = map[string][]string{
	AGIQA3k: {"data.csv"},
	AGIQA1k: {"AIGC_MOS_Zscore.xlsx", "AIGC_all.csv"},
	CSV:     {"labels.csv"},
	Sample:  {"labels.csv"},
}

// imageDirCandidates are preferred image folder names inside a dataset folder.
var imageDirCandidates = []string{"images", "image", "imgs", "file", "files", "AGIQA-3K", "AGIQA-3k", "AGIQA-1K", "AGIQA-1k"}

// Locate finds the label file and the image folder inside a dataset folder.
// The label file is the dataset's usual one (data.csv for AGIQA-3k,
// AIGC_MOS_Zscore.xlsx then AIGC_all.csv for AGIQA-1k, labels.csv or the
// only .csv for generic datasets). The image folder is the first of images/,
// image/, imgs/, file/, files/, AGIQA-3K/..., the folder itself, then its
// other subfolders (sorted) that holds a .jpg/.jpeg/.png file; images is ""
// when none does (labels without images).
func Locate(name, dir string) (labels, images string, err error) {
	cands, ok := labelCandidates[name]
	if !ok {
		return "", "", unknownName(name)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return "", "", fmt.Errorf("dataset folder: %w", err)
	}
	if !st.IsDir() {
		return "", "", fmt.Errorf("dataset folder %s is not a directory", dir)
	}
	for _, c := range cands {
		p := filepath.Join(dir, c)
		if fileExists(p) {
			labels = p
			break
		}
	}
	if labels == "" && (name == CSV || name == Sample) {
		csvs, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
		if len(csvs) == 1 {
			labels = csvs[0]
		}
	}
	if labels == "" {
		return "", "", fmt.Errorf("no %s label file in %s (looked for %s)", name, dir, strings.Join(cands, ", "))
	}
	return labels, FindImages(dir), nil
}

// FindImages is Locate's image-folder search on its own, for a dataset whose
// label file lives elsewhere: the first of images/, image/, ..., dir itself,
// then dir's other subfolders (sorted) that holds an image; "" when none does.
func FindImages(dir string) string {
	var order []string
	for _, c := range imageDirCandidates {
		order = append(order, filepath.Join(dir, c))
	}
	order = append(order, dir)
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents { // ReadDir sorts by name
			if e.IsDir() {
				order = append(order, filepath.Join(dir, e.Name()))
			}
		}
	}
	for _, d := range order {
		if holdsImage(d) {
			return d
		}
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func holdsImage(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".jpg", ".jpeg", ".png":
			return true
		}
	}
	return false
}

// NaturalLess orders strings with embedded numbers by value ("2" < "10",
// "3,4" < "3,12"), so group lists read the way the datasets number them.
func NaturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := splitNum(a)
			nb, rb := splitNum(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			if na != nb { // same value, fewer leading zeros first
				return len(na) < len(nb)
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func splitNum(s string) (num, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
