package dataset

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// AGIQA-1k file names are <generator>_<object>_<action>_<place>_<style>.jpg.
// The codes index these lists in deepai's numbering; dreamStudio used fewer
// objects and actions and numbers them from 0, so its codes are shifted into
// deepai's space (object code > 5 skips "kid": +1; action code +5).
var (
	agiqa1kObjects = []string{"bird", "cat", "dog", "batman", "snoppy", "teddy bear", "kid", "man", "woman", "alien", "demon", "witch"}
	agiqa1kActions = []string{
		"driving aircraft", "driving bike", "driving car", "having hamburger", "having icecream", "having pizza",
		"playing baseball", "playing football", "playing yoga", "using CD", "using laptop", "using phone",
		"wearing coat", "wearing hat", "wearing shirt",
	}
	agiqa1kPlaces = []string{"city", "wild"}
	agiqa1kStyles = []string{"anime style", "realistic style"}
)

// agiqa1kCodeLimits is the number of valid codes per field (object, action,
// place, style) for each generator, in the generator's own numbering.
var agiqa1kCodeLimits = map[string][4]int{
	"deepai":      {12, 15, 2, 2},
	"dreamStudio": {9, 10, 2, 2},
}

var agiqa1kFields = [4]string{"object", "action", "place", "style"}

// DecodeAGIQA1kPrompt rebuilds an AGIQA-1k prompt ("object, action, place,
// style") from an image file name, and returns the image's split group:
// "object,action" in deepai's index space (dreamStudio_6_2_0_1.jpg ->
// "man, playing football, city, realistic style", group "7,7").
func DecodeAGIQA1kPrompt(fileName string) (prompt, group string, err error) {
	codes, gen, err := parseAGIQA1kName(fileName)
	if err != nil {
		return "", "", err
	}
	obj, act := codes[0], codes[1]
	if gen == "dreamStudio" {
		if obj > 5 {
			obj++
		}
		act += 5
	}
	prompt = strings.Join([]string{agiqa1kObjects[obj], agiqa1kActions[act], agiqa1kPlaces[codes[2]], agiqa1kStyles[codes[3]]}, ", ")
	return prompt, fmt.Sprintf("%d,%d", obj, act), nil
}

func parseAGIQA1kName(fileName string) (codes [4]int, gen string, err error) {
	parts := strings.Split(stem(fileName), "_")
	if len(parts) != 5 {
		return codes, "", fmt.Errorf("image name %q: want <generator>_<object>_<action>_<place>_<style>.jpg", fileName)
	}
	gen = parts[0]
	limits, ok := agiqa1kCodeLimits[gen]
	if !ok {
		return codes, "", fmt.Errorf("image name %q: unknown generator %q (want deepai or dreamStudio)", fileName, gen)
	}
	for i, p := range parts[1:] {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n >= limits[i] {
			return codes, "", fmt.Errorf("image name %q: %s code %q is not in 0..%d for %s", fileName, agiqa1kFields[i], p, limits[i]-1, gen)
		}
		codes[i] = n
	}
	return codes, gen, nil
}

// repairAGIQA1kName fixes a name with exactly one empty code field (the
// published AIGC_all.csv has "dreamStudio_8_9_1_.jpg") when exactly one
// value of that field gives a valid name that the file does not list
// elsewhere. It returns "" when the name cannot be repaired that way.
func repairAGIQA1kName(name string, listed map[string]bool) string {
	s := stem(name)
	ext := strings.TrimPrefix(name, s)
	parts := strings.Split(s, "_")
	limits, ok := agiqa1kCodeLimits[parts[0]]
	if len(parts) != 5 || !ok {
		return ""
	}
	empty := -1
	for i, p := range parts[1:] {
		if p == "" {
			if empty >= 0 {
				return ""
			}
			empty = i
		}
	}
	if empty < 0 {
		return ""
	}
	var found string
	for v := 0; v < limits[empty]; v++ {
		cand := append([]string(nil), parts...)
		cand[empty+1] = strconv.Itoa(v)
		c := strings.Join(cand, "_") + ext
		if listed[c] {
			continue
		}
		if found != "" {
			return "" // ambiguous
		}
		found = c
	}
	return found
}

