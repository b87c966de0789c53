package features

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// checkGradients compares analytic gradients (taken before the check, as
// clones) with central differences of loss, in float64, for every value
// of every named parameter.
func checkGradients(t *testing.T, params map[string][2][]float64, loss func() float64, tol float64) {
	t.Helper()
	for name, pg := range params {
		p, g := pg[0], pg[1]
		for i := range p {
			old := p[i]
			const h = 1e-6
			p[i] = old + h
			lp := loss()
			p[i] = old - h
			lm := loss()
			p[i] = old
			num := (lp - lm) / (2 * h)
			// The floor keeps tiny gradients deep in a sigmoid stack,
			// where the difference quotient's rounding dominates, from
			// failing on noise.
			if err := math.Abs(g[i]-num) / math.Max(1e-4, math.Abs(g[i])+math.Abs(num)); err > tol {
				t.Errorf("%s[%d]: analytic %.9g, numeric %.9g (rel err %.2g)", name, i, g[i], num, err)
			}
		}
	}
}

// denseParams lists a layer's weights and (cloned) gradients under prefix.
func denseParams(m map[string][2][]float64, prefix string, d *dense) {
	m[prefix+".W"] = [2][]float64{d.W.RawMatrix().Data, clone(d.dW.RawMatrix().Data)}
	m[prefix+".b"] = [2][]float64{d.B, clone(d.dB)}
}

// TestStackedFineTuneGradient checks the end-to-end loss of 2- and 3-layer
// stacks (every encoder and decoder, weight decay, with and without input
// corruption) against central finite differences.
func TestStackedFineTuneGradient(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    StackedSettings
	}{
		{"sigmoid 2", StackedSettings{Layer: EncoderSettings{Hidden: 3, WeightDecay: 1e-3}, Sizes: []int{5, 3}}},
		{"sigmoid 3 masking", StackedSettings{Layer: EncoderSettings{Hidden: 2, Corruption: MaskingNoise, Noise: 0.3}, Depth: 3, Sizes: []int{5, 4, 2}}},
		{"relu 2 gaussian", StackedSettings{Layer: EncoderSettings{Kind: SparseReLU, Hidden: 3, Corruption: GaussianNoise, WeightDecay: -1}, Sizes: []int{5, 3}}},
		{"relu 3", StackedSettings{Layer: EncoderSettings{Kind: SparseReLU, Hidden: 3}, Depth: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			st := NewStacked(7, tc.s, rand.NewPCG(3, 4))
			for _, l := range st.layers {
				for _, d := range []*dense{l.enc, l.dec} {
					for i := range d.B {
						d.B[i] += 0.3 * rng.NormFloat64()
					}
				}
			}
			x := randomMatrix(6, 7, rng)
			in := st.layers[0].corrupt(x, rng) // fixed corruption for the check
			if tc.s.Layer.Kind == SparseReLU {
				// Keep ReLU pre-activations away from the kink.
				st.fineTuneLossAndGrad(in, x, false)
				for li, l := range st.layers {
					for _, z := range l.enc.z.RawMatrix().Data {
						if math.Abs(z) < 1e-4 {
							t.Fatalf("layer %d pre-activation %g too close to 0; pick another seed", li, z)
						}
					}
				}
			}
			l := st.fineTuneLossAndGrad(in, x, true)
			if !(l.Reconstruction > 0) || (tc.s.Layer.WeightDecay >= 0) != (l.WeightDecay > 0) {
				t.Errorf("loss terms %+v", l)
			}
			params := map[string][2][]float64{}
			for li, l := range st.layers {
				denseParams(params, "enc"+string(rune('0'+li)), l.enc)
				denseParams(params, "dec"+string(rune('0'+li)), l.dec)
			}
			checkGradients(t, params, func() float64 { return st.fineTuneLossAndGrad(in, x, false).Total }, 1e-5)
		})
	}
}

func TestStackedSizes(t *testing.T) {
	for _, tc := range []struct {
		in, hidden, depth int
		want              []int
	}{
		{768, 64, 2, []int{222, 64}},
		{768, 64, 3, []int{335, 147, 64}},
		{48, 16, 2, []int{28, 16}},
	} {
		st := NewStacked(tc.in, StackedSettings{Layer: EncoderSettings{Hidden: tc.hidden}, Depth: tc.depth}, rand.NewPCG(1, 1))
		got := st.Settings().Sizes
		if len(got) != len(tc.want) || st.Dims() != tc.hidden {
			t.Fatalf("%v: sizes %v, dims %d", tc, got, st.Dims())
		}
		for i := range got {
			if got[i] != tc.want[i] || st.Layer(i).Dims() != got[i] {
				t.Errorf("%v: sizes %v, want %v", tc, got, tc.want)
			}
		}
	}
}

