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

// VAESettings configures a variational autoencoder and its training. The
// zero value means the defaults: 64 latent dimensions, one softplus
// hidden layer in the encoder and in the decoder of the geometric mean of
// the input and latent sizes, Beta 1, weight decay 1e-4, 30 epochs of
// minibatches of 128 at a learning rate of 1e-3.
type VAESettings struct {
	Latent int // latent dimensions (features); 0 means 64
	// HiddenUnits is the size of the hidden layer of the encoder and of
	// the decoder; 0 means round(sqrt(inputDim * Latent)).
	HiddenUnits int
	// Beta weighs the KL term (Higgins et al. 2017's beta-VAE); 0 means
	// 1, the evidence lower bound itself; negative means 0.
	Beta float64
	// WeightDecay is the weight of (1/2)·Σ W² over every weight matrix;
	// 0 means 1e-4, negative means none.
	WeightDecay float64

	Epochs       int     // 0 means 30
	BatchSize    int     // 0 means 128
	LearningRate float64 // Adam step size; 0 means 1e-3
}

func (s VAESettings) withDefaults(inputDim int) VAESettings {
	if s.Latent <= 0 {
		s.Latent = DefaultHidden
	}
	if s.HiddenUnits <= 0 {
		s.HiddenUnits = max(1, int(math.Round(math.Sqrt(float64(inputDim*s.Latent)))))
	}
	s.Beta = orDefault(s.Beta, DefaultBeta)
	s.WeightDecay = orDefault(s.WeightDecay, 1e-4)
	s.Epochs, s.BatchSize, s.LearningRate = trainingDefaults(s.Epochs, s.BatchSize, s.LearningRate)
	return s
}

// VAE is a variational autoencoder (D. P. Kingma, M. Welling,
// "Auto-encoding variational Bayes", ICLR 2014) with a Gaussian encoder
// q(z|x) = N(μ(x), diag(exp(ℓ(x)))) and prior N(0, I). Its decoder is a
// Gaussian of mean y(z) and one variance σ² shared by every input value,
// set to its maximum-likelihood value on each batch (the mean squared
// error), as in O. Rybkin, K. Daniilidis, S. Levine, "Simple and effective
// VAE training with calibrated decoders", ICML 2021: the balance of
// reconstruction and KL then follows from the data instead of a tuned
// constant. Its features are the posterior means μ(x).
type VAE struct {
	s VAESettings // with defaults applied

	enc    *dense // x -> h, softplus
	mu, lv *dense // h -> μ, h -> ℓ = log σ²_q, identity
	dec    *dense // z -> h', softplus
	out    *dense // h' -> y, sigmoid
}

// NewVAE returns an untrained VAE for inputs of inputDim values, with
// weights drawn from src. It panics if inputDim < 1.
func NewVAE(inputDim int, s VAESettings, src rand.Source) *VAE {
	if inputDim < 1 {
		panic("features: encoder input dimension < 1")
	}
	s = s.withDefaults(inputDim)
	rng := rand.New(src)
	v := &VAE{s: s,
		enc: newDense(inputDim, s.HiddenUnits, actSoftplus, rng),
		mu:  newDense(s.HiddenUnits, s.Latent, actIdentity, rng),
		lv:  newDense(s.HiddenUnits, s.Latent, actIdentity, rng),
		dec: newDense(s.Latent, s.HiddenUnits, actSoftplus, rng),
		out: newDense(s.HiddenUnits, inputDim, actSigmoid, rng),
	}
	// Start from small posterior variances (σ_q ≈ 0.2) so that early
	// samples carry the code rather than noise.
	for i := range v.lv.B {
		v.lv.B[i] = -3
	}
	return v
}

func (v *VAE) layers() []*dense { return []*dense{v.enc, v.mu, v.lv, v.dec, v.out} }

// Settings returns the VAE's settings with the defaults filled in.
func (v *VAE) Settings() VAESettings { return v.s }

// InputDim returns the length of the input vectors.
func (v *VAE) InputDim() int { _, c := v.enc.W.Dims(); return c }

// Dims returns the number of features (latent dimensions).
func (v *VAE) Dims() int { return v.s.Latent }

