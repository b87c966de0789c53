package segnet

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// conv3 is a 3x3 convolution without bias, zero padding = dilation, so that
// stride 1 keeps the spatial size and stride 2 halves it (rounding up).
type conv3 struct {
	in, out, stride, dil int
	w, dw                []float32 // [out, in*9]

	dwPart [][]float32 // weight-gradient accumulators, see parts
}

func outSize(n, stride, dil int) int { return (n+2*dil-2*dil-1)/stride + 1 }

// im2col writes, for the output rows [r0, r1) of one image x [c, h, w],
// col[(c*9+ky*3+kx), (oy-r0)*wo+ox] = x[c, oy*s-d+ky*d, ox*s-d+kx*d]
// (0 outside the image).
func im2col(x []float32, c, h, w, s, d int, col []float32, r0, r1 int) {
	if s == 1 {
		im2colStride1(x, c, h, w, d, col, r0, r1)
		return
	}
	im2colStrided(x, c, h, w, s, d, col, r0, r1)
}

// stridedSpan returns the output columns [lo, hi) whose input column
// ox*s+dx lies in [0, w).
func stridedSpan(w, wo, s, dx int) (lo, hi int) {
	lo = min(wo, max(0, (-dx+s-1)/s))
	if w-1-dx < 0 {
		return lo, lo
	}
	return lo, max(lo, min(wo, (w-1-dx)/s+1))
}

// s1span returns, for stride 1, the tap offset (dy, dx) and the output rows
// [r0, r1), the rows [oy0, oy1) and columns [lo, hi) whose input pixel lies
// in the image; ok is false if there are none. With stride 1 the output has
// the input's size, so a tap reads the image shifted by dy*w+dx: one
// contiguous span instead of a copy per row, with the columns that wrap
// around to the neighbouring row fixed up afterwards.
func s1span(h, w, dy, dx, r0, r1 int) (oy0, oy1, lo, hi int, ok bool) {
	oy0, oy1 = max(r0, -dy), min(r1, h-dy)
	lo, hi = max(0, -dx), min(w, w-dx)
	return oy0, oy1, lo, hi, oy1 > oy0 && hi > lo
}

// zeroWrapped zeroes columns [0, lo) and [hi, w) of rows [a, b) of a
// row-major block of width w.
func zeroWrapped(m []float32, w, a, b, lo, hi int) {
	if lo == 0 && hi == w {
		return
	}
	for y := a; y < b; y++ {
		r := m[y*w : (y+1)*w]
		for j := range lo {
			r[j] = 0
		}
		for j := hi; j < w; j++ {
			r[j] = 0
		}
	}
}

func im2colS1(x []float32, c, h, w, d int, col []float32, r0, r1 int) {
	plane := h * w
	n := (r1 - r0) * w
	for ci := range c {
		xc := x[ci*plane : (ci+1)*plane]
		for ky := range 3 {
			for kx := range 3 {
				row := col[((ci*3+ky)*3+kx)*n : ((ci*3+ky)*3+kx+1)*n]
				dy, dx := ky*d-d, kx*d-d
				oy0, oy1, lo, hi, ok := s1span(h, w, dy, dx, r0, r1)
				if !ok {
					clear(row)
					continue
				}
				clear(row[:(oy0-r0)*w])
				clear(row[(oy1-r0)*w:])
				// row[i] = xc[i+off] over the valid rows; the source is
				// clipped to the image, which only drops wrapped columns.
				off := r0*w + dy*w + dx
				sa, sb := max((oy0-r0)*w+off, 0), min((oy1-r0)*w+off, plane)
				copy(row[sa-off:sb-off], xc[sa:sb])
				zeroWrapped(row, w, oy0-r0, oy1-r0, lo, hi)
			}
		}
	}
}

// col2imS1 is col2im for stride 1. It zeroes dcol's entries for taps in the
// padding (they are discarded anyway) so that each tap is one span add.
func col2imS1(dcol []float32, c, h, w, d int, dxs []float32, r0, r1 int) {
	plane := h * w
	n := (r1 - r0) * w
	for ci := range c {
		xc := dxs[ci*plane : (ci+1)*plane]
		for ky := range 3 {
			for kx := range 3 {
				row := dcol[((ci*3+ky)*3+kx)*n : ((ci*3+ky)*3+kx+1)*n]
				dy, dx := ky*d-d, kx*d-d
				oy0, oy1, lo, hi, ok := s1span(h, w, dy, dx, r0, r1)
				if !ok {
					continue
				}
				zeroWrapped(row, w, oy0-r0, oy1-r0, lo, hi)
				off := r0*w + dy*w + dx
				sa, sb := max((oy0-r0)*w+off, 0), min((oy1-r0)*w+off, plane)
				addTo(xc[sa:sb], row[sa-off:sb-off])
			}
		}
	}
}

