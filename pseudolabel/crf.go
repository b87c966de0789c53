package pseudolabel

import (
	"fmt"
	"image"
	"math"

	"github.com/disintegration/imaging"
)

// CRFSettings configure DenseCRF. The zero value gives the defaults, the
// settings STEGO (Hamilton et al., ICLR 2022) uses to refine its masks.
type CRFSettings struct {
	// Iterations of mean field; 0: 10.
	Iterations int
	// The smoothness (Gaussian) kernel: spatial standard deviation in
	// pixels, 0: 1; Potts weight, 0: 3.
	PosXY, PosW float64
	// The appearance (bilateral) kernel: spatial standard deviation in
	// pixels, 0: 67; colour standard deviation in 8-bit RGB levels, 0: 3;
	// Potts weight, 0: 4.
	BiXY, BiRGB, BiW float64
	// Clip is the least probability a unary takes (its energy is
	// -log(max(p, Clip))), as pydensecrf's unary_from_softmax; 0: 1e-5.
	Clip float64
}

func (s CRFSettings) withDefaults() CRFSettings {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if s.Iterations == 0 {
		s.Iterations = 10
	}
	def(&s.PosXY, 1)
	def(&s.PosW, 3)
	def(&s.BiXY, 67)
	def(&s.BiRGB, 3)
	def(&s.BiW, 4)
	def(&s.Clip, 1e-5)
	return s
}

// DenseCRF refines the per-pixel class probabilities prob of img (pixel-
// major: prob[(y*W+x)*k+c], each pixel's k values a distribution) with the
// fully connected CRF of Krähenbühl and Koltun ("Efficient inference in
// fully connected CRFs with Gaussian edge potentials", NeurIPS 2011):
// unaries -log p, Potts pairwise terms weighted by a Gaussian kernel on
// position and a bilateral kernel on position and colour, mean-field
// inference with both kernels evaluated on permutohedral lattices and
// normalised symmetrically, as pydensecrf does. It returns the
// approximate marginals Q in prob's layout. img's bounds give W and H.
//
// It panics if len(prob) != W*H*k or k < 1: programmer errors.
func DenseCRF(img *image.NRGBA, prob []float32, k int, s CRFSettings) []float32 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	n := w * h
	if k < 1 || len(prob) != n*k {
		panic(fmt.Sprintf("pseudolabel: DenseCRF with %d probabilities for %dx%d pixels and %d classes", len(prob), w, h, k))
	}
	s = s.withDefaults()
	unary := make([]float32, n*k)
	for i, p := range prob {
		unary[i] = float32(math.Log(math.Max(float64(p), s.Clip)))
	}
	q := make([]float32, n*k)
	copy(q, unary)
	softmaxRows(q, k)
	if n == 0 || s.Iterations < 0 {
		return q
	}
	fb := make([]float32, n*5)
	fg := make([]float32, n*2)
	for y := range h {
		for x := range w {
			i := y*w + x
			o := img.PixOffset(b.Min.X+x, b.Min.Y+y)
			fb[5*i] = float32(float64(x) / s.BiXY)
			fb[5*i+1] = float32(float64(y) / s.BiXY)
			for c := range 3 {
				fb[5*i+2+c] = float32(float64(img.Pix[o+c]) / s.BiRGB)
			}
			fg[2*i] = float32(float64(x) / s.PosXY)
			fg[2*i+1] = float32(float64(y) / s.PosXY)
		}
	}
	kernels := []*crfKernel{newCRFKernel(fb, n, 5, s.BiW), newCRFKernel(fg, n, 2, s.PosW)}
	tmp := make([]float32, n*k)
	for range s.Iterations {
		next := make([]float32, n*k)
		copy(next, unary)
		for _, kr := range kernels {
			kr.apply(q, tmp, k)
			for i, v := range tmp {
				next[i] += v
			}
		}
		softmaxRows(next, k)
		q = next
	}
	return q
}

// crfKernel is one Gaussian kernel of the CRF with its symmetric
// normalisation D^-1/2 K D^-1/2 (D = K·1) and Potts weight.
type crfKernel struct {
	lat    *lattice
	norm   []float32
	weight float32
}

