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

// softmaxRow writes the arg-max class and round(255·max softmax
// probability) of pixels p0..p0+n-1 of z (k planes of stride hw). Pixels
// go in blocks with the channel loop outside, so that each inner loop runs
// over contiguous values, and the sum of exponentials uses expf32: its
// 1e-7 relative error moves 255/Σ by less than 3e-4, so only within 1e-3
// of a rounding boundary can the 8-bit value differ from the exact one,
// and there (rarely) the float64 exponential decides. The outputs are
// those of math.Exp throughout (TestSoftmaxRow), as in the C build.
func softmaxRow(z []float32, k, hw, p0, n int, mask, conf []uint8) {
	const blk = 64
	var best [blk]float32
	var bi [blk]uint8
	var se [blk]float64
	for x0 := 0; x0 < n; x0 += blk {
		nb := min(blk, n-x0)
		zp := z[p0+x0:]
		b, ix, s := best[:nb], bi[:nb], se[:nb]
		copy(b, zp[:nb])
		clear(ix)
		clear(s)
		for c := 1; c < k; c++ {
			for j, v := range zp[c*hw : c*hw+nb] {
				if v > b[j] {
					b[j], ix[j] = v, uint8(c)
				}
			}
		}
		for c := range k {
			for j, v := range zp[c*hw : c*hw+nb] {
				s[j] += float64(expf32(v - b[j]))
			}
		}
		m, cf := mask[x0:x0+nb], conf[x0:x0+nb]
		for j := range nb {
			q := 255 / s[j] // >= 1: the largest term is exactly 1
			m[j] = ix[j]
			if f := q - math.Floor(q); f > 0.499 && f < 0.501 {
				var e float64
				for c := range k {
					e += math.Exp(float64(zp[c*hw+j] - b[j]))
				}
				q = 255 / e
			}
			cf[j] = uint8(math.Round(q))
		}
	}
}

// expf32 is e^x to about 1e-7 relative for x in [-87, 0] and 0 below, the
// C build's expf_poly: Cephes' expf polynomial on x - n·ln 2 (ln 2 in two
// parts), scaled by 2^n through the exponent bits; n is x·log2(e) rounded
// by adding 1.5·2^23, whose float32 sum keeps no fraction.
func expf32(x float32) float32 {
	if x < -87 {
		return 0
	}
	const magic = 12582912
	t := float32(x*1.44269504088896341 + magic)
	fn := t - magic
	n := int32(math.Float32bits(t)) - 0x4B400000
	r := x - fn*0.693359375 - fn*-2.12194440e-4
	p := float32(((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1)
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}
