package baselines

// The catalogue of every model row in the paper's Tables 1-3 ("Bringing Textual Prompt to AI-Generated
// Image Quality Assessment", ICME 2024), transcribed from the poster text in shared/seed, plus the models
// we serve that the paper does not have. Table builders (bench/table) walk it in order; the harness maps
// served model names to rows with ByServed.

// Dataset names used as keys of Entry.Paper.
const (
	AGIQA1k = "agiqa-1k"
	AGIQA3k = "agiqa-3k"
)

// Row groups as printed in Table 1 (Table 2 has no groups; IP-IQA sits apart as "Ours").
const (
	GroupHandcrafted = "Handcrafted-based"
	GroupSVR         = "SVR-based"
	GroupDL          = "DL-based"
	GroupOurs        = "Ours"
	// GroupAlignment holds Table 2's baselines, which the paper lists without a group name.
	GroupAlignment = ""
)

// Scores holds one dataset's correlations; nil means unknown (never 0).
type Scores struct {
	SRCC *float64 `json:"srcc"`
	PLCC *float64 `json:"plcc"`
	KRCC *float64 `json:"krcc"`
}

// Switches are Table 3's ablation columns.
type Switches struct {
	Image2Prompt   bool `json:"image2prompt"`
	IntegralPrompt bool `json:"integral_prompt"`
	// QAToken: the CLIP token-embedding table is trained (the poster's text garbles it as "/Q4/ token").
	QAToken bool `json:"qa_token"`
}

// String names the switches that are on ("none" when all are off); used as Table 3's Group.
func (s Switches) String() string {
	out := ""
	add := func(on bool, name string) {
		if !on {
			return
		}
		if out != "" {
			out += " + "
		}
		out += name
	}
	add(s.Image2Prompt, "Image2prompt")
	add(s.IntegralPrompt, "Integral prompt")
	add(s.QAToken, "QA token")
	if out == "" {
		return "none"
	}
	return out
}

// Entry is one row of one paper table. Key is unique within a table; "ipiqa" appears in all three.
type Entry struct {
	Key   string `json:"key"`
	Label string `json:"label"` // as printed in the paper ("Ours", "ResNet50*", "CLIPQA")
	Name  string `json:"name"`  // the method's usual name ("IP-IQA", "CLIP-IQA", "HyperIQA")
	Table int    `json:"table"` // 1, 2 or 3
	// Group is the row group (Table 1's method families; Table 3: Switches.String()).
	Group    string    `json:"group"`
	Switches *Switches `json:"switches,omitempty"` // Table 3 only
	// Served lists the model names in our repository (modelrepo/models or the built-in one) whose
	// predictions fill this row; empty when we serve nothing for it (the row can only quote the paper).
	// TestServedNamesExist holds it to that: a name is added when its model lands, not before.
	Served      []string `json:"served"`
	NeedsPrompt bool     `json:"needs_prompt"` // the model takes the TOKENS input
	InPaper     bool     `json:"in_paper"`     // false for our own additions: all Paper values nil
	// Paper maps dataset (AGIQA1k, AGIQA3k) to the published numbers. Table 2 uses AGIQA3k only.
	Paper map[string]Scores `json:"paper"`
}

// PaperScores returns the paper's numbers for a dataset (all nil when the paper has none).
func (e Entry) PaperScores(dataset string) Scores { return e.Paper[dataset] }

// HasServed reports whether a served model name produces this row.
func (e Entry) HasServed(name string) bool {
	for _, s := range e.Served {
		if s == name {
			return true
		}
	}
	return false
}

func f(v float64) *float64 { return &v }

// s3 builds Scores from SRCC, PLCC, KRCC.
func s3(srcc, plcc, krcc float64) Scores { return Scores{SRCC: f(srcc), PLCC: f(plcc), KRCC: f(krcc)} }

// s2 builds Scores whose KRCC the poster lost (Table 1, AGIQA-3k).
func s2(srcc, plcc float64) Scores { return Scores{SRCC: f(srcc), PLCC: f(plcc)} }

