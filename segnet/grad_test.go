package segnet

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Float64 reference implementations: direct loops, written independently of
// the im2col/GEMM code, used for finite differences.

func refConv(x []float64, n, c, h, w int, wt []float64, o, s, d int) ([]float64, int, int) {
	ho, wo := (h-1)/s+1, (w-1)/s+1
	y := make([]float64, n*o*ho*wo)
	for i := range n {
		for oc := range o {
			for oy := range ho {
				for ox := range wo {
					var acc float64
					for ic := range c {
						for ky := range 3 {
							for kx := range 3 {
								iy, ix := oy*s-d+ky*d, ox*s-d+kx*d
								if iy < 0 || iy >= h || ix < 0 || ix >= w {
									continue
								}
								acc += wt[((oc*c+ic)*3+ky)*3+kx] * x[((i*c+ic)*h+iy)*w+ix]
							}
						}
					}
					y[((i*o+oc)*ho+oy)*wo+ox] = acc
				}
			}
		}
	}
	return y, ho, wo
}

func refBN(x []float64, n, c, hw int, g, b []float64, relu bool) []float64 {
	y := make([]float64, len(x))
	for ch := range c {
		var s, ss float64
		for i := range n {
			for p := range hw {
				s += x[(i*c+ch)*hw+p]
			}
		}
		m := s / float64(n*hw)
		for i := range n {
			for p := range hw {
				d := x[(i*c+ch)*hw+p] - m
				ss += d * d
			}
		}
		inv := 1 / math.Sqrt(ss/float64(n*hw)+bnEps)
		for i := range n {
			for p := range hw {
				v := g[ch]*(x[(i*c+ch)*hw+p]-m)*inv + b[ch]
				if relu {
					v = max(v, 0)
				}
				y[(i*c+ch)*hw+p] = v
			}
		}
	}
	return y
}

func refHead(x []float64, n, c, hw int, w, b []float64, k int) []float64 {
	y := make([]float64, n*k*hw)
	for i := range n {
		for o := range k {
			for p := range hw {
				acc := b[o]
				for ic := range c {
					acc += w[o*c+ic] * x[(i*c+ic)*hw+p]
				}
				y[(i*k+o)*hw+p] = acc
			}
		}
	}
	return y
}

// refResize follows PyTorch's upsample_bilinear2d (align_corners=False).
func refResize(x []float64, planes, ih, iw, oh, ow int) []float64 {
	y := make([]float64, planes*oh*ow)
	src := func(o, in, out int) (int, int, float64) {
		s := (float64(o)+0.5)*float64(in)/float64(out) - 0.5
		if s < 0 {
			s = 0
		}
		a := int(math.Floor(s))
		b := a + 1
		if b > in-1 {
			b = in - 1
		}
		if a > in-1 {
			a = in - 1
		}
		return a, b, s - float64(a)
	}
	for p := range planes {
		for oy := range oh {
			y0, y1, ly := src(oy, ih, oh)
			for ox := range ow {
				x0, x1, lx := src(ox, iw, ow)
				at := func(yy, xx int) float64 { return x[(p*ih+yy)*iw+xx] }
				y[(p*oh+oy)*ow+ox] = (1-ly)*((1-lx)*at(y0, x0)+lx*at(y0, x1)) + ly*((1-lx)*at(y1, x0)+lx*at(y1, x1))
			}
		}
	}
	return y
}

func refCE(z []float64, labels []uint8, wt []float32, n, k, hw int) float64 {
	var s, tot float64
	for i := range n {
		for p := range hw {
			y := labels[i*hw+p]
			if y == Ignore {
				continue
			}
			w := 1.0
			if wt != nil {
				w = float64(wt[i*hw+p])
			}
			m := math.Inf(-1)
			for c := range k {
				m = max(m, z[(i*k+c)*hw+p])
			}
			var se float64
			for c := range k {
				se += math.Exp(z[(i*k+c)*hw+p] - m)
			}
			s += w * (m + math.Log(se) - z[(i*k+int(y))*hw+p])
			tot += w
		}
	}
	return s / tot
}

func randSlice(rng *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * scale)
	}
	return s
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

func dot(a []float64, b []float32) float64 {
	var s float64
	for i := range a {
		s += a[i] * float64(b[i])
	}
	return s
}