// TestStackedGreedy: each layer's greedy training lowers its own
// reconstruction loss on the codes of the layers below, and fine-tuning
// then lowers the end-to-end reconstruction of the input.
func TestStackedGreedy(t *testing.T) {
	x := syntheticPatches(1000, 48, 11)
	for _, tc := range []struct {
		name string
		s    StackedSettings
	}{
		{"sparse sigmoid 3", StackedSettings{Layer: EncoderSettings{Hidden: 8, Epochs: 25, BatchSize: 64, LearningRate: 3e-3}, Depth: 3}},
		{"denoising relu 2", StackedSettings{Layer: EncoderSettings{Kind: SparseReLU, Hidden: 8, Corruption: MaskingNoise, Epochs: 25, BatchSize: 64, LearningRate: 3e-3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			greedyOnly := tc.s
			greedyOnly.FineTuneEpochs = -1
			init := NewStacked(48, greedyOnly, rand.NewPCG(1, 2))
			st := NewStacked(48, greedyOnly, rand.NewPCG(1, 2))
			hist, err := st.Train(x, rand.NewPCG(5, 6), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist.Greedy) != len(st.layers) || hist.FineTune != nil {
				t.Fatalf("history of %d greedy phases, %d fine-tune epochs", len(hist.Greedy), len(hist.FineTune))
			}
			codes := x
			for li := range st.layers {
				before := init.Layer(li).Evaluate(codes).Reconstruction
				after := st.Layer(li).Evaluate(codes).Reconstruction
				t.Logf("layer %d (%d -> %d): reconstruction %.5f -> %.5f", li, st.Layer(li).InputDim(), st.Layer(li).Dims(), before, after)
				if !(after < 0.7*before) {
					t.Errorf("layer %d: greedy training took its reconstruction loss from %v to %v", li, before, after)
				}
				g := hist.Greedy[li]
				if !(g[len(g)-1].Total < g[0].Total) {
					t.Errorf("layer %d: training loss %v -> %v", li, g[0].Total, g[len(g)-1].Total)
				}
				codes = st.Layer(li).Encode(codes)
			}
			if !mat.Equal(codes, st.Encode(x)) {
				t.Error("Encode differs from the layers' codes in turn")
			}
			greedy := st.Evaluate(x).Reconstruction

			ft := NewStacked(48, tc.s, rand.NewPCG(1, 2))
			hist, err = ft.Train(x, rand.NewPCG(5, 6), nil)
			if err != nil {
				t.Fatal(err)
			}
			tuned := ft.Evaluate(x).Reconstruction
			t.Logf("end to end: untrained %.5f, greedy %.5f, fine-tuned %.5f", init.Evaluate(x).Reconstruction, greedy, tuned)
			if len(hist.FineTune) != tc.s.Layer.Epochs {
				t.Errorf("%d fine-tune epochs", len(hist.FineTune))
			}
			if !(tuned < greedy) {
				t.Errorf("fine-tuning took the reconstruction from %v to %v", greedy, tuned)
			}
		})
	}
}

func TestStackedParamsRoundTrip(t *testing.T) {
	x := syntheticPatches(200, 12, 5)
	for _, s := range []StackedSettings{
		{Layer: EncoderSettings{Hidden: 4, Epochs: 2, Corruption: MaskingNoise}},
		{Layer: EncoderSettings{Kind: SparseReLU, Hidden: 3, Lambda: 0.2, Epochs: 1}, Depth: 3, FineTuneEpochs: -1},
	} {
		st := NewStacked(12, s, rand.NewPCG(1, 2))
		if _, err := st.Train(x, rand.NewPCG(3, 4), nil); err != nil {
			t.Fatal(err)
		}
		ps, meta := st.Params()
		pe, err := LoadPatchEncoder(ps, meta)
		if err != nil {
			t.Fatal(err)
		}
		back, ok := pe.(*Stacked)
		if !ok {
			t.Fatalf("loaded a %T", pe)
		}
		if got, want := back.Settings(), st.Settings(); got.Layer != want.Layer || got.Depth != want.Depth || got.FineTuneEpochs != want.FineTuneEpochs || len(got.Sizes) != len(want.Sizes) {
			t.Errorf("settings %+v, want %+v", got, want)
		}
		if !mat.Equal(back.Encode(x), st.Encode(x)) || !mat.Equal(back.Reconstruct(x), st.Reconstruct(x)) {
			t.Error("loaded stack computes differently")
		}
		if _, err := LoadPatchEncoder(ps[1:], meta); err == nil {
			t.Error("accepted a missing parameter")
		}
		bad := append([]Param(nil), ps...)
		bad[2] = Param{Name: bad[2].Name, Shape: []int{1, 1}, Data: []float64{0}}
		if _, err := LoadPatchEncoder(bad, meta); err == nil {
			t.Error("accepted a wrong shape")
		}
		meta["segdiscover.sizes"] = "4"
		if _, err := LoadPatchEncoder(ps, meta); err == nil {
			t.Error("accepted one layer")
		}
	}
}

func TestStackedDeterministic(t *testing.T) {
	x := syntheticPatches(300, 12, 4)
	run := func() *mat.Dense {
		st := NewStacked(12, StackedSettings{Layer: EncoderSettings{Hidden: 4, Epochs: 2, Corruption: MaskingNoise}}, rand.NewPCG(1, 2))
		if _, err := st.Train(x, rand.NewPCG(3, 4), nil); err != nil {
			t.Fatal(err)
		}
		return st.Encode(x)
	}
	if !mat.Equal(run(), run()) {
		t.Error("two runs with the same seeds differ")
	}
}