// loadAGIQA1kXLSX reads AIGC_MOS_Zscore.xlsx (first sheet; columns Image,
// Prompt, MOS), the file the official IP-IQA code trains on. The published
// sheet lists dreamStudio_8_9_1_1.jpg twice with different MOS (0.4414 on
// row 1080, 2.0841 on row 1081); rule: the first row of a repeated image
// is kept, later ones are dropped with a warning, because the harness keys
// predictions by image name and one name can carry one score.
func loadAGIQA1kXLSX(file string, lim Limits) (*Dataset, error) {
	sheet, rows, err := readXLSX(file, lim)
	if err != nil {
		return nil, err
	}
	t := &table{file: file}
	for i, row := range rows {
		if t.header == nil {
			if len(row) == 0 {
				continue
			}
			t.setHeader(row)
			continue
		}
		if len(strings.Join(row, "")) == 0 {
			continue
		}
		t.rows = append(t.rows, row)
		t.lines = append(t.lines, i+1) // spreadsheet rows are 1-based
	}
	if t.header == nil {
		return nil, fmt.Errorf("%s: sheet %q is empty, want a header row", file, sheet)
	}
	idx, err := t.need("image", "prompt", "mos")
	if err != nil {
		return nil, err
	}
	ci, cp, cm := idx[0], idx[1], idx[2]
	ds := &Dataset{}
	first := map[string]int{} // image -> index in ds.Items
	for r := range t.rows {
		name, err := t.nameCell(r, ci)
		if err != nil {
			return nil, err
		}
		mos, err := t.mos(r, cm)
		if err != nil {
			return nil, err
		}
		if k, dup := first[name]; dup {
			ds.Warnings = append(ds.Warnings, Warning{File: file, Line: t.lines[r], Message: fmt.Sprintf(
				"image %q listed again with MOS %s; kept the first row (MOS %g), ignored this one",
				name, t.cell(r, cm), ds.Items[k].MOS)})
			continue
		}
		decoded, group, err := DecodeAGIQA1kPrompt(name)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, t.lines[r], err)
		}
		prompt := t.cell(r, cp)
		if prompt == "" {
			prompt = decoded
		} else if prompt != decoded {
			ds.Warnings = append(ds.Warnings, Warning{File: file, Line: t.lines[r], Message: fmt.Sprintf(
				"prompt %q differs from the one the file name encodes (%q); kept the file's prompt", prompt, decoded)})
		}
		first[name] = len(ds.Items)
		ds.Items = append(ds.Items, Item{Image: name, Prompt: prompt, MOS: mos, MOSAlign: math.NaN(), Group: group, Attrs: attrs1k(name)})
	}
	return ds, nil
}

// loadAGIQA1kCSV reads AIGC_all.csv (Image,Score): scores on the raw rating
// scale, no prompts, so prompts and groups are decoded from the file names.
// A name with one empty code (the published file has
// "dreamStudio_8_9_1_.jpg") is completed when exactly one value gives a
// name the file lacks ("dreamStudio_8_9_1_1.jpg") and reported as a warning;
// any other undecodable name is an error.
func loadAGIQA1kCSV(file string, lim Limits) (*Dataset, error) {
	t, err := readCSV(file, lim)
	if err != nil {
		return nil, err
	}
	idx, err := t.need("image", "score")
	if err != nil {
		return nil, err
	}
	ci, cs := idx[0], idx[1]
	listed := map[string]bool{}
	for r := range t.rows {
		listed[t.cell(r, ci)] = true
	}
	ds := &Dataset{}
	seen := map[string]int{}
	for r := range t.rows {
		name, err := t.nameCell(r, ci)
		if err != nil {
			return nil, err
		}
		mos, err := t.mos(r, cs)
		if err != nil {
			return nil, err
		}
		labelName := ""
		prompt, group, err := DecodeAGIQA1kPrompt(name)
		if err != nil {
			fixed := repairAGIQA1kName(name, listed)
			if fixed == "" {
				return nil, fmt.Errorf("%s:%d: %w", file, t.lines[r], err)
			}
			ds.Warnings = append(ds.Warnings, Warning{File: file, Line: t.lines[r], Message: fmt.Sprintf(
				"broken image name %q read as %q (the only completion the file does not list)", name, fixed)})
			labelName, name = name, fixed
			if prompt, group, err = DecodeAGIQA1kPrompt(name); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, t.lines[r], err)
			}
		}
		if err := t.once(seen, r, name); err != nil {
			return nil, err
		}
		ds.Items = append(ds.Items, Item{Image: name, Prompt: prompt, MOS: mos, MOSAlign: math.NaN(), Group: group, labelName: labelName, Attrs: attrs1k(name)})
	}
	return ds, nil
}
