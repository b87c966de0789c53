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
	const (
		row    = 18
		swatch = 14
		pad    = 4
	)
	labels := make([]string, 0, k+1)
	for i := 0; i < k; i++ {
		if i < len(names) && names[i] != "" {
			labels = append(labels, fmt.Sprintf("%d %s", i, names[i]))
		} else {
			labels = append(labels, fmt.Sprintf("concept %d", i))
		}
	}
	labels = append(labels, fmt.Sprintf("%d unassigned", Unassigned))
	face := basicfont.Face7x13
	textW := 0
	for _, s := range labels {
		textW = max(textW, font.MeasureString(face, s).Ceil())
	}
	w, h := pad+swatch+pad+textW+pad, len(labels)*row+pad
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	pal := Palette()
	d := font.Drawer{Dst: img, Src: image.Black, Face: face}
	for i, s := range labels {
		id := i
		if i == k {
			id = Unassigned
		}
		y0 := pad + i*row
		sw := image.Rect(pad, y0, pad+swatch, y0+swatch)
		draw.Draw(img, sw, image.NewUniform(color.Gray{96}), image.Point{}, draw.Src)
		draw.Draw(img, sw.Inset(1), image.NewUniform(pal[id]), image.Point{}, draw.Src)
		d.Dot = fixed.P(pad+swatch+pad, y0+swatch-3)
		d.DrawString(s)
	}
	return img
}
