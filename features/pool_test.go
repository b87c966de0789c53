package features

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/segdiscover/segdiscover/superpixel"
)

// TestPoolDense compares PoolDense with resizing the whole map bilinearly
// (pixel by pixel, PyTorch's align_corners=False formula) and averaging.
func TestPoolDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ c, fh, fw, H, W, n int }{
		{3, 4, 5, 17, 21, 6}, {2, 7, 7, 7, 7, 3}, {4, 1, 3, 9, 12, 4}, {1, 10, 8, 5, 4, 2},
	} {
		f := make([]float32, tc.c*tc.fh*tc.fw)
		for i := range f {
			f[i] = float32(rng.NormFloat64())
		}
		l := &superpixel.Labels{Width: tc.W, Height: tc.H, N: tc.n, Pix: make([]int32, tc.W*tc.H)}
		for i := range l.Pix {
			// Vertical bands, so that every id has pixels.
			l.Pix[i] = int32((i % tc.W) * tc.n / tc.W)
		}
		got := PoolDense(f, tc.c, tc.fh, tc.fw, l)
		src := func(o, in, out int) (int, int, float64) {
			s := max((float64(o)+0.5)*float64(in)/float64(out)-0.5, 0)
			a := min(int(math.Floor(s)), in-1)
			return a, min(a+1, in-1), s - float64(a)
		}
		want := make([]float64, tc.n*tc.c)
		cnt := make([]float64, tc.n)
		for y := range tc.H {
			y0, y1, ly := src(y, tc.fh, tc.H)
			for x := range tc.W {
				x0, x1, lx := src(x, tc.fw, tc.W)
				id := int(l.Pix[y*tc.W+x])
				cnt[id]++
				for ch := range tc.c {
					at := func(yy, xx int) float64 { return float64(f[(ch*tc.fh+yy)*tc.fw+xx]) }
					want[id*tc.c+ch] += (1-ly)*((1-lx)*at(y0, x0)+lx*at(y0, x1)) + ly*((1-lx)*at(y1, x0)+lx*at(y1, x1))
				}
			}
		}
		for id := range tc.n {
			for ch := range tc.c {
				w := want[id*tc.c+ch] / cnt[id]
				if g := got.At(id, ch); math.Abs(g-w) > 1e-9 {
					t.Fatalf("%+v: superpixel %d channel %d: %g, want %g", tc, id, ch, g, w)
				}
			}
		}
	}
}
