package features

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestVAEGradient checks the VAE's loss (Gaussian reconstruction at the
// batch's noise level, beta-weighted KL, weight decay) against central
// finite differences for every parameter, with the reparameterisation
// noise held fixed; "KL only" isolates the KL term's gradient.
func TestVAEGradient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      VAESettings
		klOnly bool
	}{
		{"elbo", VAESettings{Latent: 3, HiddenUnits: 4, WeightDecay: -1}, false},
		{"beta 4, weight decay", VAESettings{Latent: 3, HiddenUnits: 5, Beta: 4, WeightDecay: 1e-2}, false},
		{"beta 0.25", VAESettings{Latent: 2, HiddenUnits: 4, Beta: 0.25}, false},
		{"KL only", VAESettings{Latent: 3, HiddenUnits: 4, WeightDecay: -1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			v := NewVAE(6, tc.s, rand.NewPCG(3, 4))
			for _, d := range v.layers() {
				for i := range d.B {
					d.B[i] += 0.3 * rng.NormFloat64()
				}
			}
			x := randomMatrix(5, 6, rng)
			eps := noise(5, tc.s.Latent, rng)
			loss := func() float64 {
				l := v.lossAndGrad(x, eps, false)
				if tc.klOnly {
					return l.KL
				}
				return l.Total
			}
			l := v.lossAndGrad(x, eps, true)
			if !(l.KL > 0) || math.IsInf(l.Reconstruction, 0) || math.Abs(l.ELBO+l.Reconstruction+l.KL) > 1e-12 {
				t.Errorf("loss terms %+v", l)
			}
			if tc.klOnly {
				// The KL term's own gradient: every path through the
				// decoder vanishes when the reconstruction does not count.
				zeroDecoderPath(v, x, eps)
			}
			params := map[string][2][]float64{}
			for i, d := range v.layers() {
				denseParams(params, vaeLayers[i], d)
			}
			checkGradients(t, params, loss, 1e-5)
		})
	}
}

// zeroDecoderPath recomputes the gradients of v for the KL term alone,
// as lossAndGrad's backward would with a zero reconstruction gradient.
func zeroDecoderPath(v *VAE, x, eps *mat.Dense) {
	m, _ := x.Dims()
	fm := float64(m)
	h := v.enc.forward(x)
	mu := v.mu.forward(h)
	lv := v.lv.forward(h)
	dMu := mat.NewDense(m, v.s.Latent, nil)
	dLv := mat.NewDense(m, v.s.Latent, nil)
	beta := v.s.Beta
	for i := range m {
		for j := range v.s.Latent {
			dMu.Set(i, j, beta*mu.At(i, j)/fm)
			dLv.Set(i, j, beta*(math.Exp(lv.At(i, j))-1)/(2*fm))
		}
	}
	dH := v.mu.backward(dMu, true)
	dH.Add(dH, v.lv.backward(dLv, true))
	v.enc.backward(dH, false)
	for _, d := range []*dense{v.dec, v.out} {
		d.dW.Zero()
		clear(d.dB)
	}
}

// TestVAETraining: the evidence lower bound rises during training, the KL
// stays finite and positive, and a larger beta buys a smaller KL.
func TestVAETraining(t *testing.T) {
	x := syntheticPatches(1000, 48, 12)
	train := func(beta float64) (*VAE, VAELoss, VAELoss, []VAELoss) {
		v := NewVAE(48, VAESettings{Latent: 8, Beta: beta, Epochs: 25, BatchSize: 64, LearningRate: 3e-3}, rand.NewPCG(1, 2))
		before := v.Evaluate(x, rand.NewPCG(9, 9))
		hist, err := v.Train(x, rand.NewPCG(5, 6), nil)
		if err != nil {
			t.Fatal(err)
		}
		return v, before, v.Evaluate(x, rand.NewPCG(9, 9)), hist
	}
	v, before, after, hist := train(0)
	t.Logf("ELBO %.2f -> %.2f (epochs: %.2f -> %.2f); KL %.3f -> %.3f; decoder sigma %.4f -> %.4f",
		before.ELBO, after.ELBO, hist[0].ELBO, hist[len(hist)-1].ELBO, before.KL, after.KL, before.NoiseStd, after.NoiseStd)
	if !(after.ELBO > before.ELBO+10) || !(hist[len(hist)-1].ELBO > hist[0].ELBO) {
		t.Errorf("ELBO did not rise: %v -> %v, epochs %v -> %v", before.ELBO, after.ELBO, hist[0].ELBO, hist[len(hist)-1].ELBO)
	}
	for e, l := range hist {
		if math.IsNaN(l.KL) || math.IsInf(l.KL, 0) || l.KL < 0 || math.IsNaN(l.ELBO) {
			t.Fatalf("epoch %d: KL %v, ELBO %v", e+1, l.KL, l.ELBO)
		}
	}
	if !(after.KL > 1) {
		t.Errorf("KL %v: the posterior collapsed to the prior", after.KL)
	}
	// The means carry the input: the reconstruction from them beats the
	// dataset mean as a predictor.
	var res mat.Dense
	res.Sub(v.Reconstruct(x), x)
	r := mat.Norm(&res, 2)
	n, d := x.Dims()
	mean := make([]float64, d)
	for j := range d {
		mean[j] = mat.Sum(x.ColView(j)) / float64(n)
	}
	ss := 0.0
	for i := range n {
		for j := range d {
			e := x.At(i, j) - mean[j]
			ss += e * e
		}
	}
	if !(r*r < 0.5*ss) {
		t.Errorf("reconstruction error %v, variance about the mean %v", r*r, ss)
	}
	_, _, strong, _ := train(4)
	t.Logf("beta 4: KL %.3f, ELBO %.2f", strong.KL, strong.ELBO)
	if !(strong.KL < after.KL) {
		t.Errorf("beta 4 gave KL %v, beta 1 %v", strong.KL, after.KL)
	}
}

