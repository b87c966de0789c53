package segnet

import "math"

const (
	bnEps      = 1e-5
	bnMomentum = 0.1
)

// bnReLU is batch normalisation followed by ReLU, fused: y = max(0, g*xhat+b)
// with xhat = (x-mean)/sqrt(var+eps). Training uses the batch statistics over
// (N, H, W) and updates the running ones like PyTorch (momentum 0.1, unbiased
// variance); evaluation uses the running statistics.
type bnReLU struct {
	c               int
	g, b, dg, db    []float32
	runMean, runVar []float32
	mean, invstd    []float64 // batch statistics of the last training forward
	noReLU          bool      // for tests of BN alone
}

func newBNReLU(c int) *bnReLU {
	l := &bnReLU{c: c, g: make([]float32, c), b: make([]float32, c), dg: make([]float32, c), db: make([]float32, c),
		runMean: make([]float32, c), runVar: make([]float32, c), mean: make([]float64, c), invstd: make([]float64, c)}
	for i := range c {
		l.g[i], l.runVar[i] = 1, 1
	}
	return l
}

// forward maps x [n, c, hw] to y (may alias x).
func (l *bnReLU) forward(x []float32, n, hw int, y []float32, train bool, workers int) {
	parallelFor(l.c, workers, func(_, c int) {
		var mean, invstd float64
		if train {
			var s float64
			for i := range n {
				s += sum(x[(i*l.c+c)*hw : (i*l.c+c+1)*hw])
			}
			cnt := float64(n * hw)
			mean = s / cnt
			var ss float64
			for i := range n {
				ss += sumSqDev(x[(i*l.c+c)*hw:(i*l.c+c+1)*hw], mean)
			}
			vr := ss / cnt
			invstd = 1 / math.Sqrt(vr+bnEps)
			l.mean[c], l.invstd[c] = mean, invstd
			unbiased := vr
			if cnt > 1 {
				unbiased = ss / (cnt - 1)
			}
			l.runMean[c] = float32((1-bnMomentum)*float64(l.runMean[c]) + bnMomentum*mean)
			l.runVar[c] = float32((1-bnMomentum)*float64(l.runVar[c]) + bnMomentum*unbiased)
		} else {
			mean = float64(l.runMean[c])
			invstd = 1 / math.Sqrt(float64(l.runVar[c])+bnEps)
		}
		a := float32(float64(l.g[c]) * invstd)
		b := float32(float64(l.b[c]) - float64(l.g[c])*invstd*mean)
		for i := range n {
			xs := x[(i*l.c+c)*hw : (i*l.c+c+1)*hw]
			ys := y[(i*l.c+c)*hw : (i*l.c+c+1)*hw]
			if l.noReLU {
				for j, v := range xs {
					ys[j] = a*v + b
				}
				continue
			}
			for j, v := range xs {
				ys[j] = max(a*v+b, 0)
			}
		}
	})
}

// backward takes the input x and output y of the last training forward and
// dy; it accumulates dg, db and writes dx (may alias dy).
func (l *bnReLU) backward(x, y []float32, n, hw int, dy, dx []float32, workers int) {
	parallelFor(l.c, workers, func(_, c int) {
		mean, invstd := l.mean[c], l.invstd[c]
		var sdz, sdzx float64
		for i := range n {
			off := (i*l.c + c) * hw
			a, b := gradSums(x[off:off+hw], y[off:off+hw], dy[off:off+hw], mean, !l.noReLU)
			sdz += a
			sdzx += b
		}
		sdzx *= invstd // sum dz*xhat
		l.dg[c] += float32(sdzx)
		l.db[c] += float32(sdz)
		cnt := float64(n * hw)
		k := float64(l.g[c]) * invstd
		// dx = k*(dz - sdz/cnt - xhat*sdzx/cnt)
		a := float32(k)
		b := float32(-k * (sdz/cnt - mean*invstd*sdzx/cnt))
		cx := float32(-k * invstd * sdzx / cnt)
		for i := range n {
			off := (i*l.c + c) * hw
			xs, ys, dys, dxs := x[off:off+hw], y[off:off+hw], dy[off:off+hw], dx[off:off+hw]
			for j, v := range dys {
				dz := v
				if !l.noReLU && ys[j] <= 0 {
					dz = 0
				}
				dxs[j] = a*dz + b + cx*xs[j]
			}
		}
	})
}

// The reductions below keep four independent float64 accumulators: one
// accumulator makes the loop wait on the add latency.

func sum(x []float32) float64 {
	var a0, a1, a2, a3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a0 += float64(x[i])
		a1 += float64(x[i+1])
		a2 += float64(x[i+2])
		a3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		a0 += float64(x[i])
	}
	return (a0 + a1) + (a2 + a3)
}

func sumSqDev(x []float32, m float64) float64 {
	var a0, a1, a2, a3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1, d2, d3 := float64(x[i])-m, float64(x[i+1])-m, float64(x[i+2])-m, float64(x[i+3])-m
		a0 += d0 * d0
		a1 += d1 * d1
		a2 += d2 * d2
		a3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - m
		a0 += d * d
	}
	return (a0 + a1) + (a2 + a3)
}

// gradSums returns sum(dz) and sum(dz*(x-mean)) where dz = dy, masked to
// y > 0 if relu.
func gradSums(x, y, dy []float32, mean float64, relu bool) (sdz, sdzx float64) {
	var s0, s1, t0, t1 float64
	dy = dy[:len(x)]
	y = y[:len(x)]
	i := 0
	for ; i+2 <= len(x); i += 2 {
		g0, g1 := float64(dy[i]), float64(dy[i+1])
		if relu {
			if y[i] <= 0 {
				g0 = 0
			}
			if y[i+1] <= 0 {
				g1 = 0
			}
		}
		s0 += g0
		s1 += g1
		t0 += g0 * (float64(x[i]) - mean)
		t1 += g1 * (float64(x[i+1]) - mean)
	}
	for ; i < len(x); i++ {
		g := float64(dy[i])
		if relu && y[i] <= 0 {
			g = 0
		}
		s0 += g
		t0 += g * (float64(x[i]) - mean)
	}
	return s0 + s1, t0 + t1
}