// VAELoss is the training objective of a VAE on a batch, per input row.
type VAELoss struct {
	Total float64 // Reconstruction + Beta·KL + WeightDecay
	// Reconstruction is -E_q log p(x|z) estimated with the batch's noise:
	// (1/m) Σ_i [ ||x_i - y_i||²/(2σ²) + (D/2) log(2πσ²) ], with σ² the
	// batch's mean squared error.
	Reconstruction float64
	// KL is (1/m) Σ_i KL(q(z|x_i) || N(0, I))
	// = (1/2m) Σ_i Σ_j (μ_ij² + e^ℓ_ij - 1 - ℓ_ij).
	KL          float64
	WeightDecay float64
	ELBO        float64 // -(Reconstruction + KL), whatever Beta
	NoiseStd    float64 // σ of the decoder
}

// minVariance bounds the decoder's variance away from zero, where the
// log-likelihood of a perfect reconstruction would be infinite.
const minVariance = 1e-12

// lossAndGrad runs the VAE forward on x with reparameterisation noise eps
// (m x Latent, standard normal) and, if grad, backward.
func (v *VAE) lossAndGrad(x, eps *mat.Dense, grad bool) VAELoss {
	m, d := x.Dims()
	fm, k := float64(m), v.s.Latent
	h := v.enc.forward(x)
	mu := v.mu.forward(h)
	lv := v.lv.forward(h)
	z := mat.NewDense(m, k, nil)
	for i := range m {
		zr, mr, lr, er := z.RawRowView(i), mu.RawRowView(i), lv.RawRowView(i), eps.RawRowView(i)
		for j := range zr {
			zr[j] = mr[j] + math.Exp(lr[j]/2)*er[j]
		}
	}
	y := v.out.forward(v.dec.forward(z))

	var L VAELoss
	sse := 0.0
	for i := range m {
		yr, xr := y.RawRowView(i), x.RawRowView(i)
		for j := range yr {
			e := yr[j] - xr[j]
			sse += e * e
		}
	}
	variance := max(sse/(fm*float64(d)), minVariance)
	L.NoiseStd = math.Sqrt(variance)
	L.Reconstruction = sse/(2*fm*variance) + float64(d)/2*math.Log(2*math.Pi*variance)
	for i := range m {
		for j, mv := range mu.RawRowView(i) {
			l := lv.At(i, j)
			L.KL += mv*mv + math.Exp(l) - 1 - l
		}
	}
	L.KL /= 2 * fm
	wd := v.s.WeightDecay
	if wd > 0 {
		for _, dl := range v.layers() {
			n := mat.Norm(dl.W, 2)
			L.WeightDecay += wd / 2 * n * n
		}
	}
	beta := v.s.Beta
	L.ELBO = -(L.Reconstruction + L.KL)
	L.Total = L.Reconstruction + beta*L.KL + L.WeightDecay
	if !grad {
		return L
	}

	// σ² is the minimiser of the reconstruction term over σ², so its own
	// dependence on y does not enter the gradient (envelope theorem):
	// dRec/dy = (y - x)/(m σ²). Below minVariance it is a constant and
	// the formula is exact too.
	dY := mat.NewDense(m, d, nil)
	for i := range m {
		yr, xr, dr := y.RawRowView(i), x.RawRowView(i), dY.RawRowView(i)
		for j := range yr {
			dr[j] = (yr[j] - xr[j]) / (fm * variance)
		}
	}
	dZ := v.dec.backward(v.out.backward(dY, true), true)
	dMu := mat.NewDense(m, k, nil)
	dLv := mat.NewDense(m, k, nil)
	for i := range m {
		zr, mr, lr, er := dZ.RawRowView(i), mu.RawRowView(i), lv.RawRowView(i), eps.RawRowView(i)
		gm, gl := dMu.RawRowView(i), dLv.RawRowView(i)
		for j := range zr {
			s := math.Exp(lr[j] / 2)
			gm[j] = zr[j] + beta*mr[j]/fm
			gl[j] = zr[j]*er[j]*s/2 + beta*(s*s-1)/(2*fm)
		}
	}
	dH := v.mu.backward(dMu, true)
	dH.Add(dH, v.lv.backward(dLv, true))
	v.enc.backward(dH, false)
	if wd > 0 {
		for _, dl := range v.layers() {
			dl.dW.Add(dl.dW, scaled(wd, dl.W))
		}
	}
	return L
}