func TestVAEParamsRoundTrip(t *testing.T) {
	x := syntheticPatches(100, 12, 5)
	for _, s := range []VAESettings{{Latent: 3, Epochs: 2}, {Latent: 4, HiddenUnits: 5, Beta: -1, WeightDecay: -1, Epochs: 1}} {
		v := NewVAE(12, s, rand.NewPCG(1, 2))
		if _, err := v.Train(x, rand.NewPCG(3, 4), nil); err != nil {
			t.Fatal(err)
		}
		ps, meta := v.Params()
		pe, err := LoadPatchEncoder(ps, meta)
		if err != nil {
			t.Fatal(err)
		}
		back, ok := pe.(*VAE)
		if !ok {
			t.Fatalf("loaded a %T", pe)
		}
		if back.Settings() != v.Settings() {
			t.Errorf("settings %+v, want %+v", back.Settings(), v.Settings())
		}
		if !mat.Equal(back.Encode(x), v.Encode(x)) || !mat.Equal(back.Reconstruct(x), v.Reconstruct(x)) || !mat.Equal(back.PosteriorLogVar(x), v.PosteriorLogVar(x)) {
			t.Error("loaded VAE computes differently")
		}
		if _, err := LoadPatchEncoder(ps[1:], meta); err == nil {
			t.Error("accepted a missing parameter")
		}
		bad := append([]Param(nil), ps...)
		bad[3] = Param{Name: bad[3].Name, Shape: []int{1}, Data: []float64{math.NaN()}}
		if _, err := LoadPatchEncoder(bad, meta); err == nil {
			t.Error("accepted a wrong shape")
		}
		bad[3] = Param{Name: ps[3].Name, Shape: ps[3].Shape, Data: clone(ps[3].Data)}
		bad[3].Data[0] = math.Inf(1)
		if _, err := LoadPatchEncoder(bad, meta); err == nil {
			t.Error("accepted an infinite weight")
		}
		delete(meta, "segdiscover.hidden_units")
		if _, err := LoadPatchEncoder(ps, meta); err == nil {
			t.Error("accepted missing metadata")
		}
	}
}

func TestVAEDeterministic(t *testing.T) {
	x := syntheticPatches(300, 12, 4)
	run := func() *mat.Dense {
		v := NewVAE(12, VAESettings{Latent: 3, Epochs: 2}, rand.NewPCG(1, 2))
		if _, err := v.Train(x, rand.NewPCG(3, 4), nil); err != nil {
			t.Fatal(err)
		}
		return v.Encode(x)
	}
	if !mat.Equal(run(), run()) {
		t.Error("two runs with the same seeds differ")
	}
}

func BenchmarkTrainEpochDeep(b *testing.B) {
	x := syntheticPatches(2048, PatchDims(0), 1)
	b.Run("stacked", func(b *testing.B) {
		st := NewStacked(PatchDims(0), StackedSettings{Layer: EncoderSettings{Epochs: 1}}, rand.NewPCG(1, 2))
		for b.Loop() {
			st.Train(x, rand.NewPCG(3, 4), nil)
		}
	})
	b.Run("vae", func(b *testing.B) {
		v := NewVAE(PatchDims(0), VAESettings{Epochs: 1}, rand.NewPCG(1, 2))
		for b.Loop() {
			v.Train(x, rand.NewPCG(3, 4), nil)
		}
	})
}
