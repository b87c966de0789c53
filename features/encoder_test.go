package features

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func randomMatrix(r, c int, rng *rand.Rand) *mat.Dense {
	m := mat.NewDense(r, c, nil)
	for i := range r {
		for j := range c {
			m.Set(i, j, rng.Float64())
		}
	}
	return m
}

// relErr is |a-b| relative to their magnitude, with an absolute floor for
// gradients near zero.
func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(1e-6, math.Abs(a)+math.Abs(b))
}

// TestDenseGradient checks each activation's backward pass, including the
// input gradient, against central differences of L = Σ c ⊙ f(x Wᵀ + b).
func TestDenseGradient(t *testing.T) {
	for _, act := range []activation{actSigmoid, actReLU, actSoftplus, actIdentity} {
		t.Run(act.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(act)))
			d := newDense(4, 3, act, rng)
			for i := range d.B {
				d.B[i] = rng.NormFloat64() * 0.5
			}
			x := randomMatrix(5, 4, rng)
			c := randomMatrix(5, 3, rng)
			loss := func() float64 {
				var p mat.Dense
				p.MulElem(d.apply(x), c)
				return mat.Sum(&p)
			}
			d.forward(x)
			dX := d.backward(mat.DenseCopyOf(c), true)
			check := func(name string, v []float64, g func(i int) float64) {
				for i := range v {
					old := v[i]
					const h = 1e-6
					v[i] = old + h
					lp := loss()
					v[i] = old - h
					lm := loss()
					v[i] = old
					num := (lp - lm) / (2 * h)
					if e := relErr(g(i), num); e > 1e-6 {
						t.Errorf("%s[%d]: analytic %.9g, numeric %.9g (rel err %.2g)", name, i, g(i), num, e)
					}
				}
			}
			check("W", d.W.RawMatrix().Data, func(i int) float64 { return d.dW.RawMatrix().Data[i] })
			check("b", d.B, func(i int) float64 { return d.dB[i] })
			check("x", x.RawMatrix().Data, func(i int) float64 { return dX.RawMatrix().Data[i] })
		})
	}
}

// TestEncoderGradient checks the full loss of each autoencoder (data term,
// KL or L1 sparsity, weight decay, with and without corruption) against
// central finite differences in float64, for every parameter.
func TestEncoderGradient(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    EncoderSettings
	}{
		{"sigmoid KL", EncoderSettings{Kind: SparseSigmoid, Hidden: 4, Rho: 0.2, Beta: 3, WeightDecay: 1e-3}},
		{"sigmoid KL only", EncoderSettings{Kind: SparseSigmoid, Hidden: 4, Rho: 0.05, Beta: 5, WeightDecay: -1}},
		{"sigmoid plain", EncoderSettings{Kind: SparseSigmoid, Hidden: 4, Beta: -1, WeightDecay: -1}},
		{"relu L1", EncoderSettings{Kind: SparseReLU, Hidden: 4, Lambda: 0.3, WeightDecay: 1e-3}},
		{"relu plain", EncoderSettings{Kind: SparseReLU, Hidden: 4, Lambda: -1, WeightDecay: -1}},
		{"sigmoid KL masking", EncoderSettings{Kind: SparseSigmoid, Hidden: 4, Corruption: MaskingNoise, Noise: 0.3}},
		{"relu L1 gaussian", EncoderSettings{Kind: SparseReLU, Hidden: 4, Lambda: 0.3, Corruption: GaussianNoise}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			e := NewEncoder(6, tc.s, rand.NewPCG(3, 4))
			for i := range e.enc.B {
				e.enc.B[i] = 0.3 * rng.NormFloat64()
			}
			x := randomMatrix(8, 6, rng)
			in := e.corrupt(x, rng) // fixed corruption for the check
			// Keep actReLU pre-activations away from the kink, where the
			// finite difference would straddle it.
			if tc.s.Kind == SparseReLU {
				var pre mat.Dense
				pre.Mul(in, e.enc.W.T())
				for i := range 8 {
					for j := range 4 {
						if math.Abs(pre.At(i, j)+e.enc.B[j]) < 1e-4 {
							t.Fatalf("pre-activation too close to 0; pick another seed")
						}
					}
				}
			}
			l := e.lossAndGrad(in, x, true)
			if tc.s.Beta >= 0 && tc.s.Kind == SparseSigmoid || tc.s.Lambda >= 0 && tc.s.Kind == SparseReLU {
				if l.Sparsity <= 0 {
					t.Errorf("sparsity term %v, want > 0", l.Sparsity)
				}
			}
			params := map[string][2][]float64{
				"enc.W": {e.enc.W.RawMatrix().Data, clone(e.enc.dW.RawMatrix().Data)},
				"enc.b": {e.enc.B, clone(e.enc.dB)},
				"dec.W": {e.dec.W.RawMatrix().Data, clone(e.dec.dW.RawMatrix().Data)},
				"dec.b": {e.dec.B, clone(e.dec.dB)},
			}
			for name, pg := range params {
				p, g := pg[0], pg[1]
				for i := range p {
					old := p[i]
					const h = 1e-6
					p[i] = old + h
					lp := e.lossAndGrad(in, x, false).Total
					p[i] = old - h
					lm := e.lossAndGrad(in, x, false).Total
					p[i] = old
					num := (lp - lm) / (2 * h)
					if err := relErr(g[i], num); err > 1e-5 {
						t.Errorf("%s[%d]: analytic %.9g, numeric %.9g (rel err %.2g)", name, i, g[i], num, err)
					}
				}
			}
		})
	}
}

