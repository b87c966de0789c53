package segnet

import (
	"context"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Float64 references of the SwAV head, written as direct formulas.

func refGAP(x []float64, n, c, hw int) []float64 {
	z := make([]float64, n*c)
	for i := range n * c {
		for p := range hw {
			z[i] += x[i*hw+p]
		}
		z[i] /= float64(hw)
	}
	return z
}

// refSwAV is Σ_i w_i CE(q_i, softmax(<z_i/|z_i|, c_k>/τ)).
func refSwAV(z []float64, n, d int, c []float64, p int, q, w []float64, tau float64) float64 {
	var loss float64
	for i := range n {
		var nz float64
		for j := range d {
			nz += z[i*d+j] * z[i*d+j]
		}
		nz = math.Sqrt(nz)
		s := make([]float64, p)
		for k := range p {
			for j := range d {
				s[k] += z[i*d+j] / nz * c[k*d+j]
			}
			s[k] /= tau
		}
		m := slices.Max(s)
		var se float64
		for _, v := range s {
			se += math.Exp(v - m)
		}
		for k := range p {
			loss -= w[i] * q[i*p+k] * (s[k] - m - math.Log(se))
		}
	}
	return loss
}

func to32(s []float64) []float32 {
	d := make([]float32, len(s))
	for i, v := range s {
		d[i] = float32(v)
	}
	return d
}

func randCodes(rng *rand.Rand, n, p int) []float64 {
	q := make([]float64, n*p)
	for i := range n {
		var s float64
		for k := range p {
			q[i*p+k] = rng.Float64()
			s += q[i*p+k]
		}
		for k := range p {
			q[i*p+k] /= s
		}
	}
	return q
}

func TestGAPGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	n, c, hw := 2, 3, 10
	x := randSlice(rng, n*c*hw, 1)
	z := make([]float64, n*c)
	gapForward(x, n, c, hw, z)
	ref := refGAP(to64(x), n, c, hw)
	for i := range z {
		if math.Abs(z[i]-ref[i]) > 1e-6 {
			t.Fatalf("gap[%d] = %g, reference %g", i, z[i], ref[i])
		}
	}
	r := make([]float64, n*c)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	dx := make([]float32, len(x))
	gapBackward(r, n, c, hw, dx)
	checkGrad(t, "dx", to64(x), dx, func(v []float64) float64 {
		var s float64
		for i, g := range refGAP(v, n, c, hw) {
			s += g * r[i]
		}
		return s
	}, 1e-4)
}

// TestSwAVLossGradient checks the gradient of the loss with respect to the
// embeddings (through the L2 normalisation and the prototype scores) and to
// the prototypes, codes held constant as in SwAV; each layer on its own too.
func TestSwAVLossGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	n, d, p := 5, 6, 7
	tau := 0.1
	z := make([]float64, n*d)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	c32 := randSlice(rng, p*d, 1)
	normalizeRows(c32, p, d)
	c64 := to64(c32)
	q := randCodes(rng, n, p)
	w := make([]float64, n)
	for i := range w {
		w[i] = 0.5 + rng.Float64()
	}
	u := make([]float64, n*d)
	norms := l2Normalize(z, n, d, u)
	s := make([]float64, n*p)
	scores(u, n, d, c32, p, s)
	ds := make([]float64, n*p)
	loss := swappedCE(s, q, w, n, p, tau, ds)
	if ref := refSwAV(z, n, d, c64, p, q, w, tau); math.Abs(loss-ref) > 1e-9*math.Abs(ref) {
		t.Fatalf("loss %g, reference %g", loss, ref)
	}
	du := make([]float64, n*d)
	dc := make([]float64, p*d)
	scoresBackward(ds, u, n, d, c32, p, du, dc)
	dz := make([]float64, n*d)
	l2NormalizeBackward(u, du, norms, n, d, dz)
	checkGrad(t, "dz", z, to32(dz), func(v []float64) float64 { return refSwAV(v, n, d, c64, p, q, w, tau) }, 1e-4)
	checkGrad(t, "dprototypes", c64, to32(dc), func(v []float64) float64 { return refSwAV(z, n, d, v, p, q, w, tau) }, 1e-4)

	// The layers one by one, against random output weights r.
	r := make([]float64, n*d)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	l2NormalizeBackward(u, r, norms, n, d, dz)
	checkGrad(t, "l2norm", z, to32(dz), func(v []float64) float64 {
		o := make([]float64, len(v))
		l2Normalize(v, n, d, o)
		var acc float64
		for i := range o {
			acc += o[i] * r[i]
		}
		return acc
	}, 1e-4)
	rs := make([]float64, n*p)
	for i := range rs {
		rs[i] = rng.NormFloat64()
	}
	clear(dc)
	scoresBackward(rs, u, n, d, c32, p, du, dc)
	dotScores := func(uu []float64, cc []float64) float64 {
		var acc float64
		for i := range n {
			for k := range p {
				var sc float64
				for j := range d {
					sc += uu[i*d+j] * cc[k*d+j]
				}
				acc += sc * rs[i*p+k]
			}
		}
		return acc
	}
	checkGrad(t, "scores.du", slices.Clone(u), to32(du), func(v []float64) float64 { return dotScores(v, c64) }, 1e-6)
	checkGrad(t, "scores.dc", c64, to32(dc), func(v []float64) float64 { return dotScores(u, v) }, 1e-6)
	checkGrad(t, "ce.ds", slices.Clone(s), to32(ds), func(v []float64) float64 {
		return swappedCE(v, q, w, n, p, tau, nil)
	}, 1e-4)
}

