package dataset

import (
	"sort"
	"strconv"
	"strings"
)

// Breakdown columns (Item.Attrs keys) the AGIQA loaders fill. A value the label file leaves empty
// is NoValue, so an image without a style still falls in a group.
const (
	AttrGenerator = "generator" // AGIQA-3k: the file-name prefix (AttnGAN, DALLE2, glide, midjourney, sd1.5, xl2.2); AGIQA-1k: deepai, dreamStudio
	AttrSetting   = "setting"   // AGIQA-3k: the generation setting after the generator (normal, highcorr, lowcorr, lowstep)
	AttrStyle     = "style"     // AGIQA-3k: the style column; AGIQA-1k: the style code (anime style, realistic style)
	AttrAdjective = "adjective" // AGIQA-3k: adj1 and adj2, an image in the group of each
	AttrObject    = "object"    // AGIQA-1k: the object code's word
	AttrAction    = "action"    // AGIQA-1k: the action code's words
	AttrPlace     = "place"     // AGIQA-1k: city or wild
	// AttrDegradation is the sample's stand-in for a generator: what degraded the image (blur, noise,
	// jpeg, contrast; an image in the group of each, "none" for the pristine one), derived from the
	// generation columns of bench/sample's labels.csv.
	AttrDegradation = "degradation"
	NoValue         = "(none)"
)

// Attributes lists the breakdown columns the items carry, sorted.
func (d *Dataset) Attributes() []string {
	seen := map[string]bool{}
	for _, it := range d.Items {
		for k := range it.Attrs {
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func orNone(s string) string {
	if s == "" {
		return NoValue
	}
	return s
}

// attrs3k reads the breakdown columns of an AGIQA-3k row; name is <generator>_<setting>_<prompt>.jpg.
func attrs3k(t *table, r int, name string) map[string][]string {
	parts := strings.Split(stem(name), "_")
	a := map[string][]string{AttrGenerator: {parts[0]}, AttrStyle: {orNone(t.cell(r, t.optional("style")))}}
	if len(parts) == 3 {
		a[AttrSetting] = []string{parts[1]}
	}
	var adj []string
	for _, c := range []string{"adj1", "adj2"} {
		if v := t.cell(r, t.optional(c)); v != "" && !containsString(adj, v) {
			adj = append(adj, v)
		}
	}
	if len(adj) == 0 {
		adj = []string{NoValue}
	}
	a[AttrAdjective] = adj
	return a
}

// attrs1k decodes the breakdown columns of an AGIQA-1k file name (nil for a name that does not decode:
// the loaders refuse those before).
func attrs1k(name string) map[string][]string {
	codes, gen, err := parseAGIQA1kName(name)
	if err != nil {
		return nil
	}
	obj, act := codes[0], codes[1]
	if gen == "dreamStudio" {
		if obj > 5 {
			obj++
		}
		act += 5
	}
	return map[string][]string{
		AttrGenerator: {gen}, AttrStyle: {agiqa1kStyles[codes[3]]},
		AttrObject: {agiqa1kObjects[obj]}, AttrAction: {agiqa1kActions[act]}, AttrPlace: {agiqa1kPlaces[codes[2]]},
	}
}

// genericKnown are the columns of the generic layout that are scores or keys, not descriptions.
var genericKnown = map[string]bool{"image": true, "prompt": true, "mos": true, "mos_align": true, "group": true}

// attrsGeneric keeps every other column of a generic CSV row under its lower-cased header name, and
// derives AttrDegradation when the row has the sample's generation columns.
func attrsGeneric(t *table, r int) map[string][]string {
	a := map[string][]string{}
	for i, h := range t.header {
		k := strings.ToLower(strings.TrimSpace(h))
		if k == "" || genericKnown[k] || t.col[k] != i {
			continue
		}
		a[k] = []string{orNone(t.cell(r, i))}
	}
	if deg := sampleDegradation(t, r); deg != nil {
		a[AttrDegradation] = deg
	}
	if len(a) == 0 {
		return nil
	}
	return a
}

// sampleDegradation names what bench/sample did to the image: blur > 0, noise > 0, jpeg_quality < 95
// (the pristine quality) and contrast < 1. nil when a column is missing or not a number.
func sampleDegradation(t *table, r int) []string {
	num := func(col string) (float64, bool) {
		c := t.optional(col)
		if c < 0 {
			return 0, false
		}
		v, err := strconv.ParseFloat(t.cell(r, c), 64)
		return v, err == nil
	}
	blur, ok1 := num("blur")
	noise, ok2 := num("noise")
	q, ok3 := num("jpeg_quality")
	contrast, ok4 := num("contrast")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil
	}
	var out []string
	for _, d := range []struct {
		on   bool
		name string
	}{{blur > 0, "blur"}, {noise > 0, "noise"}, {q < 95, "jpeg"}, {contrast < 1, "contrast"}} {
		if d.on {
			out = append(out, d.name)
		}
	}
	if len(out) == 0 {
		out = []string{"none"}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