func newCRFKernel(f []float32, n, d int, weight float64) *crfKernel {
	lat := newLattice(f, n, d)
	norm := make([]float32, n)
	for i := range norm {
		norm[i] = 1
	}
	lat.filter(norm, norm, 1)
	for i, v := range norm {
		norm[i] = float32(1 / math.Sqrt(float64(v)+1e-20))
	}
	return &crfKernel{lat: lat, norm: norm, weight: float32(weight)}
}

// apply writes weight · D^-1/2 K D^-1/2 q into out: the Potts message
// (pydensecrf's PottsCompatibility: a label is rewarded by the kernel-
// weighted mass of the same label around the pixel).
func (kr *crfKernel) apply(q, out []float32, k int) {
	for i, nv := range kr.norm {
		for c := range k {
			out[i*k+c] = q[i*k+c] * nv
		}
	}
	kr.lat.filter(out, out, k)
	for i, nv := range kr.norm {
		for c := range k {
			out[i*k+c] *= nv * kr.weight
		}
	}
}

// softmaxRows replaces each row of k logits by its softmax.
func softmaxRows(z []float32, k int) {
	for i := 0; i+k <= len(z); i += k {
		row := z[i : i+k]
		m := row[0]
		for _, v := range row[1:] {
			m = max(m, v)
		}
		var s float64
		for c, v := range row {
			e := math.Exp(float64(v - m))
			row[c] = float32(e)
			s += e
		}
		inv := float32(1 / s)
		for c := range row {
			row[c] *= inv
		}
	}
}

// CRFMaxPixels bounds the image the CRF works on: a larger image is
// scaled down by z to about this many pixels (aspect kept), the kernels'
// spatial standard deviations are scaled by z too, so that they cover the
// same part of the image, and the marginals are resized bilinearly back
// to full size before the arg-max. The mean field's cost is linear in the
// pixels (about 1 µs per pixel and concept on one core, bench
// BenchmarkDenseCRF), so this bounds its time and memory per image; the
// edges keep full resolution where the colours change, through the
// bilinear upsampling of marginals that are sharp there.
const CRFMaxPixels = 160 * 120

// CRFMask is the concept mask of img refined by DenseCRF: posteriors
// returns the per-pixel probabilities (pixel-major, k per pixel) of the
// image it is given, img itself or img scaled down to CRFMaxPixels; the
// mask (concept ids, Palette()) and confidence (round(255·marginal)) have
// img's bounds.
func CRFMask(img *image.NRGBA, k int, posteriors func(*image.NRGBA) []float32, s CRFSettings) (*image.Paletted, *image.Gray) {
	work, s := crfWork(img, s)
	q := DenseCRF(work, posteriors(work), k, s)
	wb := work.Bounds()
	return MarginalMask(q, k, wb.Dx(), wb.Dy(), img.Bounds())
}

// crfWork returns the image the CRF works on (img, or img scaled down to
// CRFMaxPixels) and the settings with their spatial widths scaled alike.
func crfWork(img *image.NRGBA, s CRFSettings) (*image.NRGBA, CRFSettings) {
	b := img.Bounds()
	s = s.withDefaults()
	if a := b.Dx() * b.Dy(); a > CRFMaxPixels {
		z := math.Sqrt(float64(CRFMaxPixels) / float64(a))
		s.PosXY *= z
		s.BiXY *= z
		return imaging.Resize(img, max(1, int(float64(b.Dx())*z)), max(1, int(float64(b.Dy())*z)), imaging.Linear), s
	}
	return img, s
}

