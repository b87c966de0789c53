package pseudolabel

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"
)

// The lattice approximates the Gaussian filter sum_j exp(-|fi-fj|^2/2) vj
// up to a scale; once normalised symmetrically (as the CRF uses it) it
// must be close to the exact normalised filter where the points are dense
// (as pixels are in their features; on sparse points the lattice's blur
// reaches further than the Gaussian and the error grows, a known property
// of the approximation).
func TestLatticeApproximatesGaussian(t *testing.T) {
	for _, d := range []int{2, 5} {
		for _, span := range []float64{2, 4} {
			rng := rand.New(rand.NewPCG(uint64(d), 1))
			n := 400
			f := make([]float32, n*d)
			for i := range f {
				f[i] = float32(rng.Float64() * span)
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.Float64())
			}
			lat := newLattice(f, n, d)
			got := make([]float32, n)
			lat.filter(v, got, 1)
			ones := make([]float32, n)
			for i := range ones {
				ones[i] = 1
			}
			lat.filter(ones, ones, 1)
			exact := make([]float64, n)
			exactOnes := make([]float64, n)
			for i := range n {
				for j := range n {
					var d2 float64
					for c := range d {
						dv := float64(f[i*d+c] - f[j*d+c])
						d2 += dv * dv
					}
					g := math.Exp(-d2 / 2)
					exact[i] += g * float64(v[j])
					exactOnes[i] += g
				}
			}
			// Normalised outputs: weighted means of v.
			var num, den float64
			for i := range n {
				a := float64(got[i]) / float64(ones[i])
				b := exact[i] / exactOnes[i]
				num += (a - b) * (a - b)
				bm := b - 0.5
				den += bm * bm
			}
			if rel := math.Sqrt(num / den); rel > 0.3 {
				t.Errorf("d=%d, features in [0, %v]: normalised lattice filter differs from the exact one by %.3f (relative RMS)", d, span, rel)
			}
			// Constant input: every point's filter of ones is positive.
			for i, o := range ones {
				if !(o > 0) {
					t.Fatalf("d=%d: filter of ones at %d = %v", d, i, o)
				}
			}
		}
	}
}

// twoRegions is a w x h image whose left part (x < split) is dark red and
// right part dark blue, with a little per-pixel noise.
func twoRegions(w, h, split int, rng *rand.Rand) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			o := img.PixOffset(x, y)
			r, b := 150, 40
			if x >= split {
				r, b = 40, 150
			}
			img.Pix[o] = uint8(r + rng.IntN(3))
			img.Pix[o+1] = uint8(60 + rng.IntN(3))
			img.Pix[o+2] = uint8(b + rng.IntN(3))
			img.Pix[o+3] = 255
		}
	}
	return img
}

func argmaxErrors(q []float32, k, w, h int, truth func(x, y int) int) int {
	bad := 0
	for y := range h {
		for x := range w {
			row := q[(y*w+x)*k : (y*w+x+1)*k]
			best := 0
			for c, v := range row {
				if v > row[best] {
					best = c
				}
			}
			if best != truth(x, y) {
				bad++
			}
		}
	}
	return bad
}

