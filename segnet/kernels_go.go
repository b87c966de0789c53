//go:build !(openblas && cgo)

package segnet

import "math"

// The elementwise kernels of the pure-Go build; the openblas build has C
// versions (kernels_cgo.go) that the C compiler vectorises.

// addTo adds src to dst.
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// im2colStride1 is im2col for stride 1.
func im2colStride1(x []float32, c, h, w, d int, col []float32, r0, r1 int) {
	im2colS1(x, c, h, w, d, col, r0, r1)
}

// im2colStrided is im2col for stride s > 1.
func im2colStrided(x []float32, c, h, w, s, d int, col []float32, r0, r1 int) {
	wo := outSize(w, s, d)
	n := (r1 - r0) * wo
	for ci := range c {
		xc := x[ci*h*w : (ci+1)*h*w]
		for ky := range 3 {
			for kx := range 3 {
				row := col[((ci*3+ky)*3+kx)*n : ((ci*3+ky)*3+kx+1)*n]
				dx := kx*d - d
				lo, hi := stridedSpan(w, wo, s, dx)
				for oy := r0; oy < r1; oy++ {
					iy := oy*s - d + ky*d
					dst := row[(oy-r0)*wo : (oy-r0+1)*wo]
					if iy < 0 || iy >= h {
						clear(dst)
						continue
					}
					src := xc[iy*w : (iy+1)*w]
					for ox := range lo {
						dst[ox] = 0
					}
					gatherStrided(dst[lo:hi], src, lo*s+dx, s)
					for ox := hi; ox < wo; ox++ {
						dst[ox] = 0
					}
				}
			}
		}
	}
}

// gatherStrided sets dst[i] = src[off+i*s].
func gatherStrided(dst, src []float32, off, s int) {
	if len(dst) == 0 {
		return
	}
	src = src[off : off+(len(dst)-1)*s+1]
	for i := range dst {
		dst[i] = src[i*s]
	}
}

// lerpRows writes y = t + w*(b-t).
func lerpRows(y, t, b []float32, w float32) {
	y = y[:len(t)]
	b = b[:len(t)]
	for i, v := range t {
		y[i] = v + w*(b[i]-v)
	}
}

// addScaled adds a*src to dst.
func addScaled(dst, src []float32, a float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += a * v
	}
}

// bnApplyImage writes y = a[c]*x+b[c] for the planes of one image
// [len(a), hw], with ReLU if relu; y may alias x.
func bnApplyImage(x, y []float32, hw int, a, b []float32, relu bool) {
	for c := range a {
		ca, cb := a[c], b[c]
		xs := x[c*hw : (c+1)*hw]
		ys := y[c*hw : (c+1)*hw]
		ys = ys[:len(xs)]
		if !relu {
			for j, v := range xs {
				ys[j] = float32(ca*v) + cb
			}
			continue
		}
		for j, v := range xs {
			t := float32(ca*v) + cb
			ys[j] = math.Float32frombits(math.Float32bits(t) & reluMask(t))
		}
	}
}

// bnGradApplyImage writes dx = ga*dz + gb + gc*x per plane of one image,
// dz = dy masked to fa*x+fb > 0 if relu; dx may alias dy.
func bnGradApplyImage(x, dy, dx []float32, hw int, ga, gb, gc, fa, fb []float32, relu bool) {
	for c := range ga {
		off := c * hw
		xs, dys, dxs := x[off:off+hw], dy[off:off+hw], dx[off:off+hw]
		a, b, cx := ga[c], gb[c], gc[c]
		ma, mb := fa[c], fb[c]
		dys, dxs = dys[:len(xs)], dxs[:len(xs)]
		for j, v := range xs {
			dz := dys[j]
			if relu {
				dz = math.Float32frombits(math.Float32bits(dz) & reluMask(float32(ma*v)+mb))
			}
			dxs[j] = a*dz + b + cx*v
		}
	}
}

// ceImage returns one image's weighted cross-entropy sum over its counted
// pixels (logits z [k, hw]; weight nil: 1) and, if dz != nil, writes its
// gradient scaled by inv (0 at ignored pixels).
func ceImage(z []float32, labels []uint8, weight []float32, k, hw int, inv float32, dz []float32) float64 {
	var s float64
	var e [256]float64
	for p := range hw {
		y := labels[p]
		if y == Ignore || int(y) >= k {
			if dz != nil {
				for c := range k {
					dz[c*hw+p] = 0
				}
			}
			continue
		}
		w := float32(1)
		if weight != nil {
			w = weight[p]
		}
		m := z[p]
		for c := 1; c < k; c++ {
			m = max(m, z[c*hw+p])
		}
		var se float64
		for c := range k {
			e[c] = math.Exp(float64(z[c*hw+p] - m))
			se += e[c]
		}
		s += float64(w) * (float64(m) + math.Log(se) - float64(z[int(y)*hw+p]))
		if dz != nil {
			g := float64(w*inv) / se
			for c := range k {
				dz[c*hw+p] = float32(g * e[c])
			}
			dz[int(y)*hw+p] -= w * inv
		}
	}
	return s
}

// softmaxRow writes, for the n pixels from p0 of logits z [k, hw], the
// arg-max class and round(255 * its softmax probability).
func softmaxRow(z []float32, k, hw, p0, n int, mask, conf []uint8) {
	for x := range n {
		p := p0 + x
		best, bi := z[p], 0
		for c := 1; c < k; c++ {
			if v := z[c*hw+p]; v > best {
				best, bi = v, c
			}
		}
		var se float64
		for c := range k {
			se += math.Exp(float64(z[c*hw+p] - best))
		}
		mask[x] = uint8(bi)
		conf[x] = uint8(math.Round(255 / se))
	}
}