// t1 is a Table 1 row: AGIQA-1k SRCC/PLCC/KRCC, then AGIQA-3k SRCC/PLCC (KRCC lost, see s2).
func t1(key, label, name, group string, served []string, prompt bool, a, b, c, d, e float64) Entry {
	return Entry{Key: key, Label: label, Name: name, Table: 1, Group: group, Served: served,
		NeedsPrompt: prompt, InPaper: true,
		Paper: map[string]Scores{AGIQA1k: s3(a, b, c), AGIQA3k: s2(d, e)}}
}

// t2 is a Table 2 row (alignment on AGIQA-3k).
func t2(key, label, name, group string, served []string, a, b, c float64) Entry {
	return Entry{Key: key, Label: label, Name: name, Table: 2, Group: group, Served: served,
		NeedsPrompt: true, InPaper: true, Paper: map[string]Scores{AGIQA3k: s3(a, b, c)}}
}

// t2extra is a Table 2 row the paper lacks: measured only, no paper numbers.
func t2extra(key, label, name, served_ string) Entry {
	return Entry{Key: key, Label: label, Name: name, Table: 2, Group: GroupAlignment, Served: served(served_),
		NeedsPrompt: true, InPaper: false, Paper: map[string]Scores{}}
}

// t3 is a Table 3 row: switches, then AGIQA-1k and AGIQA-3k SRCC/PLCC/KRCC.
func t3(key, label string, sw Switches, served []string, a, b, c, d, e, g float64) Entry {
	return Entry{Key: key, Label: label, Name: "IP-IQA (" + sw.String() + ")", Table: 3, Group: sw.String(),
		Switches: &sw, Served: served, NeedsPrompt: true, InPaper: true,
		Paper: map[string]Scores{AGIQA1k: s3(a, b, c), AGIQA3k: s3(d, e, g)}}
}

// t3ours is a Table 3 switch combination the paper has no row for: measured only, no paper numbers.
func t3ours(key, label string, sw Switches) Entry {
	return Entry{Key: key, Label: label, Name: "IP-IQA (" + sw.String() + ")", Table: 3, Group: sw.String(),
		Switches: &sw, NeedsPrompt: true, InPaper: false, Paper: map[string]Scores{}}
}

func served(names ...string) []string { return names }

