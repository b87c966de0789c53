package features

import (
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/superpixel"
)

// TestExtractPatchesKnown: an image whose left half is red (superpixel 0)
// and right half a blue L shape (superpixel 1) around a green square
// (superpixel 2). Patch 0 is all red; patch 1's box covers the green
// square, which must read as the image mean; patch 2 is all green.
func TestExtractPatchesKnown(t *testing.T) {
	const w, h = 16, 8
	img := flatImage(w, h, color.NRGBA{255, 0, 0, 255})
	l := &superpixel.Labels{Width: w, Height: h, N: 3, Pix: make([]int32, w*h)}
	for y := range h {
		for x := 8; x < w; x++ {
			id, c := int32(1), color.NRGBA{0, 0, 255, 255}
			if x >= 12 && y < 4 {
				id, c = 2, color.NRGBA{0, 255, 0, 255}
			}
			l.Pix[y*w+x] = id
			img.SetNRGBA(x, y, c)
		}
	}
	// Image mean: 64 red, 48 blue, 16 green pixels out of 128.
	mean := [3]float64{0.5, 16.0 / 128, 48.0 / 128}
	p := ExtractPatches(img, l, 4)
	if r, c := p.Dims(); r != 3 || c != PatchDims(4) {
		t.Fatalf("dims %dx%d", r, c)
	}
	check := func(id, u, v int, want [3]float64) {
		t.Helper()
		for c := range 3 {
			if got := p.At(id, 3*(v*4+u)+c); math.Abs(got-want[c]) > 1e-12 {
				t.Errorf("patch %d pixel (%d,%d) channel %d = %v, want %v", id, u, v, c, got, want[c])
			}
		}
	}
	for v := range 4 {
		for u := range 4 {
			check(0, u, v, [3]float64{1, 0, 0})
			check(2, u, v, [3]float64{0, 1, 0})
			// Superpixel 1's box is x 8..15, y 0..7: cells with u >= 2,
			// v < 2 lie on the green square, filled with the mean.
			if u >= 2 && v < 2 {
				check(1, u, v, mean)
			} else {
				check(1, u, v, [3]float64{0, 0, 1})
			}
		}
	}
}

// TestExtractPatchesUpsample: a superpixel smaller than the patch is
// enlarged by nearest-neighbour sampling.
func TestExtractPatchesUpsample(t *testing.T) {
	img := randomImage(6, 6, 3)
	l := gridLabels(6, 6, 3, 3) // 2x2 cells
	p := ExtractPatches(img, l, 0)
	if _, c := p.Dims(); c != 3*16*16 {
		t.Fatalf("%d columns", c)
	}
	// Superpixel 4 is pixels (2..3, 2..3); patch pixel (u, v) maps to
	// image pixel (2 + u/8, 2 + v/8).
	for v := range 16 {
		for u := range 16 {
			src := img.NRGBAAt(2+u/8, 2+v/8)
			for c, want := range []uint8{src.R, src.G, src.B} {
				if got := p.At(4, 3*(v*16+u)+c); math.Abs(got-float64(want)/255) > 1e-12 {
					t.Fatalf("(%d,%d,%d) = %v, want %v", u, v, c, got, float64(want)/255)
				}
			}
		}
	}
}

func TestReservoir(t *testing.T) {
	const n, k = 1000, 100
	row := func(i int) []float64 { return []float64{float64(i), float64(2 * i)} }
	fill := func(order []int) *mat.Dense {
		r := NewReservoir(k, rand.NewPCG(1, 2))
		for _, i := range order {
			r.Add(uint64(i), row(i))
		}
		if r.Seen() != n {
			t.Fatalf("Seen = %d", r.Seen())
		}
		return r.Sample()
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	a := fill(order)
	rand.New(rand.NewPCG(5, 5)).Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	b := fill(order)
	if r, _ := a.Dims(); r != k {
		t.Fatalf("sample of %d rows, want %d", r, k)
	}
	if !mat.Equal(a, b) {
		t.Error("sample depends on insertion order")
	}
	seen := map[float64]bool{}
	for i := range k {
		if a.At(i, 1) != 2*a.At(i, 0) || seen[a.At(i, 0)] {
			t.Fatalf("row %d = %v: corrupted or duplicate", i, a.RawRowView(i))
		}
		seen[a.At(i, 0)] = true
	}
	// Uniformity: over many seeds, each key is sampled about k/n of the time.
	counts := make([]int, n)
	const seeds = 200
	for s := range seeds {
		r := NewReservoir(k, rand.NewPCG(uint64(s), 9))
		for i := range n {
			r.Add(PatchKey("img", i), row(i))
		}
		smp := r.Sample()
		for i := range k {
			counts[int(smp.At(i, 0))]++
		}
	}
	// Expected 20 per key, binomial sd about 4.2; the first and second
	// halves of the keys should get the same share.
	lo, hi := 0, 0
	for i, c := range counts {
		if i < n/2 {
			lo += c
		} else {
			hi += c
		}
	}
	if math.Abs(float64(lo-hi)) > 0.1*float64(lo+hi) {
		t.Errorf("first half sampled %d times, second half %d", lo, hi)
	}
	if NewReservoir(3, rand.NewPCG(1, 1)).Sample() != nil {
		t.Error("empty reservoir returned a sample")
	}
}

func BenchmarkExtractPatches(b *testing.B) {
	img := randomImage(320, 240, 1)
	l := gridLabels(320, 240, 20, 15)
	for b.Loop() {
		ExtractPatches(img, l, 0)
	}
}
