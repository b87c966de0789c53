package htmlreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// Report is everything the page shows.
type Report struct {
	Title    string
	InDir    string
	OutDir   string
	Images   int // inputs listed
	Failed   int
	Wall     string // the run's duration, for people
	Source   string // what the statistics were computed on: "refined masks (masks/)" or "pseudo-labels"
	Concepts []Concept
	Sample   []Picture // a sample of overlays
	Stages   []Stage
	Config   []Setting
	Failures []Failure // at most a few hundred; FailuresMore the rest
	// FailuresMore is the number of failures not listed.
	FailuresMore int
	BIC          []BICPoint // the BIC curve when K was chosen automatically
	ChosenK      int
}

// Concept is one concept's section.
type Concept struct {
	ID         int
	Name       string
	Colour     string  // "#rrggbb"
	PixelShare float64 // of all pixels, 0..1
	Images     int     // images where it covers at least 1% of the pixels
	MeanConf   float64 // mean confidence of its pixels, 0..1
	Crops      []Picture
	Dominant   []Picture
}

// Picture is a thumbnail that links to a larger picture.
type Picture struct {
	Src, Href string // relative to the page
	Caption   string
}

// Stage is one line of the stage table.
type Stage struct {
	Name                     string
	Ran                      bool
	Computed, Cached, Failed int
	Seconds                  float64
	Note                     string
}

// Setting is one configuration key and its value.
type Setting struct{ Key, Value string }

// Failure is one failed input.
type Failure struct{ Path, Stage, Error string }

// BICPoint is one point of the BIC curve.
type BICPoint struct {
	K   int
	BIC float64
}

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"pct":    func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"f2":     func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"secs":   func(v float64) string { return fmt.Sprintf("%.1f s", v) },
	"css":    func(s string) template.CSS { return template.CSS(s) },
	"mul100": func(v float64) float64 { return 100 * v },
}).Parse(pageHTML))

// Encode writes the page of r.
func Encode(w io.Writer, r *Report) error {
	data := struct {
		*Report
		Plot template.HTML
	}{r, template.HTML(bicPlot(r.BIC, r.ChosenK))}
	return page.Execute(w, data)
}

// bicPlot draws the BIC curve as inline SVG, the chosen K marked.
func bicPlot(pts []BICPoint, chosen int) string {
	if len(pts) < 2 {
		return ""
	}
	const W, H, L, B, T, R = 520.0, 220.0, 70.0, 30.0, 10.0, 10.0
	kmin, kmax := pts[0].K, pts[len(pts)-1].K
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		lo, hi = min(lo, p.BIC), max(hi, p.BIC)
	}
	if hi == lo {
		hi = lo + 1
	}
	x := func(k int) float64 { return L + (W-L-R)*float64(k-kmin)/float64(max(1, kmax-kmin)) }
	y := func(v float64) float64 { return T + (H-T-B)*(hi-v)/(hi-lo) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="BIC against K">`, W, H, W, H)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888"/>`, L, H-B, W-R, H-B)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888"/>`, L, T, L, H-B)
	var path strings.Builder
	for i, p := range pts {
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(p.K), y(p.BIC))
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="10" text-anchor="middle">%d</text>`, x(p.K), H-B+14, p.K)
	}
	fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#246" stroke-width="2"/>`, strings.TrimSpace(path.String()))
	for _, p := range pts {
		r, fill := 3.0, "#246"
		if p.K == chosen {
			r, fill = 6, "#c33"
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%g" fill="%s"><title>K=%d BIC=%.4g</title></circle>`, x(p.K), y(p.BIC), r, fill, p.K, p.BIC)
	}
	fmt.Fprintf(&b, `<text x="4" y="%g" font-size="10">%.4g</text><text x="4" y="%g" font-size="10">%.4g</text>`, T+8, hi, H-B, lo)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="middle">K (red: chosen, lowest BIC)</text>`, (L+W)/2, H-2)
	b.WriteString(`</svg>`)
	return b.String()
}
