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
//
// The work is split per image so that Net can run it on a convolution's
// output while that image is still in cache: statistics and gradient sums
// are recorded per image and merged in image order (so the result does not
// depend on the worker count), and the output y is never stored: the mask
// y > 0 is recomputed from x with the same float32 expression.
type bnReLU struct {
	c               int
	g, b, dg, db    []float32
	runMean, runVar []float32
	mean, invstd    []float64 // batch statistics of the last training forward
	noReLU          bool      // for tests of BN alone

	ta, tb []float32    // y = ta*x+tb (before ReLU) in the last training forward
	ea, eb []float32    // the same from the running statistics
	ga, gb []float32    // backward: dx = ga*dz + gb + gc*x
	gc     []float32    //
	part   [][2]float64 // per image and channel: (mean, M2) forward, (sum dz, sum dz*(x-mean)) backward
}

func newBNReLU(c int) *bnReLU {
	f := func() []float32 { return make([]float32, c) }
	l := &bnReLU{c: c, g: f(), b: f(), dg: f(), db: f(), runMean: f(), runVar: f(),
		mean: make([]float64, c), invstd: make([]float64, c),
		ta: f(), tb: f(), ea: f(), eb: f(), ga: f(), gb: f(), gc: f()}
	for i := range c {
		l.g[i], l.runVar[i] = 1, 1
	}
	return l
}

func (l *bnReLU) parts(n int) {
	if cap(l.part) < n*l.c {
		l.part = make([][2]float64, n*l.c)
	}
	l.part = l.part[:n*l.c]
}

// statsImage records the per-channel mean and sum of squared deviations of
// image i (x is that image's [c, hw] block). Two passes over one image are
// cheap while it sits in cache, and avoid the cancellation of sum-of-squares.
func (l *bnReLU) statsImage(x []float32, hw, i int) {
	for c := range l.c {
		xs := x[c*hw : (c+1)*hw]
		m := sum(xs) / float64(hw)
		l.part[i*l.c+c] = [2]float64{m, sumSqDev(xs, m)}
	}
}

// finishStats merges the per-image statistics of n images (Chan et al.'s
// pairwise update, exact for equal counts), updates the running statistics
// and sets the training coefficients.
func (l *bnReLU) finishStats(n, hw int) {
	for c := range l.c {
		var sm float64
		for i := range n {
			sm += l.part[i*l.c+c][0]
		}
		mean := sm / float64(n)
		var ss float64
		for i := range n {
			p := l.part[i*l.c+c]
			d := p[0] - mean
			ss += p[1] + float64(hw)*d*d
		}
		cnt := float64(n * hw)
		vr := ss / cnt
		invstd := 1 / math.Sqrt(vr+bnEps)
		l.mean[c], l.invstd[c] = mean, invstd
		unbiased := vr
		if cnt > 1 {
			unbiased = ss / (cnt - 1)
		}
		l.runMean[c] = float32((1-bnMomentum)*float64(l.runMean[c]) + bnMomentum*mean)
		l.runVar[c] = float32((1-bnMomentum)*float64(l.runVar[c]) + bnMomentum*unbiased)
		l.ta[c] = float32(float64(l.g[c]) * invstd)
		l.tb[c] = float32(float64(l.b[c]) - float64(l.g[c])*invstd*mean)
	}
}

// evalCoef sets the evaluation coefficients from the running statistics.
// Parameters may change between calls (training, LoadStateDict), so it is
// recomputed per forward pass; it is O(c).
func (l *bnReLU) evalCoef() {
	for c := range l.c {
		mean := float64(l.runMean[c])
		invstd := 1 / math.Sqrt(float64(l.runVar[c])+bnEps)
		l.ea[c] = float32(float64(l.g[c]) * invstd)
		l.eb[c] = float32(float64(l.b[c]) - float64(l.g[c])*invstd*mean)
	}
}

// applyImage writes y = max(a*x+b, 0) for one image (y may alias x), with
// the training or evaluation coefficients.
func (l *bnReLU) applyImage(x, y []float32, hw int, train bool) {
	ca, cb := l.ea, l.eb
	if train {
		ca, cb = l.ta, l.tb
	}
	bnApplyImage(x[:l.c*hw], y[:l.c*hw], hw, ca, cb, !l.noReLU)
}

