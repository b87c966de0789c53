package features

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// StackedSettings configures a stacked autoencoder: Depth layers, each an
// autoencoder of Layer's kind, penalties and corruption, the top one with
// Layer.Hidden units. The zero value means two SparseSigmoid layers with
// the defaults of EncoderSettings.
type StackedSettings struct {
	// Layer configures every layer and the training of each phase
	// (epochs, batch size, learning rate). Its Hidden is the size of the
	// top code, the feature dimension.
	Layer EncoderSettings
	// Depth is the number of layers, 2 or 3; 0 means 2.
	Depth int
	// Sizes are the code sizes bottom-up (len Depth, the last one
	// Layer.Hidden); nil means the geometric progression from the input
	// dimension to Layer.Hidden, so each layer shrinks its input by the
	// same factor (768 -> 222 -> 64 for 16x16 patches and 64 features).
	Sizes []int
	// FineTuneEpochs are the epochs of end-to-end training after the
	// greedy phase; 0 means Layer.Epochs, negative means none.
	FineTuneEpochs int
}

func (s StackedSettings) withDefaults(inputDim int) StackedSettings {
	s.Layer = s.Layer.withDefaults()
	if s.Depth <= 0 {
		s.Depth = DefaultStackDepth
	}
	if s.Depth < 2 || s.Depth > 3 {
		panic(fmt.Sprintf("features: stacked autoencoder depth %d, want 2 or 3", s.Depth))
	}
	if s.Sizes == nil {
		s.Sizes = make([]int, s.Depth)
		r := float64(s.Layer.Hidden) / float64(inputDim)
		for l := range s.Depth {
			s.Sizes[l] = max(1, int(math.Round(float64(inputDim)*math.Pow(r, float64(l+1)/float64(s.Depth)))))
		}
		s.Sizes[s.Depth-1] = s.Layer.Hidden
	} else {
		s.Sizes = slices.Clone(s.Sizes)
	}
	if len(s.Sizes) != s.Depth || s.Sizes[s.Depth-1] != s.Layer.Hidden || slices.Min(s.Sizes) < 1 {
		panic(fmt.Sprintf("features: stacked sizes %v for depth %d and %d features", s.Sizes, s.Depth, s.Layer.Hidden))
	}
	if s.FineTuneEpochs == 0 {
		s.FineTuneEpochs = s.Layer.Epochs
	}
	return s
}

// Stacked is a stacked autoencoder (Bengio, Lamblin, Popovici, Larochelle,
// "Greedy layer-wise training of deep networks", NIPS 2006; with denoising
// layers, Vincent et al., JMLR 2010): layer l is an autoencoder trained on
// the codes of layer l-1, then the encoders and the decoders in reverse
// order are fine-tuned together as one deep autoencoder on the
// reconstruction of the input. Its features are the top layer's code.
type Stacked struct {
	s      StackedSettings // with defaults applied
	layers []*Encoder
}

// NewStacked returns an untrained stacked autoencoder for inputs of
// inputDim values, with weights drawn from src. It panics if inputDim < 1
// or the settings are inconsistent (depth not 2 or 3, sizes not matching).
func NewStacked(inputDim int, s StackedSettings, src rand.Source) *Stacked {
	if inputDim < 1 {
		panic("features: encoder input dimension < 1")
	}
	s = s.withDefaults(inputDim)
	st := &Stacked{s: s}
	in := inputDim
	for _, h := range s.Sizes {
		ls := s.Layer
		ls.Hidden = h
		st.layers = append(st.layers, NewEncoder(in, ls, src))
		in = h
	}
	return st
}

// Settings returns the settings with the defaults filled in.
func (st *Stacked) Settings() StackedSettings {
	s := st.s
	s.Sizes = slices.Clone(s.Sizes)
	return s
}

// InputDim returns the length of the input vectors.
func (st *Stacked) InputDim() int { return st.layers[0].InputDim() }

// Dims returns the number of features (the top layer's code size).
func (st *Stacked) Dims() int { return st.layers[len(st.layers)-1].Dims() }

// Layer returns layer l (0 = bottom) as an autoencoder: its encoder is
// the stack's l-th encoder, its decoder the l-th decoder.
func (st *Stacked) Layer(l int) *Encoder { return st.layers[l] }

// Encode returns the top code of the rows of x. It is safe for concurrent
// use (but not concurrently with Train).
func (st *Stacked) Encode(x *mat.Dense) *mat.Dense {
	if _, d := x.Dims(); d != st.InputDim() {
		panic(fmt.Sprintf("features: rows have %d values, encoder takes %d", d, st.InputDim()))
	}
	for _, l := range st.layers {
		x = l.enc.apply(x)
	}
	return x
}

// Reconstruct returns the deep autoencoder's reconstruction of the rows
// of x: all encoders, then all decoders top-down.
func (st *Stacked) Reconstruct(x *mat.Dense) *mat.Dense {
	a := st.Encode(x)
	for l := len(st.layers) - 1; l >= 0; l-- {
		a = st.layers[l].dec.apply(a)
	}
	return a
}

