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

	// per-worker scratch, reused across calls
	col, dcol [][]float32
	dwPart    [][]float32
}

func outSize(n, stride, dil int) int { return (n+2*dil-2*dil-1)/stride + 1 }

// im2col writes col[(c*9+ky*3+kx), oy*wo+ox] = x[c, oy*s-d+ky*d, ox*s-d+kx*d]
// (0 outside the image) for one image x of shape [c, h, w].
func im2col(x []float32, c, h, w, s, d int, col []float32) {
	ho, wo := outSize(h, s, d), outSize(w, s, d)
	n := ho * wo
	for ci := range c {
		xc := x[ci*h*w : (ci+1)*h*w]
		for ky := range 3 {
			for kx := range 3 {
				row := col[((ci*3+ky)*3+kx)*n : ((ci*3+ky)*3+kx+1)*n]
				dx := kx*d - d
				for oy := range ho {
					iy := oy*s - d + ky*d
					dst := row[oy*wo : (oy+1)*wo]
					if iy < 0 || iy >= h {
						clear(dst)
						continue
					}
					src := xc[iy*w : (iy+1)*w]
					if s == 1 {
						// ix = ox + dx: valid for ox in [lo, hi)
						lo, hi := max(0, -dx), min(wo, w-dx)
						if hi <= lo {
							clear(dst)
							continue
						}
						clear(dst[:lo])
						copy(dst[lo:hi], src[lo+dx:hi+dx])
						clear(dst[hi:])
						continue
					}
					for ox := range wo {
						ix := ox*s + dx
						if ix >= 0 && ix < w {
							dst[ox] = src[ix]
						} else {
							dst[ox] = 0
						}
					}
				}
			}
		}
	}
}

// col2im accumulates dcol into dx (shape [c, h, w]); the adjoint of im2col.
func col2im(dcol []float32, c, h, w, s, d int, dx []float32) {
	ho, wo := outSize(h, s, d), outSize(w, s, d)
	n := ho * wo
	for ci := range c {
		xc := dx[ci*h*w : (ci+1)*h*w]
		for ky := range 3 {
			for kx := range 3 {
				row := dcol[((ci*3+ky)*3+kx)*n : ((ci*3+ky)*3+kx+1)*n]
				off := kx*d - d
				for oy := range ho {
					iy := oy*s - d + ky*d
					if iy < 0 || iy >= h {
						continue
					}
					src := row[oy*wo : (oy+1)*wo]
					dst := xc[iy*w : (iy+1)*w]
					if s == 1 {
						lo, hi := max(0, -off), min(wo, w-off)
						if hi > lo {
							dd := dst[lo+off : hi+off]
							for i, v := range src[lo:hi] {
								dd[i] += v
							}
						}
						continue
					}
					for ox := range wo {
						ix := ox*s + off
						if ix >= 0 && ix < w {
							dst[ix] += src[ox]
						}
					}
				}
			}
		}
	}
}

func (l *conv3) scratch(workers, colLen int) {
	for len(l.col) < workers {
		l.col = append(l.col, nil)
		l.dcol = append(l.dcol, nil)
		l.dwPart = append(l.dwPart, nil)
	}
	for w := range workers {
		l.col[w] = grow(l.col[w], colLen)
	}
}

// forward computes y [n, out, ho, wo] from x [n, in, h, w].
func (l *conv3) forward(x []float32, n, h, w int, y []float32, workers int) {
	ho, wo := outSize(h, l.stride, l.dil), outSize(w, l.stride, l.dil)
	k := l.in * 9
	l.scratch(workers, k*ho*wo)
	impl := blas32.Implementation()
	parallelFor(n, workers, func(wk, i int) {
		col := l.col[wk]
		im2col(x[i*l.in*h*w:(i+1)*l.in*h*w], l.in, h, w, l.stride, l.dil, col)
		impl.Sgemm(blas.NoTrans, blas.NoTrans, l.out, ho*wo, k, 1, l.w, k, col, ho*wo, 0, y[i*l.out*ho*wo:(i+1)*l.out*ho*wo], ho*wo)
	})
}