// gradImage records image i's per-channel sum(dz) and sum(dz*(x-mean)),
// dz = dy masked to where the last training forward's ReLU passed.
func (l *bnReLU) gradImage(x, dy []float32, hw, i int) {
	for c := range l.c {
		off := c * hw
		s, t := gradSums(x[off:off+hw], dy[off:off+hw], l.mean[c], l.ta[c], l.tb[c], !l.noReLU)
		l.part[i*l.c+c] = [2]float64{s, t}
	}
}

// finishGrad merges the per-image gradient sums of n images, accumulates dg
// and db and sets the input-gradient coefficients.
func (l *bnReLU) finishGrad(n, hw int) {
	for c := range l.c {
		var sdz, sdzx float64
		for i := range n {
			p := l.part[i*l.c+c]
			sdz += p[0]
			sdzx += p[1]
		}
		mean, invstd := l.mean[c], l.invstd[c]
		sdzx *= invstd // sum dz*xhat
		l.dg[c] += float32(sdzx)
		l.db[c] += float32(sdz)
		cnt := float64(n * hw)
		k := float64(l.g[c]) * invstd
		// dx = k*(dz - sdz/cnt - xhat*sdzx/cnt)
		l.ga[c] = float32(k)
		l.gb[c] = float32(-k * (sdz/cnt - mean*invstd*sdzx/cnt))
		l.gc[c] = float32(-k * invstd * sdzx / cnt)
	}
}

// gradApplyImage writes the input gradient dx of one image (may alias dy).
func (l *bnReLU) gradApplyImage(x, dy, dx []float32, hw int) {
	bnGradApplyImage(x[:l.c*hw], dy[:l.c*hw], dx[:l.c*hw], hw, l.ga, l.gb, l.gc, l.ta, l.tb, !l.noReLU)
}

// forward maps x [n, c, hw] to y (may alias x); the per-image steps in one
// call, for tests and callers without a convolution to fuse with.
func (l *bnReLU) forward(x []float32, n, hw int, y []float32, train bool, workers int) {
	if train {
		l.parts(n)
		parallelFor(n, workers, func(_, i int) { l.statsImage(x[i*l.c*hw:(i+1)*l.c*hw], hw, i) })
		l.finishStats(n, hw)
	} else {
		l.evalCoef()
	}
	parallelFor(n, workers, func(_, i int) {
		l.applyImage(x[i*l.c*hw:(i+1)*l.c*hw], y[i*l.c*hw:(i+1)*l.c*hw], hw, train)
	})
}

// backward takes the input x of the last training forward and dy; it
// accumulates dg, db and writes dx (may alias dy).
func (l *bnReLU) backward(x []float32, n, hw int, dy, dx []float32, workers int) {
	l.parts(n)
	parallelFor(n, workers, func(_, i int) {
		l.gradImage(x[i*l.c*hw:(i+1)*l.c*hw], dy[i*l.c*hw:(i+1)*l.c*hw], hw, i)
	})
	l.finishGrad(n, hw)
	parallelFor(n, workers, func(_, i int) {
		o := i * l.c * hw
		l.gradApplyImage(x[o:o+l.c*hw], dy[o:o+l.c*hw], dx[o:o+l.c*hw], hw)
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
// a*x+b > 0 (the forward's ReLU) if relu. a*x is rounded explicitly, here
// and in every kernel that computes the mask, so that no build fuses it
// into an FMA and the masks agree bit for bit.
func gradSums(x, dy []float32, mean float64, a, b float32, relu bool) (sdz, sdzx float64) {
	var s0, s1, t0, t1 float64
	dy = dy[:len(x)]
	m0, m1 := ^uint32(0), ^uint32(0)
	i := 0
	for ; i+2 <= len(x); i += 2 {
		if relu {
			m0, m1 = reluMask(float32(a*x[i])+b), reluMask(float32(a*x[i+1])+b)
		}
		g0 := float64(math.Float32frombits(math.Float32bits(dy[i]) & m0))
		g1 := float64(math.Float32frombits(math.Float32bits(dy[i+1]) & m1))
		s0 += g0
		s1 += g1
		t0 += g0 * (float64(x[i]) - mean)
		t1 += g1 * (float64(x[i+1]) - mean)
	}
	for ; i < len(x); i++ {
		if relu {
			m0 = reluMask(float32(a*x[i]) + b)
		}
		g := float64(math.Float32frombits(math.Float32bits(dy[i]) & m0))
		s0 += g
		t0 += g * (float64(x[i]) - mean)
	}
	return s0 + s1, t0 + t1
}
