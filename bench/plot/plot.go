// Package plot draws prediction-versus-MOS scatter plots as PNG files.
package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/agiqa-bench/agiqa/internal/atomicfile"
)

// Side is the width and height of every plot; at vgimg.DefaultDPI (96) the PNG is SidePixels square.
const Side = 5 * vg.Inch

// SidePixels is the PNG's width and height in pixels.
const SidePixels = 480 // 5 in x 96 dpi

// Scatter writes a PNG at path plotting pred (x) against mos (y). Pairs with a non-finite value are
// left out and counted in the title; at least one finite pair is required. The file is written to a
// temporary name and renamed, so a failed call leaves no partial PNG behind.
func Scatter(path string, title string, pred, mos []float64, xlabel, ylabel string) error {
	if len(pred) != len(mos) {
		return fmt.Errorf("plot %s: %d predictions but %d MOS values", path, len(pred), len(mos))
	}
	xys := make(plotter.XYs, 0, len(pred))
	dropped := 0
	for i := range pred {
		if !finite(pred[i]) || !finite(mos[i]) {
			dropped++
			continue
		}
		xys = append(xys, plotter.XY{X: pred[i], Y: mos[i]})
	}
	if len(xys) == 0 {
		return fmt.Errorf("plot %s: no finite (prediction, MOS) pair among %d", path, len(pred))
	}
	if dropped > 0 {
		title = fmt.Sprintf("%s (%d non-finite points left out)", title, dropped)
	}

	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	s.GlyphStyle.Shape = draw.CircleGlyph{}
	s.GlyphStyle.Radius = vg.Points(1.5)
	s.GlyphStyle.Color = color.NRGBA{R: 31, G: 119, B: 180, A: 160} // translucent, so overlaps show density
	p.Add(s)

	c := vgimg.NewWith(vgimg.UseWH(Side, Side), vgimg.UseDPI(vgimg.DefaultDPI))
	p.Draw(draw.New(c))

	if err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w)
		return err
	}); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Series is one model's predictions on one split group (a split, or all splits pooled).
type Series struct {
	Model  string // served model name or catalogue key
	Group  string // e.g. "agiqa-3k split 3"; empty means "all"
	Pred   []float64
	MOS    []float64
	XLabel string // default "prediction"
	YLabel string // default "MOS"
}

// FileName turns a model and group into a portable file name: letters, digits, '.', '-' and '_'
// kept, every other run of characters replaced by one '_', ".png" appended.
func FileName(model, group string) string {
	if group == "" {
		group = "all"
	}
	var b strings.Builder
	under := false
	for _, r := range model + "_" + group {
		ok := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
		if ok && !(r == '_' && under) {
			b.WriteRune(r)
			under = r == '_'
			continue
		}
		if !ok && !under {
			b.WriteByte('_')
			under = true
		}
	}
	name := strings.Trim(b.String(), "._-")
	if name == "" {
		name = "plot"
	}
	return name + ".png"
}

// WriteAll writes one scatter PNG per series into dir (created if missing) and returns the paths in
// series order. Names that collide after sanitising, ignoring case (one file on case-insensitive file
// systems), get "-2", "-3", ... before ".png".
func WriteAll(dir string, series []Series) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plot: output directory: %w", err)
	}
	used := map[string]bool{}
	var paths []string
	for _, s := range series {
		name := FileName(s.Model, s.Group)
		base := strings.TrimSuffix(name, ".png")
		for k := 2; used[strings.ToLower(name)]; k++ {
			name = fmt.Sprintf("%s-%d.png", base, k)
		}
		used[strings.ToLower(name)] = true
		xl, yl := s.XLabel, s.YLabel
		if xl == "" {
			xl = "prediction"
		}
		if yl == "" {
			yl = "MOS"
		}
		group := s.Group
		if group == "" {
			group = "all"
		}
		path := filepath.Join(dir, name)
		if err := Scatter(path, s.Model+" \u2014 "+group, s.Pred, s.MOS, xl, yl); err != nil {
			return paths, fmt.Errorf("plot %s (%s): %w", s.Model, group, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