// backward accumulates the weight gradient into l.dw and, if dx != nil,
// writes the input gradient (overwriting dx).
func (l *conv3) backward(x []float32, n, h, w int, dy, dx []float32, workers int) {
	ho, wo := outSize(h, l.stride, l.dil), outSize(w, l.stride, l.dil)
	k := l.in * 9
	hw := ho * wo
	l.scratch(workers, k*hw)
	used := min(workers, n)
	for wk := range used {
		l.dwPart[wk] = grow(l.dwPart[wk], len(l.w))
		clear(l.dwPart[wk])
		if dx != nil {
			l.dcol[wk] = grow(l.dcol[wk], k*hw)
		}
	}
	impl := blas32.Implementation()
	parallelFor(n, workers, func(wk, i int) {
		col := l.col[wk]
		im2col(x[i*l.in*h*w:(i+1)*l.in*h*w], l.in, h, w, l.stride, l.dil, col)
		dyi := dy[i*l.out*hw : (i+1)*l.out*hw]
		impl.Sgemm(blas.NoTrans, blas.Trans, l.out, k, hw, 1, dyi, hw, col, hw, 1, l.dwPart[wk], k)
		if dx != nil {
			dcol := l.dcol[wk]
			impl.Sgemm(blas.Trans, blas.NoTrans, k, hw, l.out, 1, l.w, k, dyi, hw, 0, dcol, hw)
			dxi := dx[i*l.in*h*w : (i+1)*l.in*h*w]
			clear(dxi)
			col2im(dcol, l.in, h, w, l.stride, l.dil, dxi)
		}
	})
	for wk := range used {
		for j, v := range l.dwPart[wk] {
			l.dw[j] += v
		}
	}
}

// conv1 is a 1x1 convolution with bias: the classifier head.
type conv1 struct {
	in, out int
	w, dw   []float32 // [out, in]
	b, db   []float32 // [out]
	dwPart  [][]float32
	dbPart  [][]float64
}

func (l *conv1) forward(x []float32, n, hw int, y []float32, workers int) {
	impl := blas32.Implementation()
	parallelFor(n, workers, func(_, i int) {
		yi := y[i*l.out*hw : (i+1)*l.out*hw]
		for o := range l.out {
			row := yi[o*hw : (o+1)*hw]
			for j := range row {
				row[j] = l.b[o]
			}
		}
		impl.Sgemm(blas.NoTrans, blas.NoTrans, l.out, hw, l.in, 1, l.w, l.in, x[i*l.in*hw:(i+1)*l.in*hw], hw, 1, yi, hw)
	})
}

func (l *conv1) backward(x []float32, n, hw int, dy, dx []float32, workers int) {
	used := min(workers, n)
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
	impl := blas32.Implementation()
	parallelFor(n, workers, func(wk, i int) {
		dyi := dy[i*l.out*hw : (i+1)*l.out*hw]
		xi := x[i*l.in*hw : (i+1)*l.in*hw]
		impl.Sgemm(blas.NoTrans, blas.Trans, l.out, l.in, hw, 1, dyi, hw, xi, hw, 1, l.dwPart[wk], l.in)
		for o := range l.out {
			var s float64
			for _, v := range dyi[o*hw : (o+1)*hw] {
				s += float64(v)
			}
			l.dbPart[wk][o] += s
		}
		if dx != nil {
			impl.Sgemm(blas.Trans, blas.NoTrans, l.in, hw, l.out, 1, l.w, l.in, dyi, hw, 0, dx[i*l.in*hw:(i+1)*l.in*hw], hw)
		}
	})
	for wk := range used {
		for j, v := range l.dwPart[wk] {
			l.dw[j] += v
		}
		for o, v := range l.dbPart[wk] {
			l.db[o] += float32(v)
		}
	}
}
