package vit

import (
	"image"
	"math"

	"github.com/disintegration/imaging"
	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/superpixel"
)

// DefaultSize is the default short side, in pixels, of the network input.
const DefaultSize = 224

// Settings are the superpixel feature settings; the zero value means the
// defaults.
type Settings struct {
	Size    int  // short side of the network input in pixels; 0 = DefaultSize
	Keys    bool // the last attention's keys (STEGO's "KK") instead of the output tokens
	Threads int  // goroutines per forward pass; 0 = 1
}

func (s Settings) size() int {
	if s.Size <= 0 {
		return DefaultSize
	}
	return s.Size
}

// InputSize returns the network input size for a w x h image: the short
// side scaled to size, both sides rounded to a multiple of the patch
// (at least one patch). Beyond an aspect ratio of 4 the long side is held
// to 4*size instead: attention costs the square of the tokens.
func (m *Model) InputSize(w, h, size int) (iw, ih int) {
	p := m.Arch.Patch
	s := float64(size) / float64(min(w, h))
	if float64(max(w, h))*s > 4*float64(size) {
		s = 4 * float64(size) / float64(max(w, h))
	}
	round := func(v int) int { return max(1, int(math.Round(float64(v)*s/float64(p)))) * p }
	return round(w), round(h)
}

// Preprocess resizes img (Catmull-Rom, the bicubic of PIL that the Hugging
// Face image processors use) to InputSize and normalises it by m.Pre. It
// returns the channel-major pixels and their height and width.
func (m *Model) Preprocess(img image.Image, size int) ([]float32, int, int) {
	b := img.Bounds()
	iw, ih := m.InputSize(b.Dx(), b.Dy(), size)
	var r *image.NRGBA
	if iw == b.Dx() && ih == b.Dy() {
		r = imaging.Clone(img)
	} else {
		r = imaging.Resize(img, iw, ih, imaging.CatmullRom)
	}
	return m.Normalize(r), ih, iw
}

// Normalize returns the channel-major pixels of img scaled to [0, 1] and
// normalised by m.Pre.
func (m *Model) Normalize(img *image.NRGBA) []float32 {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	x := make([]float32, 3*w*h)
	var scale, shift [3]float32
	for c := range 3 {
		scale[c] = 1 / (255 * m.Pre.Std[c])
		shift[c] = m.Pre.Mean[c] / m.Pre.Std[c]
	}
	for y := range h {
		row := img.Pix[y*img.Stride:]
		for xx := range w {
			for c := range 3 {
				x[c*w*h+y*w+xx] = float32(row[4*xx+c])*scale[c] - shift[c]
			}
		}
	}
	return x
}

// SuperpixelFeatures returns one row per superpixel of l: the mean over
// its pixels of the L2-normalised patch tokens of img (or keys, with
// s.Keys), the token map resized bilinearly to l's size. l must be the
// size of img.
func (m *Model) SuperpixelFeatures(img image.Image, l *superpixel.Labels, s Settings) *mat.Dense {
	x, h, w := m.Preprocess(img, s.size())
	o := m.Forward(x, h, w, s.Threads, s.Keys)
	t := o.Tokens
	if s.Keys {
		t = o.Keys
	}
	return PoolSuperpixels(o, t, l)
}

// PoolSuperpixels averages the L2-normalised patch rows of t (an Output's
// Tokens or Keys) over the superpixels of l, the grid stretched over the
// whole label map with bilinear weights (align_corners=False).
func PoolSuperpixels(o *Output, t []float32, l *superpixel.Labels) *mat.Dense {
	d := len(t) / (1 + o.GH*o.GW)
	cells := o.GH * o.GW
	unit := make([]float64, cells*d)
	for i := range cells {
		p := o.Patch(t, i)
		var ss float64
		for _, v := range p {
			ss += float64(v) * float64(v)
		}
		inv := 1 / max(math.Sqrt(ss), 1e-12) // torch.nn.functional.normalize's eps
		for j, v := range p {
			unit[i*d+j] = float64(v) * inv
		}
	}
	// Bilinear taps along each axis, shared by every row and column.
	type tap struct {
		i0, i1 int
		w1     float64
	}
	taps := func(in, out int) []tap {
		ts := make([]tap, out)
		sc := float64(in) / float64(out)
		for i := range ts {
			src := max((float64(i)+0.5)*sc-0.5, 0)
			i0 := min(int(src), in-1)
			ts[i] = tap{i0, min(i0+1, in-1), src - float64(i0)}
		}
		return ts
	}
	tx, ty := taps(o.GW, l.Width), taps(o.GH, l.Height)
	// Weight of each grid cell in each superpixel (dense: a few MB at
	// most), then one weighted sum per (superpixel, cell) pair touched, in
	// cell order so that the result is deterministic.
	weight := make([]float64, l.N*cells)
	count := make([]float64, l.N)
	for y := range l.Height {
		a := ty[y]
		for x := range l.Width {
			id := int(l.Pix[y*l.Width+x])
			b := tx[x]
			wm := weight[id*cells : (id+1)*cells]
			wm[a.i0*o.GW+b.i0] += (1 - a.w1) * (1 - b.w1)
			wm[a.i0*o.GW+b.i1] += (1 - a.w1) * b.w1
			wm[a.i1*o.GW+b.i0] += a.w1 * (1 - b.w1)
			wm[a.i1*o.GW+b.i1] += a.w1 * b.w1
			count[id]++
		}
	}
	f := mat.NewDense(l.N, d, nil)
	for id := range l.N {
		if count[id] == 0 {
			continue
		}
		row := f.RawRowView(id)
		for cell, wt := range weight[id*cells : (id+1)*cells] {
			if wt == 0 {
				continue
			}
			wt /= count[id]
			for j, v := range unit[cell*d : (cell+1)*d] {
				row[j] += wt * v
			}
		}
	}
	return f
}