// syntheticPatches returns n rows of dimension d in [0, 1]: noisy
// mixtures of a few smooth prototypes, a stand-in for image patches.
func syntheticPatches(n, d int, seed uint64) *mat.Dense {
	rng := rand.New(rand.NewPCG(seed, 99))
	const k = 6
	protos := make([][]float64, k)
	for p := range protos {
		protos[p] = make([]float64, d)
		f, ph := 1+rng.Float64()*3, rng.Float64()*6
		for j := range d {
			protos[p][j] = 0.5 + 0.4*math.Sin(f*float64(j)/float64(d)*2*math.Pi+ph)
		}
	}
	x := mat.NewDense(n, d, nil)
	for i := range n {
		a, b := rng.IntN(k), rng.IntN(k)
		t := rng.Float64()
		row := x.RawRowView(i)
		for j := range row {
			v := t*protos[a][j] + (1-t)*protos[b][j] + 0.03*rng.NormFloat64()
			row[j] = min(max(v, 0), 1)
		}
	}
	return x
}

func TestSparseSigmoidTraining(t *testing.T) {
	x := syntheticPatches(1500, 48, 1)
	e := NewEncoder(48, EncoderSettings{Hidden: 16, Epochs: 60, BatchSize: 64, LearningRate: 3e-3}, rand.NewPCG(1, 2))
	before := e.Evaluate(x)
	hist, err := e.Train(x, rand.NewPCG(5, 6), nil)
	if err != nil {
		t.Fatal(err)
	}
	after := e.Evaluate(x)
	t.Logf("reconstruction %.4f -> %.4f, mean activation %.4f (rho 0.2)", before.Reconstruction, after.Reconstruction, after.MeanActivation)
	if !(after.Reconstruction < 0.5*before.Reconstruction) {
		t.Errorf("reconstruction error %v -> %v: did not halve", before.Reconstruction, after.Reconstruction)
	}
	if hist[len(hist)-1].Total >= hist[0].Total {
		t.Errorf("training loss did not fall: %v -> %v", hist[0].Total, hist[len(hist)-1].Total)
	}
	if math.Abs(after.MeanActivation-0.2) > 0.02 {
		t.Errorf("mean hidden activation %v, want within 0.02 of 0.2", after.MeanActivation)
	}
}

// zeroFraction is the share of exactly-zero entries of m.
func zeroFraction(m *mat.Dense) float64 {
	r, c := m.Dims()
	z := 0
	for i := range r {
		for _, v := range m.RawRowView(i) {
			if v == 0 {
				z++
			}
		}
	}
	return float64(z) / float64(r*c)
}

func TestSparseReLUTraining(t *testing.T) {
	x := syntheticPatches(1500, 48, 2)
	train := func(lambda float64) (*Encoder, Loss, Loss) {
		e := NewEncoder(48, EncoderSettings{Kind: SparseReLU, Hidden: 16, Lambda: lambda, Epochs: 40, BatchSize: 64, LearningRate: 3e-3}, rand.NewPCG(1, 2))
		before := e.Evaluate(x)
		if _, err := e.Train(x, rand.NewPCG(5, 6), nil); err != nil {
			t.Fatal(err)
		}
		return e, before, e.Evaluate(x)
	}
	sparse, before, after := train(0.05)
	dense, _, afterDense := train(-1)
	zs, zd := zeroFraction(sparse.Encode(x)), zeroFraction(dense.Encode(x))
	t.Logf("lambda 0.05: reconstruction %.4f -> %.4f, zeros %.3f, mean act %.4f; lambda 0: reconstruction %.4f, zeros %.3f, mean act %.4f",
		before.Reconstruction, after.Reconstruction, zs, after.MeanActivation, afterDense.Reconstruction, zd, afterDense.MeanActivation)
	if !(after.Reconstruction < 0.5*before.Reconstruction) {
		t.Errorf("reconstruction error %v -> %v: did not halve", before.Reconstruction, after.Reconstruction)
	}
	if !(zs > zd+0.05) {
		t.Errorf("share of zero codes %.3f with L1, %.3f without: not sparser", zs, zd)
	}
	if !(after.MeanActivation < afterDense.MeanActivation) {
		t.Errorf("mean activation %v with L1, %v without", after.MeanActivation, afterDense.MeanActivation)
	}
}