// Known answer: noisy unaries on a two-colour image. A third of the pixels
// get a unary that prefers the wrong class; the CRF, pulled by the colour
// edge, labels (almost) every pixel right.
func TestDenseCRFDenoises(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w, h, split, k := 60, 40, 25, 2
	img := twoRegions(w, h, split, rng)
	truth := func(x, _ int) int {
		if x < split {
			return 0
		}
		return 1
	}
	prob := make([]float32, w*h*k)
	for y := range h {
		for x := range w {
			c := truth(x, y)
			if rng.Float64() < 1.0/3 {
				c = 1 - c
			}
			prob[(y*w+x)*k+c] = 0.65
			prob[(y*w+x)*k+1-c] = 0.35
		}
	}
	before := argmaxErrors(prob, k, w, h, truth)
	q := DenseCRF(img, prob, k, CRFSettings{})
	after := argmaxErrors(q, k, w, h, truth)
	if before < w*h/5 || after > w*h/100 {
		t.Errorf("wrong pixels: %d before, %d after the CRF (of %d)", before, after, w*h)
	}
	for i := 0; i < len(q); i += k {
		var s float64
		for _, v := range q[i : i+k] {
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-4 {
			t.Fatalf("marginals of pixel %d sum to %v", i/k, s)
		}
	}
}

// Known answer: posteriors whose edge is 6 pixels off the image's edge
// (what upsampling a low-resolution network gives) move onto it.
func TestDenseCRFSnapsToEdges(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	w, h, split, k := 64, 32, 30, 3
	img := twoRegions(w, h, split, rng)
	truth := func(x, _ int) int {
		if x < split {
			return 0
		}
		return 1
	}
	prob := make([]float32, w*h*k)
	for y := range h {
		for x := range w {
			// A soft ramp centred 6 px right of the edge; class 2 is a
			// weak distractor everywhere.
			a := 1 / (1 + math.Exp(float64(x-(split+6))/3))
			p := prob[(y*w+x)*k:][:k]
			p[0] = float32(0.9 * a)
			p[1] = float32(0.9 * (1 - a))
			p[2] = 0.1
		}
	}
	before := argmaxErrors(prob, k, w, h, truth)
	q := DenseCRF(img, prob, k, CRFSettings{})
	after := argmaxErrors(q, k, w, h, truth)
	if before != 7*h || after > h/2 {
		t.Errorf("wrong pixels: %d before (want %d), %d after the CRF", before, 7*h, after)
	}
}

// With both Potts weights negligible the CRF keeps the unaries: Q is the
// (clipped, renormalised) input.
func TestDenseCRFWithoutPairwiseKeepsUnaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	w, h, k := 17, 9, 4
	img := twoRegions(w, h, 8, rng)
	prob := make([]float32, w*h*k)
	for i := 0; i < len(prob); i += k {
		var s float32
		for c := range k {
			prob[i+c] = float32(rng.Float64()) + 0.01
			s += prob[i+c]
		}
		for c := range k {
			prob[i+c] /= s
		}
	}
	q := DenseCRF(img, prob, k, CRFSettings{PosW: 1e-12, BiW: 1e-12})
	for i := range q {
		if math.Abs(float64(q[i]-prob[i])) > 1e-5 {
			t.Fatalf("q[%d] = %v, want %v", i, q[i], prob[i])
		}
	}
}

// MarginalMask at the marginals' own size is their arg-max; at twice the
// size each 2x2 block interpolates its source pixel and neighbours, so a
// constant field stays constant and the confidences are the marginals.
func TestMarginalMask(t *testing.T) {
	k, w, h := 3, 4, 3
	q := make([]float32, w*h*k)
	for i := range w * h {
		c := i % k
		q[i*k+c] = 0.75
		q[i*k+(c+1)%k] = 0.15
		q[i*k+(c+2)%k] = 0.1
	}
	m, c := MarginalMask(q, k, w, h, image.Rect(0, 0, w, h))
	for i := range w * h {
		if int(m.Pix[i]) != i%k || c.Pix[i] != uint8(math.Round(0.75*255)) {
			t.Fatalf("pixel %d: %d (%d), want %d (%d)", i, m.Pix[i], c.Pix[i], i%k, uint8(math.Round(0.75*255)))
		}
	}
	for i := range w * h {
		q[i*k], q[i*k+1], q[i*k+2] = 0.1, 0.6, 0.3
	}
	m, c = MarginalMask(q, k, w, h, image.Rect(0, 0, 2*w+1, 2*h))
	for i, v := range m.Pix {
		if v != 1 || c.Pix[i] != 153 {
			t.Fatalf("upsampled pixel %d: %d (%d), want 1 (153)", i, v, c.Pix[i])
		}
	}
}

// BenchmarkDenseCRF times the CRF on a 320 x 240 image (Stanford
// Background's size) with 8 and 33 concepts.
func BenchmarkDenseCRF(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	w, h := 320, 240
	img := twoRegions(w, h, 150, rng)
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i+1] = uint8(rng.IntN(256)) // texture, so that the lattice is not trivially small
	}
	for _, k := range []int{8, 33} {
		prob := make([]float32, w*h*k)
		for i := range prob {
			prob[i] = float32(rng.Float64())
		}
		b.Run("K="+string(rune('0'+k/10))+string(rune('0'+k%10)), func(b *testing.B) {
			for b.Loop() {
				DenseCRF(img, prob, k, CRFSettings{})
			}
		})
	}
}