// fineTuneLossAndGrad is the end-to-end objective on a batch, in the
// (possibly corrupted) input, target the clean one:
// (1/2m) Σ_i ||y_i - x_i||² + (WeightDecay/2) Σ over every weight matrix
// of ||W||². Sparsity belongs to the greedy phase only. With grad it
// fills every layer's gradients.
func (st *Stacked) fineTuneLossAndGrad(in, target *mat.Dense, grad bool) Loss {
	m, d := target.Dims()
	fm := float64(m)
	a := in
	for _, l := range st.layers {
		a = l.enc.forward(a)
	}
	for l := len(st.layers) - 1; l >= 0; l-- {
		a = st.layers[l].dec.forward(a)
	}
	var L Loss
	dY := mat.NewDense(m, d, nil)
	for i := range m {
		yr, tr, dr := a.RawRowView(i), target.RawRowView(i), dY.RawRowView(i)
		for j := range yr {
			v := yr[j] - tr[j]
			L.Reconstruction += v * v
			dr[j] = v / fm
		}
	}
	L.Reconstruction /= 2 * fm
	wd := st.s.Layer.WeightDecay
	if wd > 0 {
		for _, l := range st.layers {
			n1, n2 := mat.Norm(l.enc.W, 2), mat.Norm(l.dec.W, 2)
			L.WeightDecay += wd / 2 * (n1*n1 + n2*n2)
		}
	}
	L.Total = L.Reconstruction + L.WeightDecay
	top := st.layers[len(st.layers)-1].enc.a
	L.MeanActivation = mat.Sum(top) / float64(m*st.Dims())
	if !grad {
		return L
	}
	g := dY
	for l := range st.layers {
		g = st.layers[l].dec.backward(g, true)
	}
	for l := len(st.layers) - 1; l >= 0; l-- {
		g = st.layers[l].enc.backward(g, l > 0)
	}
	if wd > 0 {
		for _, l := range st.layers {
			l.enc.dW.Add(l.enc.dW, scaled(wd, l.enc.W))
			l.dec.dW.Add(l.dec.dW, scaled(wd, l.dec.W))
		}
	}
	return L
}

// Evaluate returns the end-to-end loss of the stack on the rows of x as
// one batch, without corruption.
func (st *Stacked) Evaluate(x *mat.Dense) Loss { return st.fineTuneLossAndGrad(x, x, false) }

// StackedHistory is the per-epoch mean loss of every training phase:
// Greedy[l] for layer l on the codes of the layers below (its own
// objective, sparsity included), FineTune for the whole stack.
type StackedHistory struct {
	Greedy   [][]Loss
	FineTune []Loss
}

// Train fits the stack to the rows of x: greedily, layer by layer, each on
// the clean codes of the trained layers below (with the layer's own
// corruption and sparsity), then end to end, shuffling with src. Phase is
// 0..Depth-1 for the greedy layers and Depth for fine-tuning; progress, if
// non-nil, is called after each epoch of each phase and stops training
// when it returns an error (returned with the history so far).
func (st *Stacked) Train(x *mat.Dense, src rand.Source, progress func(phase, epoch int, l Loss) error) (StackedHistory, error) {
	var h StackedHistory
	n, d := x.Dims()
	if d != st.InputDim() {
		panic(fmt.Sprintf("features: training rows have %d values, encoder takes %d", d, st.InputDim()))
	}
	if n == 0 {
		return h, errors.New("no training rows")
	}
	codes := x
	for li, l := range st.layers {
		hist, err := l.Train(codes, src, func(epoch int, loss Loss) error {
			if progress == nil {
				return nil
			}
			return progress(li, epoch, loss)
		})
		h.Greedy = append(h.Greedy, hist)
		if err != nil {
			return h, err
		}
		if li < len(st.layers)-1 {
			codes = l.Encode(codes)
		}
	}
	if st.s.FineTuneEpochs <= 0 {
		return h, nil
	}
	var params, grads [][]float64
	for _, l := range st.layers {
		for _, dl := range []*dense{l.enc, l.dec} {
			params = append(params, dl.W.RawMatrix().Data, dl.B)
			grads = append(grads, dl.dW.RawMatrix().Data, dl.dB)
		}
	}
	ls := st.s.Layer
	opt := newAdam(ls.LearningRate, params)
	// The bottom layer's corruption applies to the deep network's input.
	bottom := st.layers[0]
	rng := rand.New(src)
	err := minibatches(x, ls.BatchSize, st.s.FineTuneEpochs, rng, func(b *mat.Dense) Loss {
		l := st.fineTuneLossAndGrad(bottom.corrupt(b, rng), b, true)
		opt.update(params, grads)
		return l
	}, func(epoch int, l Loss) error {
		h.FineTune = append(h.FineTune, l)
		if progress == nil {
			return nil
		}
		return progress(len(st.layers), epoch, l)
	})
	return h, err
}

