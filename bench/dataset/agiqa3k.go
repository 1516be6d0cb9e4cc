package dataset

import (
	"fmt"
	"strconv"
	"strings"
)

// loadAGIQA3k reads AGIQA-3k's data.csv
// (name,prompt,adj1,adj2,style,mos_quality,std_quality,mos_align,std_align).
// The group is the prompt index: the number after the last "_" of the file
// name (AttnGAN_normal_000.jpg -> "0"); every generator drew from the same
// 300 prompts, so this is the unit IP-IQA's split permutes.
func loadAGIQA3k(file string, lim Limits) (*Dataset, error) {
	t, err := readCSV(file, lim)
	if err != nil {
		return nil, err
	}
	idx, err := t.need("name", "prompt", "mos_quality", "mos_align")
	if err != nil {
		return nil, err
	}
	cn, cp, cq, ca := idx[0], idx[1], idx[2], idx[3]
	ds := &Dataset{}
	seen := map[string]int{}
	for r := range t.rows {
		name, err := t.nameCell(r, cn)
		if err != nil {
			return nil, err
		}
		if err := t.once(seen, r, name); err != nil {
			return nil, err
		}
		group, err := promptIndex3k(name)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, t.lines[r], err)
		}
		q, err := t.mos(r, cq)
		if err != nil {
			return nil, err
		}
		a, err := t.mos(r, ca)
		if err != nil {
			return nil, err
		}
		ds.Items = append(ds.Items, Item{Image: name, Prompt: t.cell(r, cp), MOS: q, MOSAlign: a, Group: group, Attrs: attrs3k(t, r, name)})
	}
	return ds, nil
}

// promptIndex3k returns the prompt index of an AGIQA-3k file name, without
// leading zeros.
func promptIndex3k(name string) (string, error) {
	s := stem(name)
	i := strings.LastIndexByte(s, '_')
	n, err := strconv.Atoi(s[i+1:])
	if i < 0 || err != nil || n < 0 {
		return "", fmt.Errorf("image name %q: want <generator>_<setting>_<prompt index>.jpg", name)
	}
	return strconv.Itoa(n), nil
}
