package segnet

// bilinear resizes planes of size ih x iw to oh x ow with PyTorch's
// F.interpolate(mode="bilinear", align_corners=False) convention.
type bilinear struct {
	ih, iw, oh, ow int
	y0, y1, x0, x1 []int
	ly, lx         []float32 // weight of y1 / x1
}

func axis(in, out int) (i0, i1 []int, l []float32) {
	i0, i1, l = make([]int, out), make([]int, out), make([]float32, out)
	scale := float64(in) / float64(out)
	for o := range out {
		src := (float64(o)+0.5)*scale - 0.5
		if src < 0 {
			src = 0
		}
		a := int(src)
		if a > in-1 {
			a = in - 1
		}
		b := a
		if a < in-1 {
			b = a + 1
		}
		i0[o], i1[o], l[o] = a, b, float32(src-float64(a))
	}
	return
}

func newBilinear(ih, iw, oh, ow int) *bilinear {
	r := &bilinear{ih: ih, iw: iw, oh: oh, ow: ow}
	r.y0, r.y1, r.ly = axis(ih, oh)
	r.x0, r.x1, r.lx = axis(iw, ow)
	return r
}

// tmpLen is the scratch length forward and backward need.
func (r *bilinear) tmpLen() int { return r.ih * r.ow }

// forward resizes one plane; tmp is scratch of tmpLen(). Each input row is
// interpolated horizontally once (horizontal), then every output row is a
// blend of two of those rows: when upsampling by f that does the horizontal
// work once instead of f times, and the blend is a vectorisable kernel. The
// result is bit for bit that of interpolating each output pixel directly.
func (r *bilinear) forward(x, y, tmp []float32) {
	hr := tmp[:r.ih*r.ow]
	r.horizontal(x, hr)
	for oy := range r.oh {
		r.row(hr, oy, y[oy*r.ow:(oy+1)*r.ow])
	}
}

// horizontal writes hr [ih, ow]: the rows of x resized to the output width.
func (r *bilinear) horizontal(x, hr []float32) {
	for iy := range r.ih {
		a := x[iy*r.iw : (iy+1)*r.iw]
		row := hr[iy*r.ow : (iy+1)*r.ow]
		for ox := range row {
			x0, x1, wx := r.x0[ox], r.x1[ox], r.lx[ox]
			row[ox] = a[x0] + wx*(a[x1]-a[x0])
		}
	}
}

// row writes output row oy from horizontal's result.
func (r *bilinear) row(hr []float32, oy int, dst []float32) {
	top, bot := hr[r.y0[oy]*r.ow:(r.y0[oy]+1)*r.ow], hr[r.y1[oy]*r.ow:(r.y1[oy]+1)*r.ow]
	lerpRows(dst, top, bot, r.ly[oy])
}

// backward accumulates the adjoint of forward into dx for one plane; tmp is
// scratch of tmpLen().
func (r *bilinear) backward(dy, dx, tmp []float32) {
	hg := tmp[:r.ih*r.ow]
	clear(hg)
	for oy := range r.oh {
		g := dy[oy*r.ow : (oy+1)*r.ow]
		wy := r.ly[oy]
		addScaled(hg[r.y0[oy]*r.ow:(r.y0[oy]+1)*r.ow], g, 1-wy)
		addScaled(hg[r.y1[oy]*r.ow:(r.y1[oy]+1)*r.ow], g, wy)
	}
	for iy := range r.ih {
		a := dx[iy*r.iw : (iy+1)*r.iw]
		for ox, v := range hg[iy*r.ow : (iy+1)*r.ow] {
			x0, x1, wx := r.x0[ox], r.x1[ox], r.lx[ox]
			a[x0] += v * (1 - wx)
			a[x1] += v * wx
		}
	}
}