func TestSinkhorn(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	rows, p, n := 40, 5, 30
	s := make([]float64, rows*p)
	for i := range s {
		s[i] = 2*rng.Float64() - 1
	}
	// Skewed scores: prototype 0 is everybody's favourite.
	for i := range rows {
		s[i*p] += 0.5
	}
	q := sinkhorn(s, rows, p, 0.05, 3, n)
	if len(q) != n*p {
		t.Fatalf("%d codes, want %d", len(q), n*p)
	}
	for i := range n {
		var rs float64
		for k := range p {
			rs += q[i*p+k]
			if q[i*p+k] < 0 || math.IsNaN(q[i*p+k]) {
				t.Fatalf("code %d,%d = %g", i, k, q[i*p+k])
			}
		}
		if math.Abs(rs-1) > 1e-12 {
			t.Fatalf("row %d sums to %g", i, rs)
		}
	}
	// Equipartition: with enough iterations every prototype gets rows/p of
	// the rows' mass; SwAV's 3 iterations already spread it much more
	// evenly than the unbalanced softmax(s/eps) rows do.
	spread := func(q []float64) float64 {
		col := make([]float64, p)
		for i := range rows {
			for k := range p {
				col[k] += q[i*p+k]
			}
		}
		var worst float64
		for _, c := range col {
			worst = max(worst, math.Abs(c-float64(rows)/float64(p)))
		}
		return worst / (float64(rows) / float64(p))
	}
	if e := spread(sinkhorn(s, rows, p, 0.05, 200, rows)); e > 1e-3 {
		t.Fatalf("200 iterations: column mass off by %.3g (relative)", e)
	}
	raw, three := spread(sinkhorn(s, rows, p, 0.05, 0, rows)), spread(sinkhorn(s, rows, p, 0.05, 3, rows))
	if three > raw/2 {
		t.Fatalf("3 iterations: column mass off by %.3g, unbalanced %.3g", three, raw)
	}
	t.Logf("column mass off by %.3g unbalanced, %.3g after 3 iterations", raw, three)
	// Against the naive argmax, prototype 0 would take most rows.
	if h := codeEntropy(s, rows, p); h > 0.9*math.Log(float64(p)) {
		t.Fatalf("test scores are not skewed (entropy %g)", h)
	}
	// Equal scores: uniform codes.
	u := sinkhorn(make([]float64, rows*p), rows, p, 0.05, 3, n)
	for _, v := range u {
		if math.Abs(v-1/float64(p)) > 1e-12 {
			t.Fatalf("equal scores give code %g, want %g", v, 1/float64(p))
		}
	}
}