// noise returns an r x c matrix of standard normal draws.
func noise(r, c int, rng *rand.Rand) *mat.Dense {
	e := mat.NewDense(r, c, nil)
	raw := e.RawMatrix().Data
	for i := range raw {
		raw[i] = rng.NormFloat64()
	}
	return e
}

// Evaluate returns the loss of the VAE on the rows of x as one batch,
// with reparameterisation noise drawn from src.
func (v *VAE) Evaluate(x *mat.Dense, src rand.Source) VAELoss {
	m, _ := x.Dims()
	return v.lossAndGrad(x, noise(m, v.s.Latent, rand.New(src)), false)
}

// Train fits the VAE to the rows of x with minibatch Adam, one noise draw
// per input per step, shuffling and drawing the noise with src; for the
// same x, settings and seeds it gives the same weights. Progress, if
// non-nil, is called after each epoch with the mean loss over its batches
// and stops training when it returns an error. It returns the losses of
// every epoch.
func (v *VAE) Train(x *mat.Dense, src rand.Source, progress func(epoch int, l VAELoss) error) ([]VAELoss, error) {
	n, d := x.Dims()
	if d != v.InputDim() {
		panic(fmt.Sprintf("features: training rows have %d values, encoder takes %d", d, v.InputDim()))
	}
	if n == 0 {
		return nil, errors.New("no training rows")
	}
	rng := rand.New(src)
	var params, grads [][]float64
	for _, dl := range v.layers() {
		params = append(params, dl.W.RawMatrix().Data, dl.B)
		grads = append(grads, dl.dW.RawMatrix().Data, dl.dB)
	}
	opt := newAdam(v.s.LearningRate, params)
	var history []VAELoss
	var sum VAELoss
	nb := 0
	err := minibatches(x, v.s.BatchSize, v.s.Epochs, rng, func(b *mat.Dense) Loss {
		m, _ := b.Dims()
		l := v.lossAndGrad(b, noise(m, v.s.Latent, rng), true)
		opt.update(params, grads)
		sum.Total += l.Total
		sum.Reconstruction += l.Reconstruction
		sum.KL += l.KL
		sum.WeightDecay += l.WeightDecay
		sum.ELBO += l.ELBO
		sum.NoiseStd += l.NoiseStd
		nb++
		return Loss{}
	}, func(epoch int, _ Loss) error {
		f := 1 / float64(nb)
		l := VAELoss{sum.Total * f, sum.Reconstruction * f, sum.KL * f, sum.WeightDecay * f, sum.ELBO * f, sum.NoiseStd * f}
		sum, nb = VAELoss{}, 0
		history = append(history, l)
		if progress != nil {
			return progress(epoch, l)
		}
		return nil
	})
	return history, err
}

// Encode returns the posterior means μ of the rows of x. It is safe for
// concurrent use (but not concurrently with Train).
func (v *VAE) Encode(x *mat.Dense) *mat.Dense {
	if _, d := x.Dims(); d != v.InputDim() {
		panic(fmt.Sprintf("features: rows have %d values, encoder takes %d", d, v.InputDim()))
	}
	return v.mu.apply(v.enc.apply(x))
}

// PosteriorLogVar returns the posterior log-variances ℓ of the rows of x.
func (v *VAE) PosteriorLogVar(x *mat.Dense) *mat.Dense {
	return v.lv.apply(v.enc.apply(x))
}

// Reconstruct returns the decoder's mean at the posterior means of the
// rows of x.
func (v *VAE) Reconstruct(x *mat.Dense) *mat.Dense {
	return v.out.apply(v.dec.apply(v.Encode(x)))
}

// KindVAE is the value of the metadata key "segdiscover.encoder" of a
// VAE's Params.
const KindVAE = "vae"

// vaeLayers names the VAE's layers as torch.nn.Linear modules.
var vaeLayers = []string{"encoder.hidden", "encoder.mu", "encoder.logvar", "decoder.hidden", "decoder.out"}

