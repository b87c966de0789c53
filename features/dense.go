package features

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// activation is the element-wise non-linearity of a dense layer.
type activation int

// The activations of the encoders' dense layers.
const (
	actSigmoid  activation = iota // 1/(1+e^-z), in (0, 1)
	actReLU                       // max(0, z)
	actSoftplus                   // log(1+e^z), in (0, ∞)
	actIdentity                   // z
)

func (a activation) String() string {
	switch a {
	case actSigmoid:
		return "sigmoid"
	case actReLU:
		return "relu"
	case actSoftplus:
		return "softplus"
	case actIdentity:
		return "identity"
	}
	return "unknown"
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// apply sets a = f(z) element-wise.
func (act activation) apply(a, z []float64) {
	switch act {
	case actSigmoid:
		for i, v := range z {
			a[i] = sigmoid(v)
		}
	case actReLU:
		for i, v := range z {
			a[i] = max(v, 0)
		}
	case actSoftplus:
		for i, v := range z {
			// log(1+e^z) without overflow: max(z,0) + log1p(e^-|z|).
			a[i] = max(v, 0) + math.Log1p(math.Exp(-math.Abs(v)))
		}
	case actIdentity:
		copy(a, z)
	default:
		panic("features: unknown activation")
	}
}

// scaleByDerivative multiplies g element-wise by f'(z), given z and a = f(z).
func (act activation) scaleByDerivative(g, z, a []float64) {
	switch act {
	case actSigmoid:
		for i := range g {
			g[i] *= a[i] * (1 - a[i])
		}
	case actReLU:
		for i := range g {
			if z[i] <= 0 {
				g[i] = 0
			}
		}
	case actSoftplus:
		for i := range g {
			g[i] *= sigmoid(z[i])
		}
	case actIdentity:
	default:
		panic("features: unknown activation")
	}
}

// dense is a fully connected layer, a = f(x Wᵀ + b), over a batch of row
// vectors; W is out x in, as torch.nn.Linear stores it. Its products go
// through gonum's mat, hence the swappable blas64 implementation.
type dense struct {
	W   *mat.Dense
	B   []float64
	Act activation

	// Gradients of the loss, filled by backward.
	dW *mat.Dense
	dB []float64

	// Forward cache for backward.
	x, z, a *mat.Dense
}

// newDense returns a layer with weights drawn uniformly from
// ±sqrt(6/(in+out+1)) (Glorot-style, as in Ng's sparse autoencoder notes)
// and zero biases.
func newDense(in, out int, act activation, rng *rand.Rand) *dense {
	r := math.Sqrt(6 / float64(in+out+1))
	w := make([]float64, in*out)
	for i := range w {
		w[i] = (2*rng.Float64() - 1) * r
	}
	return &dense{
		W: mat.NewDense(out, in, w), B: make([]float64, out), Act: act,
		dW: mat.NewDense(out, in, nil), dB: make([]float64, out),
	}
}

// forward computes the layer's activations for the rows of x and keeps x,
// z and a for backward. The returned matrix is owned by the layer and
// overwritten by the next call.
func (d *dense) forward(x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	out, _ := d.W.Dims()
	d.x = x
	d.z = reuse(d.z, n, out)
	d.a = reuse(d.a, n, out)
	d.z.Mul(x, d.W.T())
	for i := range n {
		zr := d.z.RawRowView(i)
		for j, b := range d.B {
			zr[j] += b
		}
		d.Act.apply(d.a.RawRowView(i), zr)
	}
	return d.a
}

// apply returns f(x Wᵀ + b) in a new matrix, leaving the forward cache
// alone, so that it is safe for concurrent use.
func (d *dense) apply(x *mat.Dense) *mat.Dense {
	n, _ := x.Dims()
	var z mat.Dense
	z.Mul(x, d.W.T())
	for i := range n {
		zr := z.RawRowView(i)
		for j, b := range d.B {
			zr[j] += b
		}
		d.Act.apply(zr, zr)
	}
	return &z
}

// backward takes dA, the gradient of the loss with respect to the last
// forward's activations (it is overwritten), stores the gradients of W and
// B, and returns the gradient with respect to the input if wantDX (else
// nil). The returned matrix is freshly allocated.
func (d *dense) backward(dA *mat.Dense, wantDX bool) *mat.Dense {
	n, _ := dA.Dims()
	for i := range n {
		d.Act.scaleByDerivative(dA.RawRowView(i), d.z.RawRowView(i), d.a.RawRowView(i))
	}
	dZ := dA
	d.dW.Mul(dZ.T(), d.x)
	clear(d.dB)
	for i := range n {
		for j, v := range dZ.RawRowView(i) {
			d.dB[j] += v
		}
	}
	if !wantDX {
		return nil
	}
	var dX mat.Dense
	dX.Mul(dZ, d.W)
	return &dX
}

// reuse returns m if it is r x c, else a new r x c matrix.
func reuse(m *mat.Dense, r, c int) *mat.Dense {
	if m != nil {
		if mr, mc := m.Dims(); mr == r && mc == c {
			return m
		}
	}
	return mat.NewDense(r, c, nil)
}

// adam is the Adam optimiser (Kingma & Ba 2015) over a list of parameter
// slices and their gradients.
type adam struct {
	lr, beta1, beta2, eps float64
	step                  int
	m, v                  [][]float64
}

func newAdam(lr float64, params [][]float64) *adam {
	o := &adam{lr: lr, beta1: 0.9, beta2: 0.999, eps: 1e-8}
	for _, p := range params {
		o.m = append(o.m, make([]float64, len(p)))
		o.v = append(o.v, make([]float64, len(p)))
	}
	return o
}

// update applies one step to params given grads (same shapes as at
// construction).
func (o *adam) update(params, grads [][]float64) {
	o.step++
	c1 := 1 - math.Pow(o.beta1, float64(o.step))
	c2 := 1 - math.Pow(o.beta2, float64(o.step))
	lr := o.lr * math.Sqrt(c2) / c1
	for k, p := range params {
		g, m, v := grads[k], o.m[k], o.v[k]
		for i := range p {
			m[i] = o.beta1*m[i] + (1-o.beta1)*g[i]
			v[i] = o.beta2*v[i] + (1-o.beta2)*g[i]*g[i]
			p[i] -= lr * m[i] / (math.Sqrt(v[i]) + o.eps)
		}
	}
}