// catalog is in the paper's row order, our additions beside the rows they extend. IP-IQA fills a row
// by its switches (the export names it and sets agiqa.catalog to the row key): only a model trained with
// Image2Prompt pretraining, the integral prompt and the QA token is the paper's "Ours" (key "ipiqa", in
// all three tables). Image2Prompt's checkpoint is not published, so a model trained from CLIP's image
// tower with the other two switches on is "ipiqa_prompt_qa", a Table 3 row of ours.
var catalog = []Entry{
	// Table 1: perceptual quality.
	t1("ceiq", "CEIQ", "CEIQ (published model)", GroupHandcrafted, served("ceiq"), false, 0.3069, 0.2836, 0.2097, 0.3228, 0.4166),
	t1("niqe", "NIQE", "NIQE", GroupHandcrafted, served("niqe"), false, -0.5490, -0.5048, -0.3824, 0.5623, 0.5171),
	t1("dsiqa", "DSIQA", "DSIQA", GroupHandcrafted, nil, false, -0.3047, -0.0559, -0.2148, 0.4955, 0.5488),
	t1("sisblim", "SISBLIM", "SISBLIM", GroupHandcrafted, nil, false, -0.1309, -0.3575, -0.0889, 0.5479, 0.6477),
	{Key: "brisque", Label: "BRISQUE", Name: "BRISQUE (LIVE model)", Table: 1,
		Group: GroupHandcrafted, Served: served("brisque"), InPaper: false, Paper: map[string]Scores{}},
	{Key: "sharpness", Label: "Sharpness (Laplacian)", Name: "variance of the Laplacian", Table: 1,
		Group: GroupHandcrafted, Served: served("sharpness_laplacian"), InPaper: false, Paper: map[string]Scores{}},
	{Key: "contrast", Label: "RMS contrast", Name: "standard deviation of luma", Table: 1,
		Group: GroupHandcrafted, Served: served("contrast_rms"), InPaper: false, Paper: map[string]Scores{}},
	t1("gmlf", "GMLF", "GMLF", GroupSVR, nil, false, 0.5575, 0.6356, 0.4052, 0.6987, 0.8181),
	t1("higrade", "HIGRADE", "HIGRADE", GroupSVR, nil, false, 0.4056, 0.4425, 0.2860, 0.6171, 0.7056),
	// Ours: the handcrafted rows' features with an SVR retrained per split (agiqa train svr), beside
	// their published models above. GMLF and HIGRADE are these rows in the paper too; their models
	// are written per dataset by agiqa train svr, so no name is fixed here.
	{Key: "ceiq_svr", Label: "CEIQ (SVR per split)", Name: "CEIQ features, epsilon-SVR retrained per split", Table: 1,
		Group: GroupSVR, InPaper: false, Paper: map[string]Scores{}},
	{Key: "brisque_svr", Label: "BRISQUE (SVR per split)", Name: "BRISQUE features, epsilon-SVR retrained per split", Table: 1,
		Group: GroupSVR, InPaper: false, Paper: map[string]Scores{}},
	t1("dbcnn", "DBCNN", "DBCNN", GroupDL, served("dbcnn_agiqa1k", "dbcnn_agiqa3k"), false, 0.7491, 0.8211, 0.5618, 0.8207, 0.8759),
	t1("cnniqa", "CNNIQA", "CNNIQA", GroupDL, served("cnniqa_agiqa1k", "cnniqa_agiqa3k"), false, 0.5800, 0.7139, 0.4095, 0.7478, 0.8469),
	t1("clipiqa", "CLIPQA", "CLIP-IQA", GroupDL, served("clipiqa"), false, 0.8227, 0.8411, 0.6399, 0.8426, 0.8053),
	// Ours: CLIP-IQA+ (the same paper's learned-prompt variant, pyiqa's published context), measured only.
	{Key: "clipiqa_plus", Label: "CLIP-IQA+", Name: "CLIP-IQA+ (learned prompts)", Table: 1,
		Group: GroupDL, Served: served("clipiqa_plus"), InPaper: false, Paper: map[string]Scores{}},
	t1("hyperiqa", "HyperNet", "HyperIQA", GroupDL, served("hyperiqa_agiqa1k", "hyperiqa_agiqa3k"), false, 0.7803, 0.8299, 0.5943, 0.8355, 0.8903),
	t1("resnet50", "ResNet50", "ResNet50 (ImageNet)", GroupDL, served("resnet50_agiqa1k", "resnet50_agiqa3k"), false, 0.7136, 0.7576, 0.5254, 0.6744, 0.7365),
	t1("resnet50_clip", "ResNet50*", "ResNet50 (CLIP RN50)", GroupDL, served("resnet50_clip_agiqa1k", "resnet50_clip_agiqa3k"), false, 0.7914, 0.8404, 0.6064, 0.8306, 0.8929),
	func() Entry {
		e := t1("ipiqa", "Ours", "IP-IQA", GroupOurs, served("ipiqa_agiqa1k", "ipiqa_agiqa3k"), true, 0.8401, 0.8922, 0.6635, 0.8634, 0.9116)
		// Table 1's AGIQA-3k KRCC is lost for every row, but IP-IQA's equals Table 3's full model.
		s := e.Paper[AGIQA3k]
		s.KRCC = f(0.6844)
		e.Paper[AGIQA3k] = s
		return e
	}(),

	// Table 2: image-prompt alignment on AGIQA-3k.
	t2("clipscore", "CLIPScore", "CLIPScore", GroupAlignment, served("clipscore"), 0.5972, 0.6839, 0.4591),
	t2("imagereward", "ImageReward", "ImageReward", GroupAlignment, served("imagereward"), 0.7298, 0.7862, 0.5390),
	t2("hpsv1", "HPS", "HPS v1", GroupAlignment, served("hpsv1"), 0.6349, 0.7000, 0.4580),
	t2("stairreward", "StairReward", "StairReward", GroupAlignment, nil, 0.7472, 0.8529, 0.5554),
	t2("ipiqa", "Ours", "IP-IQA", GroupOurs, served("ipiqa_agiqa3k"), 0.7578, 0.8544, 0.5734),
	// The newer preference models researchers compare against (not in the paper).
	t2extra("hpsv2", "HPS v2", "HPS v2 (open_clip ViT-H-14)", "hpsv2"),
	t2extra("hpsv21", "HPS v2.1", "HPS v2.1 (open_clip ViT-H-14)", "hpsv21"),
	t2extra("pickscore", "PickScore", "PickScore (CLIP ViT-H-14)", "pickscore"),

	// Table 3: ablation on perceptual quality. Every switch combination has a row; a trained variant
	// is exported under <key>_<dataset> (agiqa_torch.export) and fills its row. The three QA-token rows
	// short of the full model are ours (the paper has no numbers for them; shown only when measured).
	t3("ipiqa_base", "w/o all", Switches{}, nil, 0.8105, 0.8595, 0.6173, 0.8398, 0.8978, 0.6561),
	t3("ipiqa_i2p", "+Image2prompt", Switches{Image2Prompt: true}, nil, 0.8180, 0.8703, 0.6501, 0.8491, 0.9031, 0.6690),
	t3("ipiqa_prompt", "+Integral prompt", Switches{IntegralPrompt: true}, nil, 0.8317, 0.8706, 0.6532, 0.8442, 0.9008, 0.6612),
	t3("ipiqa_i2p_prompt", "+Image2prompt +Integral prompt", Switches{Image2Prompt: true, IntegralPrompt: true}, nil, 0.8383, 0.8782, 0.6603, 0.8595, 0.9084, 0.6798),
	t3ours("ipiqa_qa", "+QA token", Switches{QAToken: true}),
	t3ours("ipiqa_i2p_qa", "+Image2prompt +QA token", Switches{Image2Prompt: true, QAToken: true}),
	t3ours("ipiqa_prompt_qa", "+Integral prompt +QA token", Switches{IntegralPrompt: true, QAToken: true}),
	func() Entry {
		e := t3("ipiqa", "Ours", Switches{Image2Prompt: true, IntegralPrompt: true, QAToken: true}, served("ipiqa_agiqa1k", "ipiqa_agiqa3k"), 0.8401, 0.8922, 0.6635, 0.8634, 0.9116, 0.6844)
		e.Name = "IP-IQA"
		return e
	}(),
}

