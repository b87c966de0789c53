package pseudolabel

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Legend draws the key of the concept colours: one row per concept
// 0..k-1, a swatch of its Palette colour and its name (names[i] when given
// and not empty, else "concept i"), then a row for Unassigned. Text is
// black on white, 7×13 px glyphs; rows are 18 px high. It panics if k is
// outside 0..MaxConcepts.
func Legend(k int, names []string) *image.NRGBA {
	if k < 0 || k > MaxConcepts {
		panic(fmt.Sprintf("pseudolabel: Legend of %d concepts", k))
	}
	pal := Palette()
	keys := make([]Key, 0, k+1)
	for i := 0; i < k; i++ {
		var n string
		if i < len(names) {
			n = names[i]
		}
		keys = append(keys, Key{ID: i, Name: n, Color: pal[i]})
	}
	keys = append(keys, Key{ID: Unassigned, Color: pal[Unassigned]})
	return DrawLegend(keys, 0)
}

// Key is one row of a legend: a concept id, its name and its colour.
type Key struct {
	ID    int
	Name  string
	Color color.Color
}

// DrawLegend draws the rows of keys: a swatch of each colour and "id name"
// (the name alone when it is empty is replaced by "concept id"), black on
// white, 7×13 px glyphs, rows 18 px high. At most maxRows rows are drawn
// (0: all); the rest are summed up in a last row "+N more".
func DrawLegend(keys []Key, maxRows int) *image.NRGBA {
	const (
		row    = 18
		swatch = 14
		pad    = 4
	)
	more := 0
	if maxRows > 0 && len(keys) > maxRows {
		more = len(keys) - (maxRows - 1)
		keys = keys[:maxRows-1]
	}
	labels := make([]string, len(keys), len(keys)+1)
	for i, k := range keys {
		switch {
		case k.ID == Unassigned:
			labels[i] = fmt.Sprintf("%d %s", k.ID, cmp(k.Name, "unassigned"))
		case k.Name == "":
			labels[i] = fmt.Sprintf("concept %d", k.ID)
		default:
			labels[i] = fmt.Sprintf("%d %s", k.ID, k.Name)
		}
	}
	if more > 0 {
		labels = append(labels, fmt.Sprintf("+%d more", more))
	}
	face := basicfont.Face7x13
	textW := 0
	for _, s := range labels {
		textW = max(textW, font.MeasureString(face, s).Ceil())
	}
	w, h := pad+swatch+pad+textW+pad, len(labels)*row+pad
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := font.Drawer{Dst: img, Src: image.Black, Face: face}
	for i, s := range labels {
		y0 := pad + i*row
		if i < len(keys) {
			sw := image.Rect(pad, y0, pad+swatch, y0+swatch)
			draw.Draw(img, sw, image.NewUniform(color.Gray{96}), image.Point{}, draw.Src)
			draw.Draw(img, sw.Inset(1), image.NewUniform(keys[i].Color), image.Point{}, draw.Src)
		}
		d.Dot = fixed.P(pad+swatch+pad, y0+swatch-3)
		d.DrawString(s)
	}
	return img
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Beside returns img with legend to its right, on white, the legend
// enlarged by a whole factor (nearest neighbour) on images taller than 480
// px so that it stays readable when the image is viewed scaled down.
func Beside(img, legend *image.NRGBA) *image.NRGBA {
	b := img.Bounds()
	s := max(1, b.Dy()/480)
	lw, lh := legend.Rect.Dx()*s, legend.Rect.Dy()*s
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx()+lw, max(b.Dy(), lh)))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(0, 0, b.Dx(), b.Dy()), img, b.Min, draw.Src)
	for y := range lh {
		src := legend.Pix[(y/s)*legend.Stride:]
		dst := out.Pix[y*out.Stride+4*b.Dx():]
		for x := range lw {
			copy(dst[4*x:4*x+4], src[4*(x/s):4*(x/s)+4])
		}
	}
	return out
}
