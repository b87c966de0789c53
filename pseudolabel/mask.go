package pseudolabel

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/segdiscover/segdiscover/superpixel"
)

const (
	// Unassigned is the mask value of pixels without a concept (PASCAL
	// VOC's "void" index).
	Unassigned = 255
	// MaxConcepts is the number of concept ids a mask can hold, 0..254.
	MaxConcepts = 255
)

// vocColor returns colour i of the PASCAL VOC colour map: the bits of i
// spread over the high bits of red, green and blue, so that neighbouring
// indices get very different colours.
func vocColor(i int) color.RGBA {
	var r, g, b uint8
	for j := 0; j < 8; j++ {
		r |= uint8(i&1) << (7 - j)
		g |= uint8(i>>1&1) << (7 - j)
		b |= uint8(i>>2&1) << (7 - j)
		i >>= 3
	}
	return color.RGBA{r, g, b, 255}
}

// Palette returns the 256-colour palette of concept masks: concept i
// (0..253) gets VOC colour i+1, concept 254 VOC colour 0 (black) and
// Unassigned VOC's void colour (224, 224, 192). The VOC map is shifted by
// one so that concept 0 is not black, which would hide it in overlays; all
// 256 colours are distinct. Each call returns a new slice.
func Palette() color.Palette {
	p := make(color.Palette, 256)
	for i := 0; i < 254; i++ {
		p[i] = vocColor(i + 1)
	}
	p[254] = vocColor(0)
	p[Unassigned] = vocColor(255)
	return p
}

// Settings control Mask. The zero value gives the defaults.
type Settings struct {
	// MinConfidence is the posterior below which a pixel is left
	// Unassigned, in [0, 1]. 0 (the default) keeps every pixel.
	MinConfidence float64
}

// Mask maps per-superpixel concepts back to pixels. concepts[i] is the
// concept of superpixel i, 0..MaxConcepts-1, or negative or Unassigned for
// none; posteriors[i] is the posterior probability of that concept, in
// [0, 1] (nil means 1 everywhere; values outside are clamped, NaN is 0).
//
// It returns the concept mask (pixel values are concept ids, Unassigned for
// none, with Palette()) and the confidence map, round(255·posterior) per
// pixel. Pixels left Unassigned by Settings.MinConfidence keep their
// confidence; superpixels without a concept get confidence 0.
//
// Mask panics if concepts or a non-nil posteriors is shorter than l.N, or
// a concept id is above Unassigned: programmer errors.
func Mask(l *superpixel.Labels, concepts []int, posteriors []float64, s Settings) (*image.Paletted, *image.Gray) {
	if len(concepts) < l.N || (posteriors != nil && len(posteriors) < l.N) {
		panic(fmt.Sprintf("pseudolabel: Mask with %d concepts, %d posteriors for %d superpixels", len(concepts), len(posteriors), l.N))
	}
	ids := make([]uint8, l.N)
	conf := make([]uint8, l.N)
	for i := 0; i < l.N; i++ {
		c := concepts[i]
		if c > Unassigned {
			panic(fmt.Sprintf("pseudolabel: concept id %d of superpixel %d is above %d", c, i, MaxConcepts-1))
		}
		p := 1.0
		if posteriors != nil {
			p = posteriors[i]
		}
		if math.IsNaN(p) { // a failed posterior is no confidence
			p = 0
		}
		if c < 0 || c == Unassigned {
			ids[i], conf[i] = Unassigned, 0
			continue
		}
		conf[i] = uint8(math.Round(255 * min(max(p, 0), 1)))
		ids[i] = uint8(c)
		if p < s.MinConfidence {
			ids[i] = Unassigned
		}
	}
	r := image.Rect(0, 0, l.Width, l.Height)
	mask := image.NewPaletted(r, Palette())
	cm := image.NewGray(r)
	for i, v := range l.Pix {
		mask.Pix[i] = ids[v]
		cm.Pix[i] = conf[v]
	}
	return mask, cm
}

// OverlaySettings control Overlay. The zero value gives the defaults.
type OverlaySettings struct {
	// Alpha is the weight of the concept colour against the image, in
	// (0, 1]; 0 means the default 0.45.
	Alpha float64
	// Boundary is the colour of superpixel boundaries; the zero value
	// means white.
	Boundary color.NRGBA
	// NoBoundaries leaves superpixel boundaries undrawn.
	NoBoundaries bool
}

// Overlay returns img blended with the colours of mask's concepts (its
// palette), with the boundaries of the superpixels l drawn one pixel wide
// (l may be nil: no boundaries). Unassigned pixels are left as they are.
// It panics if img, mask and a non-nil l differ in size.
func Overlay(img *image.NRGBA, mask *image.Paletted, l *superpixel.Labels, s OverlaySettings) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if mask.Rect.Dx() != w || mask.Rect.Dy() != h || (l != nil && (l.Width != w || l.Height != h)) {
		panic("pseudolabel: Overlay of an image, mask and label map of different sizes")
	}
	alpha := s.Alpha
	if alpha <= 0 {
		alpha = 0.45
	}
	alpha = min(alpha, 1)
	pal := mask.Palette
	if len(pal) < 256 {
		pal = append(append(color.Palette(nil), pal...), Palette()[len(pal):]...)
	}
	// Blending tables per palette entry, fixed-point weights.
	a := uint32(math.Round(alpha * 256))
	var tint [256][3]uint32
	for i, c := range pal[:256] {
		r, g, bl, _ := c.RGBA()
		tint[i] = [3]uint32{(r >> 8) * a, (g >> 8) * a, (bl >> 8) * a}
	}
	bc := s.Boundary
	if bc == (color.NRGBA{}) {
		bc = color.NRGBA{255, 255, 255, 255}
	}
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		src := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):]
		mrow := mask.Pix[mask.PixOffset(mask.Rect.Min.X, mask.Rect.Min.Y+y):]
		dst := out.Pix[y*out.Stride:]
		for x := 0; x < w; x++ {
			s4, d4 := src[4*x:4*x+4], dst[4*x:4*x+4]
			id := mrow[x]
			if id == Unassigned {
				copy(d4[:3], s4[:3])
			} else {
				t := &tint[id]
				for c := 0; c < 3; c++ {
					d4[c] = uint8((uint32(s4[c])*(256-a) + t[c] + 128) >> 8)
				}
			}
			d4[3] = 255
		}
	}
	if l != nil && !s.NoBoundaries {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := l.Pix[y*w+x]
				if (x+1 < w && l.Pix[y*w+x+1] != v) || (y+1 < h && l.Pix[(y+1)*w+x] != v) {
					out.SetNRGBA(x, y, bc)
				}
			}
		}
	}
	return out
}