// minibatches runs epochs of shuffled minibatches of the rows of x
// through step and reports each epoch's mean loss to done, stopping when
// done returns an error.
func minibatches(x *mat.Dense, batchSize, epochs int, rng *rand.Rand, step func(b *mat.Dense) Loss, done func(epoch int, l Loss) error) error {
	n, d := x.Dims()
	bs := min(batchSize, n)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	batch := mat.NewDense(bs, d, nil)
	for epoch := 1; epoch <= epochs; epoch++ {
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		var sum Loss
		nb := 0
		for start := 0; start < n; start += bs {
			end := min(start+bs, n)
			b := batch
			if end-start != bs {
				b = mat.NewDense(end-start, d, nil)
			}
			for i := start; i < end; i++ {
				copy(b.RawRowView(i-start), x.RawRowView(perm[i]))
			}
			l := step(b)
			sum.Total += l.Total
			sum.Reconstruction += l.Reconstruction
			sum.Sparsity += l.Sparsity
			sum.WeightDecay += l.WeightDecay
			sum.MeanActivation += l.MeanActivation
			nb++
		}
		f := 1 / float64(nb)
		sum = Loss{sum.Total * f, sum.Reconstruction * f, sum.Sparsity * f, sum.WeightDecay * f, sum.MeanActivation * f}
		if err := done(epoch, sum); err != nil {
			return err
		}
	}
	return nil
}

// KindStacked is the value of the metadata key "segdiscover.encoder" of a
// stacked autoencoder's Params.
const KindStacked = "stacked"

// Params returns copies of the stack's weights, named as a torch
// nn.Sequential of Linear layers "encoder.<l>" (bottom-up) and
// "decoder.<l>" (top-down, as they are applied) would save them, and its
// settings as string metadata; LoadStacked restores it.
func (st *Stacked) Params() ([]Param, map[string]string) {
	var ps []Param
	L := len(st.layers)
	for l, layer := range st.layers {
		lp, _ := layer.Params()
		for _, p := range lp {
			switch p.Name {
			case paramEncW, paramEncB:
				p.Name = fmt.Sprintf("encoder.%d.%s", l, strings.TrimPrefix(p.Name, "encoder."))
			default:
				p.Name = fmt.Sprintf("decoder.%d.%s", L-1-l, strings.TrimPrefix(p.Name, "decoder."))
			}
			ps = append(ps, p)
		}
	}
	_, meta := st.layers[0].Params()
	meta["segdiscover.layer_encoder"] = meta["segdiscover.encoder"]
	meta["segdiscover.encoder"] = KindStacked
	meta["segdiscover.hidden"] = strconv.Itoa(st.Dims())
	sizes := make([]string, L)
	for l, h := range st.s.Sizes {
		sizes[l] = strconv.Itoa(h)
	}
	meta["segdiscover.sizes"] = strings.Join(sizes, ",")
	meta["segdiscover.fine_tune_epochs"] = strconv.Itoa(max(st.s.FineTuneEpochs, 0))
	return ps, meta
}

// LoadStacked rebuilds a stacked autoencoder from the output of Params.
func LoadStacked(ps []Param, meta map[string]string) (*Stacked, error) {
	if meta["segdiscover.encoder"] != KindStacked {
		return nil, fmt.Errorf("metadata: encoder %q is not %s", meta["segdiscover.encoder"], KindStacked)
	}
	var sizes []int
	for _, f := range strings.Split(meta["segdiscover.sizes"], ",") {
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("metadata segdiscover.sizes: %q", meta["segdiscover.sizes"])
		}
		sizes = append(sizes, v)
	}
	if len(sizes) < 2 || len(sizes) > 3 {
		return nil, fmt.Errorf("metadata segdiscover.sizes: %d layers, want 2 or 3", len(sizes))
	}
	ft, err := strconv.Atoi(meta["segdiscover.fine_tune_epochs"])
	if err != nil {
		return nil, fmt.Errorf("metadata segdiscover.fine_tune_epochs: %w", err)
	}
	if ft <= 0 {
		ft = -1 // none
	}
	L := len(sizes)
	st := &Stacked{}
	for l, h := range sizes {
		lm := maps.Clone(meta)
		lm["segdiscover.encoder"] = meta["segdiscover.layer_encoder"]
		lm["segdiscover.hidden"] = strconv.Itoa(h)
		encP := fmt.Sprintf("encoder.%d.", l)
		decP := fmt.Sprintf("decoder.%d.", L-1-l)
		var lp []Param
		for _, p := range ps {
			switch {
			case strings.HasPrefix(p.Name, encP):
				p.Name = "encoder." + strings.TrimPrefix(p.Name, encP)
			case strings.HasPrefix(p.Name, decP):
				p.Name = "decoder." + strings.TrimPrefix(p.Name, decP)
			default:
				continue
			}
			lp = append(lp, p)
		}
		e, err := LoadEncoder(lp, lm)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		if l > 0 && e.InputDim() != sizes[l-1] {
			return nil, fmt.Errorf("layer %d takes %d values, layer %d gives %d", l, e.InputDim(), l-1, sizes[l-1])
		}
		st.layers = append(st.layers, e)
	}
	ls := st.layers[0].Settings()
	ls.Hidden = sizes[L-1]
	st.s = StackedSettings{Layer: ls, Depth: L, Sizes: sizes, FineTuneEpochs: ft}
	return st, nil
}