// Params returns copies of the VAE's weights, named as torch.nn.Linear
// layers of vaeLayers' names would save them, and its settings as string
// metadata; LoadVAE restores it.
func (v *VAE) Params() ([]Param, map[string]string) {
	var ps []Param
	for i, dl := range v.layers() {
		o, in := dl.W.Dims()
		ps = append(ps,
			Param{vaeLayers[i] + ".weight", []int{o, in}, clone(dl.W.RawMatrix().Data)},
			Param{vaeLayers[i] + ".bias", []int{o}, clone(dl.B)})
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	s := v.s
	return ps, map[string]string{
		"segdiscover.encoder":       KindVAE,
		"segdiscover.hidden":        strconv.Itoa(s.Latent),
		"segdiscover.hidden_units":  strconv.Itoa(s.HiddenUnits),
		"segdiscover.beta":          f(s.Beta),
		"segdiscover.weight_decay":  f(s.WeightDecay),
		"segdiscover.epochs":        strconv.Itoa(s.Epochs),
		"segdiscover.batch_size":    strconv.Itoa(s.BatchSize),
		"segdiscover.learning_rate": f(s.LearningRate),
	}
}

// LoadVAE rebuilds a VAE from the output of Params. It fails if a
// parameter is missing, has the wrong shape or a non-finite value, or the
// metadata is incomplete.
func LoadVAE(ps []Param, meta map[string]string) (*VAE, error) {
	if meta["segdiscover.encoder"] != KindVAE {
		return nil, fmt.Errorf("metadata: encoder %q is not %s", meta["segdiscover.encoder"], KindVAE)
	}
	var errs []error
	num := func(key string) float64 {
		x, err := strconv.ParseFloat(meta[key], 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata %s: %w", key, err))
		}
		return x
	}
	integer := func(key string) int {
		x, err := strconv.Atoi(meta[key])
		if err != nil || x < 1 {
			errs = append(errs, fmt.Errorf("metadata %s: %q", key, meta[key]))
		}
		return x
	}
	s := VAESettings{
		Latent: integer("segdiscover.hidden"), HiddenUnits: integer("segdiscover.hidden_units"),
		Beta: noneIfZero(num("segdiscover.beta")), WeightDecay: noneIfZero(num("segdiscover.weight_decay")),
		Epochs: integer("segdiscover.epochs"), BatchSize: integer("segdiscover.batch_size"),
		LearningRate: num("segdiscover.learning_rate"),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	byName := map[string]*Param{}
	for i := range ps {
		byName[ps[i].Name] = &ps[i]
	}
	ew, ok := byName[vaeLayers[0]+".weight"]
	if !ok || len(ew.Shape) != 2 || ew.Shape[1] < 1 {
		return nil, fmt.Errorf("parameter %s.weight missing or not a matrix", vaeLayers[0])
	}
	v := NewVAE(ew.Shape[1], s, rand.NewPCG(0, 0))
	for i, dl := range v.layers() {
		o, in := dl.W.Dims()
		for _, want := range []struct {
			name  string
			shape []int
			dst   []float64
		}{
			{vaeLayers[i] + ".weight", []int{o, in}, dl.W.RawMatrix().Data},
			{vaeLayers[i] + ".bias", []int{o}, dl.B},
		} {
			p, ok := byName[want.name]
			if !ok {
				return nil, fmt.Errorf("parameter %s missing", want.name)
			}
			if !slices.Equal(p.Shape, want.shape) || len(p.Data) != len(want.dst) {
				return nil, fmt.Errorf("parameter %s has shape %v, want %v", want.name, p.Shape, want.shape)
			}
			for _, x := range p.Data {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return nil, fmt.Errorf("parameter %s has a non-finite value", want.name)
				}
			}
			copy(want.dst, p.Data)
		}
	}
	return v, nil
}

// PatchEncoder is a trained encoder of patch vectors into features: an
// Encoder, a Stacked or a VAE.
type PatchEncoder interface {
	// Encode returns one feature row per row of x; safe for concurrent
	// use.
	Encode(x *mat.Dense) *mat.Dense
	InputDim() int
	Dims() int
	Params() ([]Param, map[string]string)
}

// LoadPatchEncoder rebuilds whichever encoder the metadata names from
// the output of its Params.
func LoadPatchEncoder(ps []Param, meta map[string]string) (PatchEncoder, error) {
	switch meta["segdiscover.encoder"] {
	case KindStacked:
		return LoadStacked(ps, meta)
	case KindVAE:
		return LoadVAE(ps, meta)
	}
	return LoadEncoder(ps, meta)
}