// col2im accumulates dcol (output rows [r0, r1)) into dx (shape [c, h, w]);
// the adjoint of im2col. It may overwrite dcol.
func col2im(dcol []float32, c, h, w, s, d int, dx []float32, r0, r1 int) {
	if s == 1 {
		col2imS1(dcol, c, h, w, d, dx, r0, r1)
		return
	}
	wo := outSize(w, s, d)
	n := (r1 - r0) * wo
	for ci := range c {
		xc := dx[ci*h*w : (ci+1)*h*w]
		for ky := range 3 {
			for kx := range 3 {
				row := dcol[((ci*3+ky)*3+kx)*n : ((ci*3+ky)*3+kx+1)*n]
				off := kx*d - d
				lo, hi := stridedSpan(w, wo, s, off)
				for oy := r0; oy < r1; oy++ {
					iy := oy*s - d + ky*d
					if iy < 0 || iy >= h {
						continue
					}
					src := row[(oy-r0)*wo : (oy-r0+1)*wo]
					dst := xc[iy*w : (iy+1)*w]
					for ox := lo; ox < hi; ox++ {
						dst[ox*s+off] += src[ox]
					}
				}
			}
		}
	}
}

// chunkFloats bounds the im2col block of one GEMM (1 MiB): written by
// im2col and read by the GEMM's packing while still in the core's L2, it
// costs much less than a whole image's (11 MiB for 64 channels at 60x80),
// which streams through L3. Measured +10% GEMM throughput on the target.
// A variable so that tests can force many blocks per image.
var chunkFloats = 1 << 18

// chunkRows returns how many output rows of width wo go into one block.
func (l *conv3) chunkRows(wo int) int { return max(1, chunkFloats/(l.in*9*wo)) }

// colLen returns the scratch length forwardImage and backwardImage need.
func (l *conv3) colLen(ho, wo int) int { return l.in * 9 * min(ho, l.chunkRows(wo)) * wo }

// forwardImage computes one image's output y [out, ho, wo] from x
// [in, h, w]; col is scratch of at least colLen(ho, wo).
func (l *conv3) forwardImage(x []float32, h, w int, y, col []float32) {
	ho, wo := outSize(h, l.stride, l.dil), outSize(w, l.stride, l.dil)
	k := l.in * 9
	impl := blas32.Implementation()
	rows := l.chunkRows(wo)
	for r0 := 0; r0 < ho; r0 += rows {
		r1 := min(ho, r0+rows)
		n := (r1 - r0) * wo
		c := col[:k*n]
		im2col(x, l.in, h, w, l.stride, l.dil, c, r0, r1)
		impl.Sgemm(blas.NoTrans, blas.NoTrans, l.out, n, k, 1, l.w, k, c, n, 0, y[r0*wo:], ho*wo)
	}
}

// backwardImage adds one image's weight gradient to dw and, if dx != nil,
// writes its input gradient (overwriting dx). col is scratch as in
// forwardImage; it holds a block of the im2col matrix for the weight
// gradient and is then reused for the column gradient, which has the same
// shape.
func (l *conv3) backwardImage(x []float32, h, w int, dy, dx, col, dw []float32) {
	ho, wo := outSize(h, l.stride, l.dil), outSize(w, l.stride, l.dil)
	k := l.in * 9
	hw := ho * wo
	impl := blas32.Implementation()
	if dx != nil {
		clear(dx)
	}
	rows := l.chunkRows(wo)
	for r0 := 0; r0 < ho; r0 += rows {
		r1 := min(ho, r0+rows)
		n := (r1 - r0) * wo
		c := col[:k*n]
		im2col(x, l.in, h, w, l.stride, l.dil, c, r0, r1)
		impl.Sgemm(blas.NoTrans, blas.Trans, l.out, k, n, 1, dy[r0*wo:], hw, c, n, 1, dw, k)
		if dx != nil {
			impl.Sgemm(blas.Trans, blas.NoTrans, k, n, l.out, 1, l.w, k, dy[r0*wo:], hw, 0, c, n)
			col2im(c, l.in, h, w, l.stride, l.dil, dx, r0, r1)
		}
	}
}

// parts returns n weight-gradient accumulators (per worker or per image),
// zeroed.
func (l *conv3) parts(workers int) [][]float32 {
	for len(l.dwPart) < workers {
		l.dwPart = append(l.dwPart, nil)
	}
	for wk := range workers {
		l.dwPart[wk] = grow(l.dwPart[wk], len(l.w))
		clear(l.dwPart[wk])
	}
	return l.dwPart[:workers]
}

// reduce adds the first used accumulators to dw, in order.
func (l *conv3) reduce(used int) {
	for wk := range used {
		for j, v := range l.dwPart[wk] {
			l.dw[j] += v
		}
	}
}