// MarginalMask is the arg-max mask and confidence of the marginals q
// (pixel-major, k per pixel, over a w x h grid), resized bilinearly (pixel
// centres aligned, as OpenCV and PyTorch's align_corners=false) to the
// bounds r before the arg-max. It panics if len(q) != w*h*k.
func MarginalMask(q []float32, k, w, h int, r image.Rectangle) (*image.Paletted, *image.Gray) {
	if len(q) != w*h*k || k < 1 || k > MaxConcepts {
		panic(fmt.Sprintf("pseudolabel: MarginalMask with %d values for %dx%d pixels and %d concepts", len(q), w, h, k))
	}
	mask := image.NewPaletted(r, Palette())
	conf := image.NewGray(r)
	ow, oh := r.Dx(), r.Dy()
	src := func(o, n, i int) (int, int, float32) {
		if o == n {
			return i, i, 0
		}
		f := (float64(i)+0.5)*float64(n)/float64(o) - 0.5
		f = math.Max(0, f)
		i0 := min(n-1, int(f))
		return i0, min(n-1, i0+1), float32(f - float64(i0))
	}
	row := make([]float32, k)
	for y := range oh {
		y0, y1, ly := src(oh, h, y)
		for x := range ow {
			x0, x1, lx := src(ow, w, x)
			a, bb := q[(y0*w+x0)*k:][:k], q[(y0*w+x1)*k:][:k]
			c, d := q[(y1*w+x0)*k:][:k], q[(y1*w+x1)*k:][:k]
			best := 0
			for j := range k {
				top := a[j] + lx*(bb[j]-a[j])
				bot := c[j] + lx*(d[j]-c[j])
				row[j] = top + ly*(bot-top)
				if row[j] > row[best] {
					best = j
				}
			}
			mask.Pix[y*mask.Stride+x] = uint8(best)
			conf.Pix[y*conf.Stride+x] = uint8(math.Round(255 * math.Min(1, math.Max(0, float64(row[best])))))
		}
	}
	return mask, conf
}

// MarginalRegions is the mean, over each region of a partition of the
// bounds r (region[y*W+x] in [0, regions), row-major; typically SLIC
// superpixels), of the marginals q (pixel-major, k per pixel, over a w x h
// grid) resized bilinearly to r as MarginalMask does: regions x k values.
// A region without pixels gets zeros. It panics if the sizes disagree or an
// id is out of range.
func MarginalRegions(q []float32, k, w, h int, r image.Rectangle, region []int32, regions int) []float64 {
	ow, oh := r.Dx(), r.Dy()
	if len(q) != w*h*k || k < 1 || len(region) != ow*oh {
		panic(fmt.Sprintf("pseudolabel: MarginalRegions with %d values for %dx%d pixels, %d concepts, %d region ids for %v", len(q), w, h, k, len(region), r))
	}
	acc := make([]float64, regions*k)
	cnt := make([]float64, regions)
	src := func(o, n, i int) (int, int, float32) {
		if o == n {
			return i, i, 0
		}
		f := math.Max(0, (float64(i)+0.5)*float64(n)/float64(o)-0.5)
		i0 := min(n-1, int(f))
		return i0, min(n-1, i0+1), float32(f - float64(i0))
	}
	for y := range oh {
		y0, y1, ly := src(oh, h, y)
		for x := range ow {
			x0, x1, lx := src(ow, w, x)
			id := int(region[y*ow+x])
			if id < 0 || id >= regions {
				panic(fmt.Sprintf("pseudolabel: MarginalRegions: region id %d out of [0, %d)", id, regions))
			}
			a, bb := q[(y0*w+x0)*k:][:k], q[(y0*w+x1)*k:][:k]
			c, d := q[(y1*w+x0)*k:][:k], q[(y1*w+x1)*k:][:k]
			dst := acc[id*k : (id+1)*k]
			for j := range k {
				top := a[j] + lx*(bb[j]-a[j])
				bot := c[j] + lx*(d[j]-c[j])
				dst[j] += float64(top + ly*(bot-top))
			}
			cnt[id]++
		}
	}
	for i, n := range cnt {
		if n > 0 {
			for j := range k {
				acc[i*k+j] /= n
			}
		}
	}
	return acc
}

// CRFRegions runs the CRF as CRFMask does and returns the mean marginals
// of each region of the partition region of img's pixels (see
// MarginalRegions): the CRF's marginals averaged over superpixels.
func CRFRegions(img *image.NRGBA, k int, posteriors func(*image.NRGBA) []float32, s CRFSettings, region []int32, regions int) []float64 {
	work, s := crfWork(img, s)
	q := DenseCRF(work, posteriors(work), k, s)
	wb := work.Bounds()
	return MarginalRegions(q, k, wb.Dx(), wb.Dy(), img.Bounds(), region, regions)
}
