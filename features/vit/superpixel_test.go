package vit

import (
	"math"
	"testing"

	"github.com/segdiscover/segdiscover/superpixel"
)

// A 2x2 grid of one-hot tokens stretched over a 4x4 label map of
// quadrants: along each axis the first quadrant's pixels sit at source
// positions -0.25 (clamped to 0) and 0.25, so they take 7/8 of their cell
// and 1/8 of the next; in 2-D the products.
func TestPoolSuperpixels(t *testing.T) {
	const d = 4
	o := &Output{GH: 2, GW: 2}
	tok := make([]float32, 5*d)
	for i := range 4 {
		tok[(1+i)*d+i] = 5 // one-hot, not unit: pooling L2-normalises
	}
	l := &superpixel.Labels{Width: 4, Height: 4, N: 4, Pix: make([]int32, 16)}
	for y := range 4 {
		for x := range 4 {
			l.Pix[y*4+x] = int32(y/2*2 + x/2)
		}
	}
	f := PoolSuperpixels(o, tok, l)
	a, b := 7.0/8, 1.0/8
	want := [4][4]float64{
		{a * a, a * b, b * a, b * b},
		{a * b, a * a, b * b, b * a},
		{b * a, b * b, a * a, a * b},
		{b * b, b * a, a * b, a * a},
	}
	for sp := range 4 {
		for c := range 4 {
			if got := f.At(sp, c); math.Abs(got-want[sp][c]) > 1e-12 {
				t.Errorf("superpixel %d, cell %d: %g, want %g", sp, c, got, want[sp][c])
			}
		}
	}
}

func TestInputSize(t *testing.T) {
	m := &Model{Arch: Arch{Patch: 14}}
	for _, c := range []struct{ w, h, size, iw, ih int }{
		{320, 240, 224, 294, 224}, {240, 320, 224, 224, 294}, {224, 224, 224, 224, 224}, {1000, 10, 224, 896, 14}, {5, 5, 3, 14, 14},
	} {
		if iw, ih := m.InputSize(c.w, c.h, c.size); iw != c.iw || ih != c.ih {
			t.Errorf("InputSize(%d, %d, %d) = %d, %d; want %d, %d", c.w, c.h, c.size, iw, ih, c.iw, c.ih)
		}
	}
}