// checkGrad compares analytic gradients (float32) with central differences of
// the float64 function f at x, for every coordinate (or a sample of them).
func checkGrad(t *testing.T, what string, x []float64, analytic []float32, f func([]float64) float64, tol float64) {
	t.Helper()
	const h = 1e-5
	step := max(1, len(x)/200)
	var idx []int
	var nums []float64
	var scale float64
	for i := 0; i < len(x); i += step {
		old := x[i]
		x[i] = old + h
		fp := f(x)
		x[i] = old - h
		fm := f(x)
		x[i] = old
		num := (fp - fm) / (2 * h)
		idx, nums = append(idx, i), append(nums, num)
		scale = max(scale, math.Abs(num))
	}
	if scale == 0 {
		t.Fatalf("%s: all finite differences are zero; the check would be vacuous", what)
	}
	// Relative error, with entries much smaller than the largest judged
	// against a tenth of it (their own size is dominated by rounding).
	var worst float64
	for j, i := range idx {
		num := nums[j]
		err := math.Abs(num-float64(analytic[i])) / max(math.Abs(num), 0.1*scale)
		worst = max(worst, err)
		if err > tol {
			t.Fatalf("%s[%d]: analytic %.6g, finite difference %.6g (relative error %.2g)", what, i, analytic[i], num, err)
		}
	}
	t.Logf("%s: %d coordinates, max |grad| %.3g, worst relative error %.2e", what, len(idx), scale, worst)
}

func TestConvGradient(t *testing.T) {
	t.Run("whole", testConvGradient)
	// One output row per im2col block: exercises the block boundaries.
	defer func(v int) { chunkFloats = v }(chunkFloats)
	chunkFloats = 1
	t.Run("rows", testConvGradient)
}

func testConvGradient(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		n, c, o, h, w, s, d, wk int
	}{
		{"s1d1", 2, 3, 4, 6, 7, 1, 1, 1},
		{"s2d1-odd", 2, 3, 4, 7, 5, 2, 1, 2},
		{"s1d2", 1, 2, 3, 6, 8, 1, 2, 1},
		{"s2d2", 2, 2, 3, 9, 6, 2, 2, 2},
		{"s1d4-small", 2, 2, 2, 5, 6, 1, 4, 1}, // most taps fall in the padding
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			l := &conv3{in: tc.c, out: tc.o, stride: tc.s, dil: tc.d,
				w: randSlice(rng, tc.o*tc.c*9, 0.5), dw: make([]float32, tc.o*tc.c*9)}
			x := randSlice(rng, tc.n*tc.c*tc.h*tc.w, 1)
			ho, wo := outSize(tc.h, tc.s, tc.d), outSize(tc.w, tc.s, tc.d)
			y := make([]float32, tc.n*tc.o*ho*wo)
			l.forward(x, tc.n, tc.h, tc.w, y, tc.wk)
			ref, rh, rw := refConv(to64(x), tc.n, tc.c, tc.h, tc.w, to64(l.w), tc.o, tc.s, tc.d)
			if rh != ho || rw != wo {
				t.Fatalf("output size %dx%d, reference %dx%d", ho, wo, rh, rw)
			}
			for i := range y {
				if math.Abs(float64(y[i])-ref[i]) > 1e-4 {
					t.Fatalf("forward[%d] = %g, reference %g", i, y[i], ref[i])
				}
			}
			r := randSlice(rng, len(y), 1)
			dx := make([]float32, len(x))
			l.backward(x, tc.n, tc.h, tc.w, r, dx, tc.wk)
			x64, w64 := to64(x), to64(l.w)
			checkGrad(t, "dx", x64, dx, func(v []float64) float64 {
				y, _, _ := refConv(v, tc.n, tc.c, tc.h, tc.w, w64, tc.o, tc.s, tc.d)
				return dot(y, r)
			}, 1e-3)
			checkGrad(t, "dw", w64, l.dw, func(v []float64) float64 {
				y, _, _ := refConv(x64, tc.n, tc.c, tc.h, tc.w, v, tc.o, tc.s, tc.d)
				return dot(y, r)
			}, 1e-3)
		})
	}
}

