package features

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/superpixel"
)

// PoolDense returns the masked average, over each superpixel of l, of a
// dense feature map f [c, fh, fw] (channel-major) resized bilinearly to the
// label map's size (PyTorch's align_corners=False convention): one row per
// superpixel, c columns. The resized map is never stored: each pixel's four
// bilinear weights are added to its superpixel's weights over the feature
// cells, which a superpixel's bounding box keeps small, so the cost is
// O(pixels + c·Σ boxes) instead of O(c·pixels).
func PoolDense(f []float32, c, fh, fw int, l *superpixel.Labels) *mat.Dense {
	if len(f) != c*fh*fw || c < 1 || fh < 1 || fw < 1 {
		panic(fmt.Sprintf("features: PoolDense: %d values for a %dx%dx%d map", len(f), c, fh, fw))
	}
	H, W, n := l.Height, l.Width, l.N
	y0s, y1s, lys := bilinearAxis(fh, H)
	x0s, x1s, lxs := bilinearAxis(fw, W)
	// Bounding boxes of each superpixel on the feature grid.
	type box struct{ y0, y1, x0, x1, off int }
	bs := make([]box, n)
	for i := range bs {
		bs[i] = box{fh, -1, fw, -1, 0}
	}
	for y := range H {
		row := l.Pix[y*W : (y+1)*W]
		for x, id := range row {
			b := &bs[id]
			b.y0, b.y1 = min(b.y0, y0s[y]), max(b.y1, y1s[y])
			b.x0, b.x1 = min(b.x0, x0s[x]), max(b.x1, x1s[x])
		}
	}
	total := 0
	for i := range bs {
		if bs[i].y1 < 0 {
			continue // an id without pixels keeps a zero row
		}
		bs[i].off = total
		total += (bs[i].y1 - bs[i].y0 + 1) * (bs[i].x1 - bs[i].x0 + 1)
	}
	wt := make([]float64, total)
	cnt := make([]float64, n)
	for y := range H {
		ya, yb, ly := y0s[y], y1s[y], lys[y]
		row := l.Pix[y*W : (y+1)*W]
		for x, id := range row {
			b := bs[id]
			bw := b.x1 - b.x0 + 1
			xa, xb, lx := x0s[x]-b.x0, x1s[x]-b.x0, lxs[x]
			ra, rb := b.off+(ya-b.y0)*bw, b.off+(yb-b.y0)*bw
			wt[ra+xa] += (1 - ly) * (1 - lx)
			wt[ra+xb] += (1 - ly) * lx
			wt[rb+xa] += ly * (1 - lx)
			wt[rb+xb] += ly * lx
			cnt[id]++
		}
	}
	// Cell-major copy of the map, so that a cell's c values are contiguous.
	cells := make([]float64, fh*fw*c)
	for ch := range c {
		for p, v := range f[ch*fh*fw : (ch+1)*fh*fw] {
			cells[p*c+ch] = float64(v)
		}
	}
	out := mat.NewDense(n, c, nil)
	for id, b := range bs {
		if b.y1 < 0 {
			continue
		}
		dst := out.RawRowView(id)
		bw := b.x1 - b.x0 + 1
		for cy := b.y0; cy <= b.y1; cy++ {
			for cx := b.x0; cx <= b.x1; cx++ {
				w := wt[b.off+(cy-b.y0)*bw+cx-b.x0]
				if w == 0 {
					continue
				}
				src := cells[(cy*fw+cx)*c : (cy*fw+cx+1)*c]
				for j, v := range src {
					dst[j] += w * v
				}
			}
		}
		inv := 1 / cnt[id]
		for j := range dst {
			dst[j] *= inv
		}
	}
	return out
}

// bilinearAxis maps each of out output positions to its two source
// positions and the weight of the second, with PyTorch's
// align_corners=False convention (source = (dst+0.5)·in/out - 0.5, clamped
// at 0).
func bilinearAxis(in, out int) (i0, i1 []int, l []float64) {
	i0, i1, l = make([]int, out), make([]int, out), make([]float64, out)
	scale := float64(in) / float64(out)
	for o := range out {
		src := max((float64(o)+0.5)*scale-0.5, 0)
		a := min(int(src), in-1)
		b := min(a+1, in-1)
		i0[o], i1[o], l[o] = a, b, src-float64(a)
		if a == b {
			l[o] = 0
		}
	}
	return
}