// TestDenoisingTraining: with corruption the encoder still learns to
// reconstruct clean inputs from corrupted ones.
func TestDenoisingTraining(t *testing.T) {
	x := syntheticPatches(1000, 48, 3)
	for _, c := range []Corruption{MaskingNoise, GaussianNoise} {
		t.Run(c.String(), func(t *testing.T) {
			e := NewEncoder(48, EncoderSettings{Kind: SparseReLU, Hidden: 16, Corruption: c, Epochs: 30, BatchSize: 64, LearningRate: 3e-3}, rand.NewPCG(1, 2))
			rng := rand.New(rand.NewPCG(9, 9))
			noisy := e.corrupt(x, rng)
			lossOn := func() float64 {
				var d mat.Dense
				d.Sub(e.Reconstruct(noisy), x)
				n := mat.Norm(&d, 2)
				return n * n / 2 / 1000
			}
			before := lossOn()
			if _, err := e.Train(x, rand.NewPCG(5, 6), nil); err != nil {
				t.Fatal(err)
			}
			after := lossOn()
			clean := e.Evaluate(x).Reconstruction
			t.Logf("denoising loss %.4f -> %.4f; clean reconstruction %.4f", before, after, clean)
			if !(after < 0.5*before) {
				t.Errorf("denoising reconstruction %v -> %v", before, after)
			}
			// Clean inputs, as the encoder sees them in use, reconstruct
			// at least as well as corrupted ones.
			if !(clean <= after) {
				t.Errorf("clean reconstruction %v worse than from corrupted input %v", clean, after)
			}
		})
	}
}

func TestTrainDeterministic(t *testing.T) {
	x := syntheticPatches(300, 12, 4)
	run := func() *mat.Dense {
		e := NewEncoder(12, EncoderSettings{Hidden: 5, Epochs: 3, Corruption: MaskingNoise}, rand.NewPCG(1, 2))
		if _, err := e.Train(x, rand.NewPCG(3, 4), nil); err != nil {
			t.Fatal(err)
		}
		return e.Encode(x)
	}
	if !mat.Equal(run(), run()) {
		t.Error("two runs with the same seeds differ")
	}
}

func TestTrainProgressStops(t *testing.T) {
	x := syntheticPatches(100, 12, 4)
	e := NewEncoder(12, EncoderSettings{Hidden: 5, Epochs: 10}, rand.NewPCG(1, 2))
	stop := fmt.Errorf("stop")
	hist, err := e.Train(x, rand.NewPCG(3, 4), func(epoch int, l Loss) error {
		if epoch == 2 {
			return stop
		}
		return nil
	})
	if err != stop || len(hist) != 2 {
		t.Errorf("err %v after %d epochs", err, len(hist))
	}
}

func TestEncoderParamsRoundTrip(t *testing.T) {
	x := syntheticPatches(50, 12, 5)
	for _, s := range []EncoderSettings{
		{Kind: SparseSigmoid, Hidden: 5, Beta: -1, Corruption: GaussianNoise},
		{Kind: SparseReLU, Hidden: 7, Lambda: 0.2, WeightDecay: -1},
	} {
		e := NewEncoder(12, s, rand.NewPCG(1, 2))
		ps, meta := e.Params()
		f, err := LoadEncoder(ps, meta)
		if err != nil {
			t.Fatal(err)
		}
		if f.Settings() != e.Settings() {
			t.Errorf("settings %+v, want %+v", f.Settings(), e.Settings())
		}
		if !mat.Equal(f.Encode(x), e.Encode(x)) || !mat.Equal(f.Reconstruct(x), e.Reconstruct(x)) {
			t.Error("loaded encoder computes differently")
		}
		bad := append([]Param(nil), ps...)
		bad[1] = Param{Name: bad[1].Name, Shape: []int{3}, Data: make([]float64, 3)}
		if _, err := LoadEncoder(bad, meta); err == nil {
			t.Error("LoadEncoder accepted a wrong shape")
		}
		if _, err := LoadEncoder(ps[1:], meta); err == nil {
			t.Error("LoadEncoder accepted a missing parameter")
		}
		delete(meta, "segdiscover.hidden")
		if _, err := LoadEncoder(ps, meta); err == nil {
			t.Error("LoadEncoder accepted missing metadata")
		}
	}
}

func BenchmarkTrainEpoch(b *testing.B) {
	x := syntheticPatches(2048, PatchDims(0), 1)
	for _, k := range []Kind{SparseSigmoid, SparseReLU} {
		b.Run(k.String(), func(b *testing.B) {
			e := NewEncoder(PatchDims(0), EncoderSettings{Kind: k, Epochs: 1}, rand.NewPCG(1, 2))
			for b.Loop() {
				e.Train(x, rand.NewPCG(3, 4), nil)
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	x := syntheticPatches(300, PatchDims(0), 1)
	e := NewEncoder(PatchDims(0), EncoderSettings{}, rand.NewPCG(1, 2))
	for b.Loop() {
		e.Encode(x)
	}
}