// CRFMask on an image above CRFMaxPixels works on a scaled-down copy and
// returns a full-size mask whose edge is still the image's.
func TestCRFMaskLargeImage(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	w, h, split, k := 300, 200, 131, 2
	img := twoRegions(w, h, split, rng)
	var seen image.Rectangle
	post := func(m *image.NRGBA) []float32 {
		seen = m.Bounds()
		mw, mh := seen.Dx(), seen.Dy()
		p := make([]float32, mw*mh*k)
		for y := range mh {
			for x := range mw {
				// The edge 8% of the width off, as a blurry network would put it.
				a := 1 / (1 + math.Exp((float64(x)/float64(mw)-float64(split)/float64(w)-0.08)*30))
				p[(y*mw+x)*k] = float32(a)
				p[(y*mw+x)*k+1] = float32(1 - a)
			}
		}
		return p
	}
	m, c := CRFMask(img, k, post, CRFSettings{})
	if a := seen.Dx() * seen.Dy(); a > CRFMaxPixels || a < CRFMaxPixels/2 {
		t.Errorf("CRF worked on %v (%d pixels), want about %d", seen, a, CRFMaxPixels)
	}
	if m.Bounds() != img.Bounds() || c.Bounds() != img.Bounds() {
		t.Fatalf("mask %v, confidence %v, want %v", m.Bounds(), c.Bounds(), img.Bounds())
	}
	bad := 0
	for y := range h {
		for x := range w {
			want := uint8(0)
			if x >= split {
				want = 1
			}
			if m.Pix[y*m.Stride+x] != want {
				bad++
			}
		}
	}
	if bad > 2*h {
		t.Errorf("%d pixels on the wrong side of the edge (the unaries put %d there)", bad, int(0.08*float64(w))*h)
	}
}

// BenchmarkCRFMask is the masks stage's CRF on a 320 x 240 image (worked
// on at CRFMaxPixels).
func BenchmarkCRFMask(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	img := twoRegions(320, 240, 150, rng)
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i+1] = uint8(rng.IntN(256))
	}
	for _, k := range []int{8, 33} {
		post := func(m *image.NRGBA) []float32 {
			p := make([]float32, m.Bounds().Dx()*m.Bounds().Dy()*k)
			for i := range p {
				p[i] = float32(rng.Float64())
			}
			return p
		}
		b.Run("K="+string(rune('0'+k/10))+string(rune('0'+k%10)), func(b *testing.B) {
			for b.Loop() {
				CRFMask(img, k, post, CRFSettings{})
			}
		})
	}
}

// MarginalRegions averages the upsampled marginals: with one region per
// pixel at the marginals' own size it returns them, with one region it
// returns their mean.
func TestMarginalRegions(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	k, w, h := 3, 5, 4
	q := make([]float32, w*h*k)
	for i := range q {
		q[i] = float32(rng.Float64())
	}
	id := make([]int32, w*h)
	for i := range id {
		id[i] = int32(i)
	}
	got := MarginalRegions(q, k, w, h, image.Rect(0, 0, w, h), id, w*h)
	for i := range q {
		if math.Abs(got[i]-float64(q[i])) > 1e-7 {
			t.Fatalf("value %d: %v, want %v", i, got[i], q[i])
		}
	}
	one := make([]int32, w*h)
	got = MarginalRegions(q, k, w, h, image.Rect(0, 0, w, h), one, 2)
	for c := range k {
		var m float64
		for i := range w * h {
			m += float64(q[i*k+c])
		}
		m /= float64(w * h)
		if math.Abs(got[c]-m) > 1e-6 || got[k+c] != 0 {
			t.Errorf("class %d: %v (empty region %v), want %v (0)", c, got[c], got[k+c], m)
		}
	}
}
