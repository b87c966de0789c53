package features

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/mat"
)

// Kind selects a learned encoder.
type Kind int

// The label-free encoders.
const (
	// SparseSigmoid is the sparse autoencoder of Ng's notes ("method 1"):
	// sigmoid hidden and reconstruction layers, loss
	// MSE + Beta * Σ_j KL(Rho || ρ̂_j).
	SparseSigmoid Kind = iota
	// SparseReLU ("method 2"): ReLU hidden layer, softplus reconstruction,
	// loss MSE + Lambda * mean_i ||a_i||_1.
	SparseReLU
)

func (k Kind) String() string {
	switch k {
	case SparseSigmoid:
		return "sae-sigmoid"
	case SparseReLU:
		return "sae-relu"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind parses the names printed by Kind.String.
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{SparseSigmoid, SparseReLU} {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown encoder %q (want sae-sigmoid or sae-relu)", s)
}

// Corruption is the input noise of a denoising autoencoder (Vincent et al.
// 2008): the encoder sees the corrupted input, the loss compares the
// reconstruction with the clean one.
type Corruption int

// The corruptions.
const (
	NoCorruption Corruption = iota
	// MaskingNoise sets a random fraction Noise of the inputs to 0 and
	// scales the others by 1/(1-Noise), as inverted dropout does, so that
	// the clean inputs the trained encoder sees have the same expected
	// pre-activations (without the rescaling, masking with Noise 0.25 left
	// the reconstruction of clean Stanford Background patches 13x worse).
	MaskingNoise
	// GaussianNoise adds independent N(0, Noise²) noise to every input.
	GaussianNoise
)

func (c Corruption) String() string {
	switch c {
	case NoCorruption:
		return "none"
	case MaskingNoise:
		return "mask"
	case GaussianNoise:
		return "gaussian"
	}
	return "corruption(" + strconv.Itoa(int(c)) + ")"
}

// ParseCorruption parses the names printed by Corruption.String.
func ParseCorruption(s string) (Corruption, error) {
	for _, c := range []Corruption{NoCorruption, MaskingNoise, GaussianNoise} {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown corruption %q (want none, mask or gaussian)", s)
}

// Defaults of the learned encoders' settings (EncoderSettings and the
// training fields of StackedSettings and VAESettings).
const (
	DefaultHidden     = 64 // hidden units (VAESettings.Latent), the feature dimensions
	DefaultEpochs     = 30 // passes over the training patches
	DefaultStackDepth = 2  // StackedSettings.Depth
	DefaultBeta       = 1  // VAESettings.Beta: the evidence lower bound itself
)

// EncoderSettings configures a learned encoder and its training. The zero
// value means the defaults: a 64-unit SparseSigmoid autoencoder with
// Rho 0.2 and Beta 3, no corruption, 30 epochs of minibatches of 128 at a
// learning rate of 1e-3. For the penalty weights, 0 means the default and
// a negative value means none.
type EncoderSettings struct {
	Kind   Kind
	Hidden int // hidden units (feature dimensions); 0 means 64

	Rho    float64 // SparseSigmoid: target mean activation; 0 means 0.2
	Beta   float64 // SparseSigmoid: weight of the KL penalty; 0 means 3
	Lambda float64 // SparseReLU: weight of the L1 penalty; 0 means 0.01
	// WeightDecay is the weight of (1/2)·Σ W² over both weight matrices;
	// 0 means 1e-4.
	WeightDecay float64

	Corruption Corruption
	// Noise is the masked fraction (MaskingNoise, in (0, 1); 0 means
	// 0.25) or the standard deviation (GaussianNoise, 0 means 0.1).
	Noise float64

	Epochs       int     // passes over the training set; 0 means 30
	BatchSize    int     // 0 means 128
	LearningRate float64 // Adam step size; 0 means 1e-3
}

func orDefault(v, def float64) float64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// withDefaults returns s with every zero field replaced by its default
// and negative penalty weights by zero.
func (s EncoderSettings) withDefaults() EncoderSettings {
	if s.Hidden <= 0 {
		s.Hidden = DefaultHidden
	}
	if s.Rho <= 0 || s.Rho >= 1 {
		s.Rho = 0.2
	}
	s.Beta = orDefault(s.Beta, 3)
	s.Lambda = orDefault(s.Lambda, 0.01)
	s.WeightDecay = orDefault(s.WeightDecay, 1e-4)
	if s.Noise <= 0 || s.Corruption == MaskingNoise && s.Noise >= 1 {
		s.Noise = 0.25
		if s.Corruption == GaussianNoise {
			s.Noise = 0.1
		}
	}
	s.Epochs, s.BatchSize, s.LearningRate = trainingDefaults(s.Epochs, s.BatchSize, s.LearningRate)
	return s
}

// trainingDefaults fills in the minibatch schedule that every autoencoder
// of this package shares: 30 epochs of minibatches of 128 at 1e-3.
func trainingDefaults(epochs, batch int, lr float64) (int, int, float64) {
	if epochs <= 0 {
		epochs = DefaultEpochs
	}
	if batch <= 0 {
		batch = 128
	}
	if lr <= 0 {
		lr = 1e-3
	}
	return epochs, batch, lr
}

// Encoder is a trained (or initialised) autoencoder; its feature for an
// input is the hidden activation vector.
type Encoder struct {
	s        EncoderSettings // with defaults applied
	enc, dec *dense
}

// NewEncoder returns an untrained encoder for inputs of inputDim values,
// with weights drawn from src. It panics if inputDim < 1.
func NewEncoder(inputDim int, s EncoderSettings, src rand.Source) *Encoder {
	if inputDim < 1 {
		panic("features: encoder input dimension < 1")
	}
	s = s.withDefaults()
	rng := rand.New(src)
	e := &Encoder{s: s}
	switch s.Kind {
	case SparseSigmoid:
		e.enc = newDense(inputDim, s.Hidden, actSigmoid, rng)
		e.dec = newDense(s.Hidden, inputDim, actSigmoid, rng)
	case SparseReLU:
		e.enc = newDense(inputDim, s.Hidden, actReLU, rng)
		e.dec = newDense(s.Hidden, inputDim, actSoftplus, rng)
		// A small positive bias keeps ReLU units alive at the start.
		for i := range e.enc.B {
			e.enc.B[i] = 0.01
		}
	default:
		panic(fmt.Sprintf("features: unknown encoder kind %d", s.Kind))
	}
	return e
}

// Settings returns the encoder's settings with the defaults filled in.
func (e *Encoder) Settings() EncoderSettings { return e.s }

// InputDim returns the length of the input vectors.
func (e *Encoder) InputDim() int { _, c := e.enc.W.Dims(); return c }

// Dims returns the number of features (hidden units).
func (e *Encoder) Dims() int { return e.s.Hidden }

// Loss is the training objective of an encoder on a batch, split into its
// terms.
type Loss struct {
	Total          float64
	Reconstruction float64 // (1/2m) Σ_i ||y_i - x_i||², m = batch size
	Sparsity       float64 // Beta·Σ_j KL(ρ||ρ̂_j) or Lambda·(1/m)Σ_i ||a_i||_1
	WeightDecay    float64 // (WeightDecay/2)·(||W_enc||² + ||W_dec||²)
	MeanActivation float64 // mean hidden activation over batch and units
}

// lossAndGrad runs forward and, if grad, backward on the batch: in is the
// (possibly corrupted) input, target the clean one.
func (e *Encoder) lossAndGrad(in, target *mat.Dense, grad bool) Loss {
	m, _ := in.Dims()
	a := e.enc.forward(in)
	y := e.dec.forward(a)
	var L Loss
	h := e.s.Hidden
	fm := float64(m)

	dY := mat.NewDense(m, e.InputDim(), nil)
	for i := range m {
		yr, tr, dr := y.RawRowView(i), target.RawRowView(i), dY.RawRowView(i)
		for j := range yr {
			d := yr[j] - tr[j]
			L.Reconstruction += d * d
			dr[j] = d / fm
		}
	}
	L.Reconstruction /= 2 * fm

	rhoHat := make([]float64, h)
	for i := range m {
		for j, v := range a.RawRowView(i) {
			rhoHat[j] += v
		}
	}
	sumAct := 0.0
	for j := range rhoHat {
		sumAct += rhoHat[j]
		rhoHat[j] /= fm
	}
	L.MeanActivation = sumAct / (fm * float64(h))

	// dKL[j]: gradient of the KL term with respect to a_ij, the same for
	// every row i since it depends on a_ij only through ρ̂_j.
	var dKL []float64
	switch e.s.Kind {
	case SparseSigmoid:
		if e.s.Beta > 0 {
			rho := e.s.Rho
			dKL = make([]float64, h)
			for j, r := range rhoHat {
				// Clamp to keep the penalty finite if a unit saturates.
				r = min(max(r, 1e-12), 1-1e-12)
				L.Sparsity += rho*math.Log(rho/r) + (1-rho)*math.Log((1-rho)/(1-r))
				dKL[j] = e.s.Beta * (-rho/r + (1-rho)/(1-r)) / fm
			}
			L.Sparsity *= e.s.Beta
		}
	case SparseReLU:
		if e.s.Lambda > 0 {
			L.Sparsity = e.s.Lambda * sumAct / fm // activations are >= 0
		}
	}
	wd := e.s.WeightDecay
	if wd > 0 {
		// For a matrix, mat.Norm(·, 2) is the Frobenius norm.
		n1, n2 := mat.Norm(e.enc.W, 2), mat.Norm(e.dec.W, 2)
		L.WeightDecay = wd / 2 * (n1*n1 + n2*n2)
	}
	L.Total = L.Reconstruction + L.Sparsity + L.WeightDecay
	if !grad {
		return L
	}

	dA := e.dec.backward(dY, true)
	switch {
	case dKL != nil:
		for i := range m {
			row := dA.RawRowView(i)
			for j := range row {
				row[j] += dKL[j]
			}
		}
	case e.s.Kind == SparseReLU && e.s.Lambda > 0:
		// d|a|/da = 1 for a > 0; where a = 0 the ReLU derivative is 0.
		g := e.s.Lambda / fm
		for i := range m {
			row := dA.RawRowView(i)
			for j := range row {
				row[j] += g
			}
		}
	}
	e.enc.backward(dA, false)
	if wd > 0 {
		e.enc.dW.Add(e.enc.dW, scaled(wd, e.enc.W))
		e.dec.dW.Add(e.dec.dW, scaled(wd, e.dec.W))
	}
	return L
}

func scaled(f float64, m *mat.Dense) *mat.Dense {
	var s mat.Dense
	s.Scale(f, m)
	return &s
}

// corrupt returns a corrupted copy of x (or x itself without corruption).
func (e *Encoder) corrupt(x *mat.Dense, rng *rand.Rand) *mat.Dense {
	if e.s.Corruption == NoCorruption {
		return x
	}
	c := mat.DenseCopyOf(x)
	r, _ := c.Dims()
	keep := 1 / (1 - e.s.Noise)
	for i := range r {
		row := c.RawRowView(i)
		for j := range row {
			switch e.s.Corruption {
			case MaskingNoise:
				if rng.Float64() < e.s.Noise {
					row[j] = 0
				} else {
					row[j] *= keep
				}
			case GaussianNoise:
				row[j] += e.s.Noise * rng.NormFloat64()
			}
		}
	}
	return c
}

// Train fits the encoder to the rows of x with minibatch Adam, shuffling
// with src every epoch; for the same x, settings and seeds it gives the
// same weights. If progress is non-nil it is called after each epoch with
// the epoch (from 1) and the mean loss over its batches; Train stops early,
// returning its error, when progress returns one (for cancellation). It
// returns the losses of every epoch.
func (e *Encoder) Train(x *mat.Dense, src rand.Source, progress func(epoch int, l Loss) error) ([]Loss, error) {
	n, d := x.Dims()
	if d != e.InputDim() {
		panic(fmt.Sprintf("features: training rows have %d values, encoder takes %d", d, e.InputDim()))
	}
	if n == 0 {
		return nil, errors.New("no training rows")
	}
	rng := rand.New(src)
	params := [][]float64{e.enc.W.RawMatrix().Data, e.enc.B, e.dec.W.RawMatrix().Data, e.dec.B}
	grads := [][]float64{e.enc.dW.RawMatrix().Data, e.enc.dB, e.dec.dW.RawMatrix().Data, e.dec.dB}
	opt := newAdam(e.s.LearningRate, params)
	var history []Loss
	err := minibatches(x, e.s.BatchSize, e.s.Epochs, rng, func(b *mat.Dense) Loss {
		l := e.lossAndGrad(e.corrupt(b, rng), b, true)
		opt.update(params, grads)
		return l
	}, func(epoch int, l Loss) error {
		history = append(history, l)
		if progress == nil {
			return nil
		}
		return progress(epoch, l)
	})
	return history, err
}

// Evaluate returns the loss of the encoder on the rows of x as one batch,
// without corruption.
func (e *Encoder) Evaluate(x *mat.Dense) Loss {
	return e.lossAndGrad(x, x, false)
}

// Encode returns the features of the rows of x: the hidden activations,
// one row per input row, Dims() columns. It is safe for concurrent use
// (but not concurrently with Train). It panics if x has the wrong number
// of columns.
func (e *Encoder) Encode(x *mat.Dense) *mat.Dense {
	if _, d := x.Dims(); d != e.InputDim() {
		panic(fmt.Sprintf("features: rows have %d values, encoder takes %d", d, e.InputDim()))
	}
	return e.enc.apply(x)
}

// Reconstruct returns the decoder's reconstruction of the rows of x. It
// is safe for concurrent use (but not concurrently with Train).
func (e *Encoder) Reconstruct(x *mat.Dense) *mat.Dense {
	return e.dec.apply(e.Encode(x))
}

// Param is a named parameter array, row-major, for saving in a tensor
// file (pipeline/artifact writes them as F64 safetensors, so that they read
// back exactly).
type Param struct {
	Name  string
	Shape []int
	Data  []float64
}

// Names of the encoder's parameters, as torch.nn.Linear layers named
// "encoder" and "decoder" would save them (weight is out x in).
const (
	paramEncW = "encoder.weight"
	paramEncB = "encoder.bias"
	paramDecW = "decoder.weight"
	paramDecB = "decoder.bias"
)

// Params returns copies of the encoder's weights and its settings as
// string metadata; LoadEncoder restores an encoder from them.
func (e *Encoder) Params() ([]Param, map[string]string) {
	h, d := e.enc.W.Dims()
	ps := []Param{
		{paramEncW, []int{h, d}, clone(e.enc.W.RawMatrix().Data)},
		{paramEncB, []int{h}, clone(e.enc.B)},
		{paramDecW, []int{d, h}, clone(e.dec.W.RawMatrix().Data)},
		{paramDecB, []int{d}, clone(e.dec.B)},
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	s := e.s
	meta := map[string]string{
		"segdiscover.encoder":       s.Kind.String(),
		"segdiscover.hidden_act":    e.enc.Act.String(),
		"segdiscover.output_act":    e.dec.Act.String(),
		"segdiscover.hidden":        strconv.Itoa(s.Hidden),
		"segdiscover.rho":           f(s.Rho),
		"segdiscover.beta":          f(s.Beta),
		"segdiscover.lambda":        f(s.Lambda),
		"segdiscover.weight_decay":  f(s.WeightDecay),
		"segdiscover.corruption":    s.Corruption.String(),
		"segdiscover.noise":         f(s.Noise),
		"segdiscover.epochs":        strconv.Itoa(s.Epochs),
		"segdiscover.batch_size":    strconv.Itoa(s.BatchSize),
		"segdiscover.learning_rate": f(s.LearningRate),
	}
	return ps, meta
}

func clone(v []float64) []float64 { return append([]float64(nil), v...) }

// LoadEncoder rebuilds an encoder from the output of Params. It fails if a
// parameter is missing, has the wrong shape or a non-finite value, or the
// metadata names an unknown encoder.
func LoadEncoder(ps []Param, meta map[string]string) (*Encoder, error) {
	kind, err := ParseKind(meta["segdiscover.encoder"])
	if err != nil {
		return nil, err
	}
	var s EncoderSettings
	s.Kind = kind
	var errs []error
	num := func(key string) float64 {
		v, err := strconv.ParseFloat(meta[key], 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata %s: %w", key, err))
		}
		return v
	}
	integer := func(key string) int {
		v, err := strconv.Atoi(meta[key])
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata %s: %w", key, err))
		}
		return v
	}
	s.Hidden = integer("segdiscover.hidden")
	s.Rho = num("segdiscover.rho")
	s.Beta = noneIfZero(num("segdiscover.beta"))
	s.Lambda = noneIfZero(num("segdiscover.lambda"))
	s.WeightDecay = noneIfZero(num("segdiscover.weight_decay"))
	s.Noise = num("segdiscover.noise")
	s.Epochs = integer("segdiscover.epochs")
	s.BatchSize = integer("segdiscover.batch_size")
	s.LearningRate = num("segdiscover.learning_rate")
	if c, err := ParseCorruption(meta["segdiscover.corruption"]); err != nil {
		errs = append(errs, err)
	} else {
		s.Corruption = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if s.Hidden < 1 {
		return nil, fmt.Errorf("metadata: %d hidden units", s.Hidden)
	}
	get := func(name string) (*Param, error) {
		for i := range ps {
			if ps[i].Name == name {
				for _, v := range ps[i].Data {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						return nil, fmt.Errorf("parameter %s has a non-finite value", name)
					}
				}
				return &ps[i], nil
			}
		}
		return nil, fmt.Errorf("parameter %s missing", name)
	}
	ew, err := get(paramEncW)
	if err != nil {
		return nil, err
	}
	if len(ew.Shape) != 2 || ew.Shape[0] != s.Hidden || ew.Shape[1] < 1 || len(ew.Data) != ew.Shape[0]*ew.Shape[1] {
		return nil, fmt.Errorf("parameter %s has shape %v, want [%d, D]", paramEncW, ew.Shape, s.Hidden)
	}
	d := ew.Shape[1]
	e := NewEncoder(d, s, rand.NewPCG(0, 0))
	for _, p := range []struct {
		name  string
		shape []int
		dst   []float64
	}{
		{paramEncW, []int{s.Hidden, d}, e.enc.W.RawMatrix().Data},
		{paramEncB, []int{s.Hidden}, e.enc.B},
		{paramDecW, []int{d, s.Hidden}, e.dec.W.RawMatrix().Data},
		{paramDecB, []int{d}, e.dec.B},
	} {
		src, err := get(p.name)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(src.Shape, p.shape) || len(src.Data) != len(p.dst) {
			return nil, fmt.Errorf("parameter %s has shape %v, want %v", p.name, src.Shape, p.shape)
		}
		copy(p.dst, src.Data)
	}
	return e, nil
}

// noneIfZero maps a stored penalty weight of 0 ("none") to the settings'
// spelling of none, a negative value.
func noneIfZero(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}
