package main

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/metrics"
)

// Inline SVG plots of the report (bench/plot draws PNG files with gonum; the report must be one file).
const (
	svgW, svgH = 340, 260
	padL, padR = 46, 10
	padT, padB = 10, 36
	// maxScatterPoints caps a scatter's circles: every k-th pair is drawn beyond it (said in the caption).
	maxScatterPoints = 2500
)

type axis struct{ lo, hi float64 }

func rangeOf(v []float64) axis {
	a := axis{math.Inf(1), math.Inf(-1)}
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			a.lo, a.hi = math.Min(a.lo, x), math.Max(a.hi, x)
		}
	}
	if a.lo > a.hi {
		return axis{0, 1}
	}
	if a.lo == a.hi {
		a.lo, a.hi = a.lo-0.5, a.hi+0.5
	}
	pad := (a.hi - a.lo) * 0.04
	return axis{a.lo - pad, a.hi + pad}
}

func (a axis) x(v float64) float64 { return padL + (v-a.lo)/(a.hi-a.lo)*(svgW-padL-padR) }
func (a axis) y(v float64) float64 { return svgH - padB - (v-a.lo)/(a.hi-a.lo)*(svgH-padT-padB) }

// anchors keep the end labels of an x axis inside the plot.
var anchors = [3]string{"start", "middle", "end"}

// ticks are three labels per axis: the ends and the middle.
func (a axis) ticks() []float64 { return []float64{a.lo, (a.lo + a.hi) / 2, a.hi} }

func svgFrame(b *strings.Builder, xa, ya axis, xlabel, ylabel string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`, svgW, svgH, svgW, svgH)
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#bbb"/>`, padL, padT, svgW-padL-padR, svgH-padT-padB)
	for i, t := range xa.ticks() {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="10" text-anchor="%s">%s</text>`, xa.x(t), svgH-padB+12, anchors[i], tick(t))
	}
	for _, t := range ya.ticks() {
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`, padL-3, ya.y(t)+3, tick(t))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" text-anchor="middle">%s</text>`, (svgW+padL)/2, svgH-6, esc(xlabel))
	fmt.Fprintf(b, `<text x="12" y="%d" font-size="11" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>`, svgH/2, svgH/2, esc(ylabel))
}

func tick(v float64) string {
	if v == 0 {
		v = 0 // no "-0"
	}
	return fmt.Sprintf("%.3g", v)
}

// scatterSVG plots pred (x) against mos (y) with the 4-parameter logistic fit as a curve; the
// returned note says how many points are drawn and why the fit is missing, when it is.
func scatterSVG(pred, mos []float64, xlabel string) (string, string) {
	var b strings.Builder
	xa, ya := rangeOf(pred), rangeOf(mos)
	svgFrame(&b, xa, ya, xlabel, "MOS")
	step := 1
	if len(pred) > maxScatterPoints {
		step = (len(pred) + maxScatterPoints - 1) / maxScatterPoints
	}
	drawn := 0
	for i := 0; i < len(pred); i += step {
		if math.IsNaN(pred[i]) || math.IsInf(pred[i], 0) || math.IsNaN(mos[i]) {
			continue
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="1.6" fill="#3465a4" fill-opacity="0.45"/>`, xa.x(pred[i]), ya.y(mos[i]))
		drawn++
	}
	note := fmt.Sprintf("%d points", len(pred))
	if step > 1 {
		note = fmt.Sprintf("%d of %d points drawn (every %d-th)", drawn, len(pred), step)
	}
	if fit, err := metrics.FitLogistic(metrics.Fit4, pred, mos); err != nil {
		note += "; no logistic fit: " + err.Error()
	} else {
		var pts []string
		for i := 0; i <= 80; i++ {
			x := xa.lo + (xa.hi-xa.lo)*float64(i)/80
			y := fit.Apply(x)
			if math.IsNaN(y) || math.IsInf(y, 0) {
				continue
			}
			y = math.Max(ya.lo, math.Min(ya.hi, y))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xa.x(x), ya.y(y)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#c4281c" stroke-width="1.8" points="%s"/>`, strings.Join(pts, " "))
		note += "; red: 4-parameter logistic fit"
	}
	b.WriteString("</svg>")
	return b.String(), note
}

// spreadSVG draws each metric's per-split values as dots on one row, the mean as a bar.
func spreadSVG(per map[string][]float64) string {
	keys := []string{"srcc", "plcc", "krcc"}
	var all []float64
	for _, k := range keys {
		all = append(all, per[k]...)
	}
	xa := rangeOf(all)
	var b strings.Builder
	h := padT + 24*len(keys) + padB
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`, svgW, h, svgW, h)
	for i, t := range xa.ticks() {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="%s">%s</text>`, xa.x(t), h-padB+12, anchors[i], tick(t))
	}
	for i, k := range keys {
		y := padT + 24*i + 12
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end">%s</text>`, padL-4, y+4, strings.ToUpper(k))
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#ddd"/>`, padL, svgW-padR, y, y)
		vals := append([]float64(nil), per[k]...)
		sort.Float64s(vals)
		sum, n := 0.0, 0
		for _, v := range vals {
			if math.IsNaN(v) {
				continue
			}
			sum += v
			n++
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="3" fill="#3465a4" fill-opacity="0.6"/>`, xa.x(v), y)
		}
		if n > 0 {
			m := xa.x(sum / float64(n))
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#c4281c" stroke-width="2"/>`, m, m, y-8, y+8)
		}
	}
	b.WriteString("</svg>")
	return b.String()
}