// forward computes y [n, out, ho, wo] from x [n, in, h, w]: forwardImage
// over a batch, for tests and benchmarks (Net fuses its own loop).
func (l *conv3) forward(x []float32, n, h, w int, y []float32, workers int) {
	ho, wo := outSize(h, l.stride, l.dil), outSize(w, l.stride, l.dil)
	cols := make([][]float32, min(workers, n))
	parallelFor(n, workers, func(wk, i int) {
		cols[wk] = grow(cols[wk], l.colLen(ho, wo))
		l.forwardImage(x[i*l.in*h*w:(i+1)*l.in*h*w], h, w, y[i*l.out*ho*wo:(i+1)*l.out*ho*wo], cols[wk])
	})
}

// backward accumulates the weight gradient into l.dw and, if dx != nil,
// writes the input gradient (overwriting dx).
func (l *conv3) backward(x []float32, n, h, w int, dy, dx []float32, workers int) {
	ho, wo := outSize(h, l.stride, l.dil), outSize(w, l.stride, l.dil)
	used := min(workers, n)
	parts := l.parts(used)
	cols := make([][]float32, used)
	parallelFor(n, workers, func(wk, i int) {
		cols[wk] = grow(cols[wk], l.colLen(ho, wo))
		var dxi []float32
		if dx != nil {
			dxi = dx[i*l.in*h*w : (i+1)*l.in*h*w]
		}
		l.backwardImage(x[i*l.in*h*w:(i+1)*l.in*h*w], h, w, dy[i*l.out*ho*wo:(i+1)*l.out*ho*wo], dxi, cols[wk], parts[wk])
	})
	l.reduce(used)
}

// conv1 is a 1x1 convolution with bias: the classifier head.
type conv1 struct {
	in, out int
	w, dw   []float32 // [out, in]
	b, db   []float32 // [out]
	dwPart  [][]float32
	dbPart  [][]float64
}

// forwardImage computes one image's logits y [out, hw] from x [in, hw].
func (l *conv1) forwardImage(x []float32, hw int, y []float32) {
	for o := range l.out {
		row := y[o*hw : (o+1)*hw]
		for j := range row {
			row[j] = l.b[o]
		}
	}
	blas32.Implementation().Sgemm(blas.NoTrans, blas.NoTrans, l.out, hw, l.in, 1, l.w, l.in, x, hw, 1, y, hw)
}

// parts zeroes the first used gradient accumulators (per worker or per
// image).
func (l *conv1) parts(used int) {
	for len(l.dwPart) < used {
		l.dwPart = append(l.dwPart, nil)
		l.dbPart = append(l.dbPart, nil)
	}
	for wk := range used {
		l.dwPart[wk] = grow(l.dwPart[wk], len(l.w))
		clear(l.dwPart[wk])
		if len(l.dbPart[wk]) != l.out {
			l.dbPart[wk] = make([]float64, l.out)
		}
		clear(l.dbPart[wk])
	}
}

// backwardImage adds one image's gradients to accumulator wk and, if
// dx != nil, writes its input gradient.
func (l *conv1) backwardImage(x []float32, hw int, dy, dx []float32, wk int) {
	impl := blas32.Implementation()
	impl.Sgemm(blas.NoTrans, blas.Trans, l.out, l.in, hw, 1, dy, hw, x, hw, 1, l.dwPart[wk], l.in)
	for o := range l.out {
		l.dbPart[wk][o] += sum(dy[o*hw : (o+1)*hw])
	}
	if dx != nil {
		impl.Sgemm(blas.Trans, blas.NoTrans, l.in, hw, l.out, 1, l.w, l.in, dy, hw, 0, dx, hw)
	}
}

func (l *conv1) reduce(used int) {
	for wk := range used {
		for j, v := range l.dwPart[wk] {
			l.dw[j] += v
		}
		for o, v := range l.dbPart[wk] {
			l.db[o] += float32(v)
		}
	}
}

func (l *conv1) forward(x []float32, n, hw int, y []float32, workers int) {
	parallelFor(n, workers, func(_, i int) {
		l.forwardImage(x[i*l.in*hw:(i+1)*l.in*hw], hw, y[i*l.out*hw:(i+1)*l.out*hw])
	})
}

func (l *conv1) backward(x []float32, n, hw int, dy, dx []float32, workers int) {
	used := min(workers, n)
	l.parts(used)
	parallelFor(n, workers, func(wk, i int) {
		var dxi []float32
		if dx != nil {
			dxi = dx[i*l.in*hw : (i+1)*l.in*hw]
		}
		l.backwardImage(x[i*l.in*hw:(i+1)*l.in*hw], hw, dy[i*l.out*hw:(i+1)*l.out*hw], dxi, wk)
	})
	l.reduce(used)
}
