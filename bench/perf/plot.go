package perf

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"sort"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	bplot "github.com/agiqa-bench/agiqa/bench/plot"
	"github.com/agiqa-bench/agiqa/internal/atomicfile"
)

// Plot size: 7 x 4.5 in at 96 dpi.
const (
	plotW = 7 * vg.Inch
	plotH = 4.5 * vg.Inch
)

// WritePlots writes PNGs into dir (created if needed) and returns their
// paths:
//
//   - <model>_throughput_latency.png per model: inferences/s against p99
//     latency, one line per batch size (and per report when a model has
//     several), points in load order;
//   - <model>_b<batch>_latency.png per model and batch size: p50, p90, p95,
//     p99 and p99.9 latency against the load level.
//
// Levels without a successful request are left out.
func WritePlots(dir string, reports ...*Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plot: output directory: %w", err)
	}
	var models []string
	byModel := map[string][]*Report{}
	for _, r := range reports {
		if _, ok := byModel[r.Model]; !ok {
			models = append(models, r.Model)
		}
		byModel[r.Model] = append(byModel[r.Model], r)
	}
	var paths []string
	for _, m := range models {
		p, err := throughputLatency(dir, m, byModel[m])
		if err != nil {
			return paths, err
		}
		if p != "" {
			paths = append(paths, p)
		}
		for ri, r := range byModel[m] {
			for _, b := range batchesOf(r) {
				tag := fmt.Sprintf("b%d", b)
				if len(byModel[m]) > 1 {
					tag = fmt.Sprintf("run%d_b%d", ri+1, b)
				}
				p, err := percentiles(dir, m, tag, r, b)
				if err != nil {
					return paths, err
				}
				if p != "" {
					paths = append(paths, p)
				}
			}
		}
	}
	return paths, nil
}

func batchesOf(r *Report) []int {
	seen := map[int]bool{}
	var out []int
	for _, l := range r.Levels {
		if !seen[l.Batch] {
			seen[l.Batch] = true
			out = append(out, l.Batch)
		}
	}
	sort.Ints(out)
	return out
}

func measured(l *Level) bool { return l.Total != nil && l.Total.Client.Success > 0 }

func throughputLatency(dir, model string, reports []*Report) (string, error) {
	p := gplot.New()
	p.Title.Text = fmt.Sprintf("%s: throughput vs p99 latency", model)
	p.X.Label.Text = "p99 latency (ms)"
	p.Y.Label.Text = "inferences / s"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	k := 0
	for ri, r := range reports {
		for _, b := range batchesOf(r) {
			var xys plotter.XYs
			for _, l := range r.Levels {
				if l.Batch == b && measured(l) {
					m := l.Total.Client
					xys = append(xys, plotter.XY{X: m.Latency.P99US / 1e3, Y: m.InferencesPerSec})
				}
			}
			if len(xys) == 0 {
				continue
			}
			name := fmt.Sprintf("batch %d", b)
			if len(reports) > 1 {
				name = fmt.Sprintf("run %d %s", ri+1, name)
			}
			if err := addLine(p, name, xys, k); err != nil {
				return "", err
			}
			k++
		}
	}
	if k == 0 {
		return "", nil
	}
	return savePlot(p, filepath.Join(dir, fileName(model, "throughput_latency")))
}

func percentiles(dir, model, tag string, r *Report, b int) (string, error) {
	p := gplot.New()
	loadLabel := "concurrency (requests in flight per target)"
	if r.Mode == "rate" {
		loadLabel = "request rate (requests/s per target)"
	}
	p.Title.Text = fmt.Sprintf("%s, batch %d: latency percentiles", model, b)
	p.X.Label.Text = loadLabel
	p.Y.Label.Text = "latency (ms)"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	pcts := []struct {
		name string
		get  func(LatencySummary) float64
	}{
		{"p50", func(s LatencySummary) float64 { return s.P50US }},
		{"p90", func(s LatencySummary) float64 { return s.P90US }},
		{"p95", func(s LatencySummary) float64 { return s.P95US }},
		{"p99", func(s LatencySummary) float64 { return s.P99US }},
		{"p99.9", func(s LatencySummary) float64 { return s.P999US }},
	}
	n := 0
	for k, pc := range pcts {
		var xys plotter.XYs
		for _, l := range r.Levels {
			if l.Batch == b && measured(l) {
				xys = append(xys, plotter.XY{X: l.Load(), Y: pc.get(l.Total.Client.Latency) / 1e3})
			}
		}
		if len(xys) == 0 {
			continue
		}
		if err := addLine(p, pc.name, xys, k); err != nil {
			return "", err
		}
		n++
	}
	if n == 0 {
		return "", nil
	}
	return savePlot(p, filepath.Join(dir, fileName(model, tag+"_latency")))
}

func addLine(p *gplot.Plot, name string, xys plotter.XYs, k int) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	c := plotutil.Color(k)
	l.Color = c
	l.Width = vg.Points(1.5)
	s.Color = c
	s.Shape = draw.CircleGlyph{}
	s.Radius = vg.Points(2.5)
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

func fileName(model, what string) string { return bplot.FileName(model, what) }

// savePlot writes the PNG through a temporary file, so a failure leaves no
// partial image behind.
func savePlot(p *gplot.Plot, path string) (string, error) {
	p.BackgroundColor = color.White
	c := vgimg.NewWith(vgimg.UseWH(plotW, plotH), vgimg.UseDPI(vgimg.DefaultDPI))
	p.Draw(draw.New(c))
	if err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w)
		return err
	}); err != nil {
		return "", fmt.Errorf("plot %s: %w", path, err)
	}
	return path, nil
}