// TestSwAVNetGradient checks the whole SwAV path, network, average pooling,
// normalisation, prototypes and loss, against a float64 composition of the
// reference layers, codes held constant.
func TestSwAVNetGradient(t *testing.T) {
	data := []SwAVImage{{Image: image.NewNRGBA(image.Rect(0, 0, 8, 8)), Centers: [][2]float32{{4, 4}}}}
	layers := []LayerSpec{{4, 2, 1}, {5, 1, 2}}
	hd, d, p := 6, 3, 4
	tr, err := NewSwAV(data, SwAVSettings{Layers: layers, ProjHidden: hd, ProjDim: d, Prototypes: p, Batch: 2, Workers: 2}, 7)
	if err != nil {
		t.Fatal(err)
	}
	net := tr.net
	rng := rand.New(rand.NewPCG(27, 28))
	for _, b := range append(slices.Clone(net.bns), tr.pbn) {
		for c := range b.g {
			b.g[c] = 0.5 + rng.Float32()
			b.b[c] = 0.3 * rng.Float32()
		}
	}
	n, h, w := 4, 9, 7
	lh, lw := net.lowSize(h, w)
	net.alloc(n, h, w, lh, lw)
	copy(net.input, randSlice(rng, n*3*h*w, 1))
	logits := net.forward()
	e := tr.project(logits, n, lh*lw)
	q := randCodes(rng, n, p)
	net.zeroGrad()
	dproto := make([]float64, p*d)
	tr.headLoss(e, q, 0.7, dproto, true)
	copy(tr.dprotos, to32(dproto))
	ps := tr.params()
	vals := make([][]float64, len(ps))
	for i, pp := range ps {
		vals[i] = to64(pp.v)
	}
	wt := []float64{0.7, 0.7, 0.7, 0.7}
	x64 := to64(net.input)
	loss := func(x []float64) float64 {
		a, ch, hh, ww := x, 3, h, w
		for li, l := range layers {
			var ho, wo int
			a, ho, wo = refConv(a, n, ch, hh, ww, vals[3*li], l.Out, l.Stride, l.Dilation)
			a = refBN(a, n, l.Out, ho*wo, vals[3*li+1], vals[3*li+2], true)
			ch, hh, ww = l.Out, ho, wo
		}
		L := len(layers)
		a = refHead(a, n, ch, hh*ww, vals[3*L], vals[3*L+1], hd)
		a = refGAP(a, n, hd, hh*ww)
		a = refBN(a, n, hd, 1, vals[3*L+2], vals[3*L+3], true)
		a = refHead(a, n, hd, 1, vals[3*L+4], vals[3*L+5], d)
		a = refBN(a, n, d, 1, []float64{1, 1, 1}, []float64{0, 0, 0}, false)
		return refSwAV(a, n, d, vals[3*L+6], p, q, wt, 0.1)
	}
	for i, pp := range ps {
		if pp.name == "head.bias" || pp.name == "projection_out.bias" {
			// A BatchNorm1d follows both biases: they have no effect,
			// and their gradient is zero up to rounding.
			for _, g := range pp.g {
				if math.Abs(float64(g)) > 1e-4 {
					t.Fatalf("%s gradient %g, want 0", pp.name, g)
				}
			}
			continue
		}
		checkGrad(t, pp.name, vals[i], pp.g, func([]float64) float64 { return loss(x64) }, 3e-3)
	}
}

// stripes returns a small synthetic image set for trainer tests.
func swavTestData(rng *rand.Rand, n, size int) []SwAVImage {
	var data []SwAVImage
	for range n {
		img := image.NewNRGBA(image.Rect(0, 0, size, size))
		for i := range img.Pix {
			img.Pix[i] = uint8(rng.IntN(256))
		}
		var cs [][2]float32
		for y := 4; y < size; y += 8 {
			for x := 4; x < size; x += 8 {
				cs = append(cs, [2]float32{float32(x), float32(y)})
			}
		}
		data = append(data, SwAVImage{Image: img, Centers: cs})
	}
	return data
}

// TestSwAVResume: a checkpoint taken mid-training and resumed with another
// worker count gives bit for bit the weights of an uninterrupted run.
func TestSwAVResume(t *testing.T) {
	data := swavTestData(rand.New(rand.NewPCG(29, 30)), 3, 24)
	set := SwAVSettings{Layers: []LayerSpec{{8, 2, 1}, {8, 1, 1}, {8, 1, 1}}, ProjDim: 8, Prototypes: 6, Batch: 4,
		Steps: 6, Queue: 8, QueueStart: 2, FreezeSteps: 1, GlobalSize: 16, LocalSize: 8, Locals: 2}
	run := func(workers, stop int) (*SwAV, Checkpoint) {
		s := set
		s.Workers = workers
		tr, err := NewSwAV(data, s, 5)
		if err != nil {
			t.Fatal(err)
		}
		var ck Checkpoint
		for i := 0; !tr.Done(); i++ {
			if i == stop {
				ck = tr.Checkpoint()
			}
			if _, err := tr.Step(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		return tr, ck
	}
	full, ck := run(1, 3)
	res, err := ResumeSwAV(ck, data, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.StepsDone() != 3 {
		t.Fatalf("resumed at step %d, want 3", res.StepsDone())
	}
	for !res.Done() {
		if _, err := res.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	other, _ := run(2, -1)
	a := full.Checkpoint().Tensors
	for _, tr := range []*SwAV{res, other} {
		b := tr.Checkpoint().Tensors
		if len(a) != len(b) {
			t.Fatalf("%d tensors, want %d", len(b), len(a))
		}
		for i := range a {
			if a[i].Name != b[i].Name || !slices.Equal(a[i].Data, b[i].Data) {
				t.Fatalf("tensor %s differs", a[i].Name)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := res.Step(ctx); err == nil {
		t.Fatal("step after the last one or cancelled: no error")
	}
}