func TestBNReLUGradient(t *testing.T) {
	for _, relu := range []bool{false, true} {
		name := "bn"
		if relu {
			name = "bn+relu"
		}
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			n, c, hw := 3, 4, 10
			l := newBNReLU(c)
			l.noReLU = !relu
			copy(l.g, randSlice(rng, c, 1))
			copy(l.b, randSlice(rng, c, 0.5))
			x := randSlice(rng, n*c*hw, 2)
			for i := range x {
				x[i] += 1.5 // non-zero mean
			}
			y := make([]float32, len(x))
			l.forward(x, n, hw, y, true, 2)
			g64, b64 := to64(l.g), to64(l.b)
			ref := refBN(to64(x), n, c, hw, g64, b64, relu)
			for i := range y {
				if math.Abs(float64(y[i])-ref[i]) > 1e-4 {
					t.Fatalf("forward[%d] = %g, reference %g", i, y[i], ref[i])
				}
			}
			r := randSlice(rng, len(y), 1)
			dx := make([]float32, len(x))
			l.backward(x, n, hw, r, dx, 2)
			x64 := to64(x)
			checkGrad(t, "dx", x64, dx, func(v []float64) float64 { return dot(refBN(v, n, c, hw, g64, b64, relu), r) }, 2e-3)
			checkGrad(t, "dgamma", g64, l.dg, func(v []float64) float64 { return dot(refBN(x64, n, c, hw, v, b64, relu), r) }, 1e-3)
			checkGrad(t, "dbeta", b64, l.db, func(v []float64) float64 { return dot(refBN(x64, n, c, hw, g64, v, relu), r) }, 1e-3)
		})
	}
}

func TestBNRunningStats(t *testing.T) {
	// PyTorch: running_mean = 0.9*0 + 0.1*mean, running_var = 0.9*1 + 0.1*unbiased var.
	l := newBNReLU(1)
	x := []float32{1, 2, 3, 6}
	l.forward(x, 1, 4, make([]float32, 4), true, 1)
	if math.Abs(float64(l.runMean[0])-0.3) > 1e-6 || math.Abs(float64(l.runVar[0])-(0.9+0.1*14.0/3)) > 1e-6 {
		t.Fatalf("running stats %g %g", l.runMean[0], l.runVar[0])
	}
}

func TestHeadGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n, c, k, hw := 2, 5, 3, 12
	l := &conv1{in: c, out: k, w: randSlice(rng, k*c, 1), dw: make([]float32, k*c), b: randSlice(rng, k, 1), db: make([]float32, k)}
	x := randSlice(rng, n*c*hw, 1)
	y := make([]float32, n*k*hw)
	l.forward(x, n, hw, y, 2)
	w64, b64, x64 := to64(l.w), to64(l.b), to64(x)
	ref := refHead(x64, n, c, hw, w64, b64, k)
	for i := range y {
		if math.Abs(float64(y[i])-ref[i]) > 1e-4 {
			t.Fatalf("forward[%d] = %g, reference %g", i, y[i], ref[i])
		}
	}
	r := randSlice(rng, len(y), 1)
	dx := make([]float32, len(x))
	l.backward(x, n, hw, r, dx, 2)
	checkGrad(t, "dx", x64, dx, func(v []float64) float64 { return dot(refHead(v, n, c, hw, w64, b64, k), r) }, 1e-3)
	checkGrad(t, "dw", w64, l.dw, func(v []float64) float64 { return dot(refHead(x64, n, c, hw, v, b64, k), r) }, 1e-3)
	checkGrad(t, "db", b64, l.db, func(v []float64) float64 { return dot(refHead(x64, n, c, hw, w64, v, k), r) }, 1e-3)
}

func TestBilinearGradient(t *testing.T) {
	for _, tc := range []struct{ ih, iw, oh, ow int }{
		{3, 4, 12, 16}, {5, 7, 19, 30}, {6, 6, 4, 9}, {1, 3, 4, 5},
	} {
		rng := rand.New(rand.NewPCG(7, 8))
		r := newBilinear(tc.ih, tc.iw, tc.oh, tc.ow)
		x := randSlice(rng, tc.ih*tc.iw, 1)
		y := make([]float32, tc.oh*tc.ow)
		r.forward(x, y, make([]float32, r.tmpLen()))
		ref := refResize(to64(x), 1, tc.ih, tc.iw, tc.oh, tc.ow)
		for i := range y {
			if math.Abs(float64(y[i])-ref[i]) > 1e-5 {
				t.Fatalf("%v forward[%d] = %g, reference %g", tc, i, y[i], ref[i])
			}
		}
		g := randSlice(rng, len(y), 1)
		dx := make([]float32, len(x))
		r.backward(g, dx, make([]float32, r.tmpLen()))
		checkGrad(t, "dx", to64(x), dx, func(v []float64) float64 { return dot(refResize(v, 1, tc.ih, tc.iw, tc.oh, tc.ow), g) }, 1e-4)
	}
}

func TestCrossEntropyGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n, k, hw := 2, 4, 15
	z := randSlice(rng, n*k*hw, 2)
	labels := make([]uint8, n*hw)
	for i := range labels {
		labels[i] = uint8(rng.IntN(k))
		if i%4 == 1 {
			labels[i] = Ignore
		}
	}
	for _, weighted := range []bool{false, true} {
		var wt []float32
		if weighted {
			wt = make([]float32, n*hw)
			for i := range wt {
				wt[i] = rng.Float32()
			}
		}
		dz := make([]float32, len(z))
		loss, _ := crossEntropy(z, labels, wt, n, k, hw, dz, 2)
		ref := refCE(to64(z), labels, wt, n, k, hw)
		if math.Abs(loss-ref) > 1e-5 {
			t.Fatalf("weighted=%v: loss %g, reference %g", weighted, loss, ref)
		}
		for i := range n * hw {
			if labels[i] != Ignore {
				continue
			}
			for c := range k {
				if d := dz[(i/hw*k+c)*hw+i%hw]; d != 0 {
					t.Fatalf("ignored pixel %d has gradient %g", i, d)
				}
			}
		}
		checkGrad(t, "dz", to64(z), dz, func(v []float64) float64 { return refCE(v, labels, wt, n, k, hw) }, 1e-4)
	}
	// all ignored: zero loss, zero gradient, no NaN
	all := make([]uint8, n*hw)
	for i := range all {
		all[i] = Ignore
	}
	dz := randSlice(rng, len(z), 1)
	if loss, tot := crossEntropy(z, all, nil, n, k, hw, dz, 1); loss != 0 || tot != 0 {
		t.Fatalf("all ignored: loss %g total %g", loss, tot)
	}
	for _, v := range dz {
		if v != 0 {
			t.Fatal("all ignored: non-zero gradient")
		}
	}
}

// TestNetGradient checks the whole network's parameter gradients against a
// float64 composition of the reference layers.
func TestNetGradient(t *testing.T) {
	t.Run("whole", testNetGradient)
	defer func(v int) { chunkFloats = v }(chunkFloats)
	chunkFloats = 40 // a few output rows per block
	t.Run("blocks", testNetGradient)
}

func testNetGradient(t *testing.T) {
	arch := Arch{Classes: 3, Layers: []LayerSpec{{4, 2, 1}, {4, 1, 2}, {5, 2, 1}}}
	net := New(arch, rand.NewPCG(11, 12))
	net.Workers = 2
	rng := rand.New(rand.NewPCG(13, 14))
	n, h, w := 2, 11, 9
	net.alloc(n, h, w, h, w)
	copy(net.input, randSlice(rng, n*3*h*w, 1))
	labels := make([]uint8, n*h*w)
	for i := range labels {
		labels[i] = uint8(rng.IntN(3))
		if i%7 == 0 {
			labels[i] = Ignore
		}
	}
	wt := make([]float32, len(labels))
	for i := range wt {
		wt[i] = 0.2 + rng.Float32()
	}
	// BN gammas away from 1 and betas positive so that ReLUs are mixed.
	for _, b := range net.bns {
		for c := range b.g {
			b.g[c] = 0.5 + rng.Float32()
			b.b[c] = 0.3 * rng.Float32()
		}
	}
	logits := net.forward()
	dl := make([]float32, len(logits))
	crossEntropy(logits, labels, wt, n, 3, h*w, dl, 2)
	net.zeroGrad()
	dIn := make([]float32, len(net.input))
	net.backward(dl, dIn)

	ps := net.params()
	vals := make([][]float64, len(ps))
	for i, p := range ps {
		vals[i] = to64(p.v)
	}
	x64 := to64(net.input)
	loss := func(x []float64) float64 {
		a, c, hh, ww := x, 3, h, w
		for li, l := range arch.Layers {
			var ho, wo int
			a, ho, wo = refConv(a, n, c, hh, ww, vals[3*li], l.Out, l.Stride, l.Dilation)
			a = refBN(a, n, l.Out, ho*wo, vals[3*li+1], vals[3*li+2], true)
			c, hh, ww = l.Out, ho, wo
		}
		L := len(arch.Layers)
		a = refHead(a, n, c, hh*ww, vals[3*L], vals[3*L+1], 3)
		a = refResize(a, n*3, hh, ww, h, w)
		return refCE(a, labels, wt, n, 3, h*w)
	}
	for i, p := range ps {
		checkGrad(t, p.name, vals[i], p.g, func([]float64) float64 { return loss(x64) }, 2e-3)
	}
	checkGrad(t, "input", x64, dIn, loss, 2e-3)
}
