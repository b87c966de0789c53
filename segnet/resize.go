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

// forward resizes one plane.
func (r *bilinear) forward(x, y []float32) {
	for oy := range r.oh {
		a, b := x[r.y0[oy]*r.iw:], x[r.y1[oy]*r.iw:]
		wy := r.ly[oy]
		row := y[oy*r.ow : (oy+1)*r.ow]
		for ox := range row {
			x0, x1, wx := r.x0[ox], r.x1[ox], r.lx[ox]
			top := a[x0] + wx*(a[x1]-a[x0])
			bot := b[x0] + wx*(b[x1]-b[x0])
			row[ox] = top + wy*(bot-top)
		}
	}
}

// backward accumulates the adjoint of forward into dx for one plane.
func (r *bilinear) backward(dy, dx []float32) {
	for oy := range r.oh {
		a, b := dx[r.y0[oy]*r.iw:], dx[r.y1[oy]*r.iw:]
		wy := r.ly[oy]
		row := dy[oy*r.ow : (oy+1)*r.ow]
		for ox, g := range row {
			x0, x1, wx := r.x0[ox], r.x1[ox], r.lx[ox]
			gt, gb := g*(1-wy), g*wy
			a[x0] += gt * (1 - wx)
			a[x1] += gt * wx
			b[x0] += gb * (1 - wx)
			b[x1] += gb * wx
		}
	}
}
