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
// noise held fixed.
func TestVAEGradient(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    VAESettings
	}{
		{"elbo", VAESettings{Latent: 3, HiddenUnits: 4, WeightDecay: -1}},
		{"beta 4, weight decay", VAESettings{Latent: 3, HiddenUnits: 5, Beta: 4, WeightDecay: 1e-2}},
		{"beta 0.25", VAESettings{Latent: 2, HiddenUnits: 4, Beta: 0.25}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, x, eps := gradientCase(tc.s)
			l := v.lossAndGrad(x, eps, true)
			if !(l.KL > 0) || math.IsInf(l.Reconstruction, 0) || math.Abs(l.ELBO+l.Reconstruction+l.KL) > 1e-12 {
				t.Errorf("loss terms %+v", l)
			}
			params := map[string][2][]float64{}
			for i, d := range v.layers() {
				denseParams(params, vaeLayers[i], d)
			}
			checkGradients(t, params, func() float64 { return v.lossAndGrad(x, eps, false).Total }, 1e-5)
		})
	}
}

// gradientCase returns a small VAE with perturbed biases, a batch and
// fixed reparameterisation noise.
func gradientCase(s VAESettings) (*VAE, *mat.Dense, *mat.Dense) {
	rng := rand.New(rand.NewPCG(7, 8))
	v := NewVAE(6, s, rand.NewPCG(3, 4))
	for _, d := range v.layers() {
		for i := range d.B {
			d.B[i] += 0.3 * rng.NormFloat64()
		}
	}
	return v, randomMatrix(5, 6, rng), noise(5, s.Latent, rng)
}

// TestVAEKLGradient isolates the KL term's gradient in lossAndGrad's own
// backward pass: the reconstruction's gradient does not depend on Beta,
// so (∇Total(β₂) - ∇Total(β₁)) / (β₂ - β₁) is ∇KL, compared with central
// differences of the KL alone. A wrong KL gradient the reconstruction's
// larger one would hide in TestVAEGradient shows here.
func TestVAEKLGradient(t *testing.T) {
	const b1, b2 = 1.0, 3.0
	v, x, eps := gradientCase(VAESettings{Latent: 3, HiddenUnits: 4, Beta: b1, WeightDecay: -1})
	grads := func(beta float64) [][]float64 {
		v.s.Beta = beta
		v.lossAndGrad(x, eps, true)
		var g [][]float64
		for _, d := range v.layers() {
			g = append(g, clone(d.dW.RawMatrix().Data), clone(d.dB))
		}
		return g
	}
	g1, g2 := grads(b1), grads(b2)
	params := map[string][2][]float64{}
	for i, d := range v.layers() {
		kl := func(a, b []float64) []float64 {
			out := make([]float64, len(a))
			for j := range a {
				out[j] = (b[j] - a[j]) / (b2 - b1)
			}
			return out
		}
		params[vaeLayers[i]+".W"] = [2][]float64{d.W.RawMatrix().Data, kl(g1[2*i], g2[2*i])}
		params[vaeLayers[i]+".b"] = [2][]float64{d.B, kl(g1[2*i+1], g2[2*i+1])}
	}
	checkGradients(t, params, func() float64 { return v.lossAndGrad(x, eps, false).KL }, 1e-5)
	// The decoder does not enter the KL: its share of the gradient must
	// vanish, not merely match a vanishing difference quotient.
	for _, name := range []string{"decoder.hidden.W", "decoder.out.W"} {
		for _, g := range params[name][1] {
			if math.Abs(g) > 1e-9 {
				t.Fatalf("%s: KL gradient %g, want 0", name, g)
			}
		}
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
