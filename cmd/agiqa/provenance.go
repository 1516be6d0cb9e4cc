package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/client"
)

// Provenance says how a result file was made. It is the last JSON document of `tables --format json`
// ({"id": "provenance", "provenance": {...}}) and a section of `agiqa report`.
//
// JSON fields:
//   - agiqa_version, go_version: the binary (cmd_version.go's versionString) and its Go runtime.
//   - server: address ("embedded" for the in-process server, with repo: its --repo or "built-in"),
//     name/version/extensions from ServerMetadata (error: why ServerMetadata failed).
//   - run: the scoring options (splits protocol and seed when drawn, PLCC fit, alignment protocol,
//     cross_dataset).
//   - models: per served model: versions, per_split, trained_on (agiqa.dataset), preprocess and
//     image_size (0: each image at its own size), tokenizer/token_length/prompt_prefix for prompt
//     models, outputs, higher_is_better, weights_sha256 (config parameters whose key mentions sha256,
//     key -> value) and weights_note (what the server does not report).
//   - datasets: per dataset: label_file and label_sha256 (of the file's bytes), images, splits.source
//     ("file" with path, or "drawn"), splits.sha256 (of the file's bytes; for drawn splits of the file
//     `agiqa splits` would write for them), n, protocol, seed, images_sha256.
type Provenance struct {
	Agiqa    string           `json:"agiqa_version"`
	Go       string           `json:"go_version"`
	Server   ServerProvenance `json:"server"`
	Run      RunProvenance    `json:"run"`
	Models   []ModelProv      `json:"models"`
	Datasets []DatasetProv    `json:"datasets"`
}

// ServerProvenance is where the models ran.
type ServerProvenance struct {
	Address    string   `json:"address"`
	Repo       string   `json:"repo,omitempty"`
	Name       string   `json:"name,omitempty"`
	Version    string   `json:"version,omitempty"`
	Extensions []string `json:"extensions,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// RunProvenance are the options that change the numbers.
type RunProvenance struct {
	AlignmentProtocol string `json:"alignment_protocol"`
	PLCCFit           string `json:"plcc_fit"`
	CrossDataset      bool   `json:"cross_dataset"`
}

// ModelProv is one served model's contract as the harness read it.
type ModelProv struct {
	Served         string            `json:"served"`
	Catalog        string            `json:"catalog"`
	Versions       []string          `json:"versions"`
	PerSplit       bool              `json:"per_split"`
	TrainedOn      string            `json:"trained_on,omitempty"`
	Preprocess     string            `json:"preprocess"`
	ImageSize      int               `json:"image_size"`
	Tokenizer      string            `json:"tokenizer,omitempty"`
	TokenLength    int               `json:"token_length,omitempty"`
	PromptPrefix   string            `json:"prompt_prefix,omitempty"`
	Outputs        []string          `json:"outputs"`
	HigherIsBetter bool              `json:"higher_is_better"`
	WeightsSHA256  map[string]string `json:"weights_sha256,omitempty"`
	WeightsNote    string            `json:"weights_note,omitempty"`
}

// DatasetProv ties the results to one label file and one set of splits.
type DatasetProv struct {
	Name        string     `json:"name"`
	LabelFile   string     `json:"label_file"`
	LabelSHA256 string     `json:"label_sha256"`
	Images      int        `json:"images"`
	Splits      SplitsProv `json:"splits"`
}

// SplitsProv identifies the splits scored.
type SplitsProv struct {
	Source       string `json:"source"`
	Path         string `json:"path,omitempty"`
	SHA256       string `json:"sha256"`
	N            int    `json:"n"`
	Protocol     string `json:"protocol"`
	Seed         uint64 `json:"seed"`
	ImagesSHA256 string `json:"images_sha256"`
}

// noWeightDigest is what a model's weights_note says when its config carries no digest.
const noWeightDigest = "not reported: the config has no sha256 parameter and the server does not hash model files"

// collectProvenance asks the server what it is and reads each model's config; a failed call is
// recorded in the block, not an error: the numbers are measured by then.
func collectProvenance(ctx context.Context, c *client.Client, f *tablesFlags, datasets []evalDataset, models []*runner.Model) *Provenance {
	p := &Provenance{Agiqa: versionString(), Go: runtime.Version(),
		Run: RunProvenance{AlignmentProtocol: f.alignProtocol, PLCCFit: f.plccFit, CrossDataset: f.extra.cross}}
	p.Server.Address = strings.Join(f.servers, ",")
	if p.Server.Address == "" {
		p.Server.Address, p.Server.Repo = "embedded", f.repo
		if f.repo == "" {
			p.Server.Repo = "built-in"
		}
	}
	if md, err := c.ServerMetadata(ctx); err != nil {
		p.Server.Error = err.Error()
	} else {
		p.Server.Name, p.Server.Version, p.Server.Extensions = md.GetName(), md.GetVersion(), md.GetExtensions()
	}
	for _, m := range models {
		mp := ModelProv{Served: m.Name, Catalog: m.Catalog, Versions: m.Versions, PerSplit: m.PerSplit, TrainedOn: m.Dataset,
			Preprocess: m.Preprocess.String(), ImageSize: m.ImageSize, Outputs: m.Outputs, HigherIsBetter: m.HigherIsBetter}
		if m.Prompt {
			mp.Tokenizer, mp.TokenLength, mp.PromptPrefix = m.Tokenizer, m.TokenLength, m.PromptPrefix
		}
		if cfg, err := c.ModelConfig(ctx, m.Name, ""); err == nil {
			for k, v := range cfg.GetParameters() {
				if strings.Contains(strings.ToLower(k), "sha256") && v.GetStringValue() != "" {
					if mp.WeightsSHA256 == nil {
						mp.WeightsSHA256 = map[string]string{}
					}
					mp.WeightsSHA256[k] = v.GetStringValue()
				}
			}
		}
		if mp.WeightsSHA256 == nil {
			mp.WeightsNote = noWeightDigest
		}
		p.Models = append(p.Models, mp)
	}
	for _, d := range datasets {
		dp := DatasetProv{Name: d.ds.Name, LabelFile: d.ds.LabelFile, Images: len(d.ds.Items)}
		dp.LabelSHA256 = fileSHA256(d.ds.LabelFile)
		sp := d.splits
		dp.Splits = SplitsProv{Source: "drawn", N: len(sp.Splits), Protocol: sp.Protocol, Seed: sp.Seed, ImagesSHA256: sp.ImagesSHA256}
		if sp.Path != "" {
			dp.Splits.Source, dp.Splits.Path, dp.Splits.SHA256 = "file", sp.Path, fileSHA256(sp.Path)
		} else if b, err := sp.Marshal(); err == nil {
			dp.Splits.SHA256 = bytesSHA256(b)
		}
		p.Datasets = append(p.Datasets, dp)
	}
	sort.Slice(p.Models, func(i, j int) bool { return p.Models[i].Served < p.Models[j].Served })
	return p
}

// fileSHA256 is the hex digest of a file's bytes, or "unreadable: ..." naming the error.
func fileSHA256(path string) string {
	fh, err := os.Open(path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return fmt.Sprintf("unreadable: %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func bytesSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeProvenanceJSON writes the provenance document that ends `tables --format json`.
func writeProvenanceJSON(w io.Writer, p *Provenance) error {
	b, err := json.MarshalIndent(struct {
		ID         string      `json:"id"`
		Provenance *Provenance `json:"provenance"`
	}{"provenance", p}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