// clone deep-copies an entry so callers cannot alter the catalogue.
func clone(e Entry) Entry {
	c := e
	c.Served = append([]string(nil), e.Served...)
	if e.Switches != nil {
		sw := *e.Switches
		c.Switches = &sw
	}
	c.Paper = make(map[string]Scores, len(e.Paper))
	for ds, s := range e.Paper {
		c.Paper[ds] = Scores{SRCC: copyPtr(s.SRCC), PLCC: copyPtr(s.PLCC), KRCC: copyPtr(s.KRCC)}
	}
	return c
}

func copyPtr(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Catalog returns every entry of every table, in the paper's order (copies).
func Catalog() []Entry {
	out := make([]Entry, len(catalog))
	for i, e := range catalog {
		out[i] = clone(e)
	}
	return out
}

// ForTable returns one table's entries in the paper's order (copies); nil for an unknown table.
func ForTable(table int) []Entry {
	return where(func(e Entry) bool { return e.Table == table })
}

// Lookup finds the entry with this key in one table.
func Lookup(table int, key string) (Entry, bool) {
	for _, e := range catalog {
		if e.Table == table && e.Key == key {
			return clone(e), true
		}
	}
	return Entry{}, false
}

// Find returns the entries with this key in every table (IP-IQA is in all three).
func Find(key string) []Entry {
	return where(func(e Entry) bool { return e.Key == key })
}

// ByServed returns the entries a served model name fills, in catalogue order.
func ByServed(name string) []Entry {
	return where(func(e Entry) bool { return e.HasServed(name) })
}

// where returns copies of the catalogue entries that keep accepts, in catalogue order; nil when none.
func where(keep func(Entry) bool) []Entry {
	var out []Entry
	for _, e := range catalog {
		if keep(e) {
			out = append(out, clone(e))
		}
	}
	return out
}

// Groups returns a table's row groups in order of first appearance.
func Groups(table int) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range catalog {
		if e.Table == table && !seen[e.Group] {
			seen[e.Group] = true
			out = append(out, e.Group)
		}
	}
	return out
}
