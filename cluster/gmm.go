package cluster

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// GMM is a fitted Gaussian mixture. It is immutable: build one with Fit or
// NewGMM; its methods are safe for concurrent use.
type GMM struct {
	typ     CovarianceType
	k, d    int
	weights []float64 // K, sums to 1
	means   []float64 // K×D row-major
	// cov holds the covariances (RegCovar included): Full and Tied K×D×D
	// (Tied: K identical copies), Diag K×D, Spherical K.
	cov []float64

	// Derived by prepare.
	prec []float64 // precision matrices, same layout as cov
	logc []float64 // log w_k − D/2·log 2π + ½·log det Λ_k
}

// NewGMM builds a model from its parameters: weights (length K, positive;
// normalised to sum 1 unless they already do within 1e−12), means (K×D) and
// covariances. For Full, covariances holds K symmetric positive definite D×D
// matrices; for Tied one matrix (or K identical ones); for Diag and
// Spherical only the diagonal is read (for Spherical the mean of the
// diagonal). ok is false if a weight is not positive and finite, a mean is
// not finite or a covariance is not positive definite. It panics if the
// shapes do not agree.
func NewGMM(typ CovarianceType, weights []float64, means *mat.Dense, covariances []*mat.SymDense) (*GMM, bool) {
	if !typ.valid() {
		panic(fmt.Sprintf("cluster: invalid covariance type %d", int(typ)))
	}
	k, d := means.Dims()
	if len(weights) != k {
		panic(fmt.Sprintf("cluster: %d weights for %d means", len(weights), k))
	}
	want := k
	if typ == Tied && len(covariances) == 1 {
		want = 1
	}
	if len(covariances) != want {
		panic(fmt.Sprintf("cluster: %d covariances for %d components", len(covariances), k))
	}
	for _, c := range covariances {
		if c.SymmetricDim() != d {
			panic(fmt.Sprintf("cluster: covariance of dimension %d for means of dimension %d", c.SymmetricDim(), d))
		}
	}
	g := &GMM{typ: typ, k: k, d: d, weights: make([]float64, k), means: make([]float64, k*d)}
	var sum float64
	for _, w := range weights {
		if !(w > 0) || math.IsInf(w, 0) {
			return nil, false
		}
		sum += w
	}
	if math.Abs(sum-1) <= 1e-12 {
		sum = 1 // keep normalised weights bit for bit (files round-trip)
	}
	for i, w := range weights {
		g.weights[i] = w / sum
	}
	for i := range k {
		for j := range d {
			v := means.At(i, j)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, false
			}
			g.means[i*d+j] = v
		}
	}
	switch typ {
	case Full, Tied:
		g.cov = make([]float64, k*d*d)
		for c := range k {
			src := covariances[min(c, len(covariances)-1)]
			if typ == Tied && c > 0 && src != covariances[0] {
				for i := range d {
					for j := range d {
						if src.At(i, j) != covariances[0].At(i, j) {
							return nil, false
						}
					}
				}
			}
			for i := range d {
				for j := range d {
					g.cov[c*d*d+i*d+j] = src.At(i, j)
				}
			}
		}
	case Diag:
		g.cov = make([]float64, k*d)
		for c := range k {
			for i := range d {
				g.cov[c*d+i] = covariances[c].At(i, i)
			}
		}
	case Spherical:
		g.cov = make([]float64, k)
		for c := range k {
			var s float64
			for i := range d {
				s += covariances[c].At(i, i)
			}
			g.cov[c] = s / float64(d)
		}
	}
	if !g.prepare() {
		return nil, false
	}
	return g, true
}

// K returns the number of components.
func (g *GMM) K() int { return g.k }

// Dim returns the dimension of the data.
func (g *GMM) Dim() int { return g.d }

// CovarianceType returns the covariance form.
func (g *GMM) CovarianceType() CovarianceType { return g.typ }

// Weights returns a copy of the mixture weights (sum 1).
func (g *GMM) Weights() []float64 { return append([]float64(nil), g.weights...) }

// Means returns a copy of the component means, K×D.
func (g *GMM) Means() *mat.Dense {
	return mat.NewDense(g.k, g.d, append([]float64(nil), g.means...))
}

// Covariances returns copies of the K component covariance matrices (D×D,
// RegCovar included). Diag and Spherical matrices are diagonal; Tied ones are
// identical.
func (g *GMM) Covariances() []*mat.SymDense {
	out := make([]*mat.SymDense, g.k)
	d := g.d
	for c := range g.k {
		s := mat.NewSymDense(d, nil)
		switch g.typ {
		case Full, Tied:
			for i := range d {
				for j := i; j < d; j++ {
					s.SetSym(i, j, g.cov[c*d*d+i*d+j])
				}
			}
		case Diag:
			for i := range d {
				s.SetSym(i, i, g.cov[c*d+i])
			}
		case Spherical:
			for i := range d {
				s.SetSym(i, i, g.cov[c])
			}
		}
		out[c] = s
	}
	return out
}

// NumParams returns the number of free parameters (as scikit-learn's
// _n_parameters), used by BIC and AIC.
func (g *GMM) NumParams() int {
	k, d := g.k, g.d
	var cov int
	switch g.typ {
	case Full:
		cov = k * d * (d + 1) / 2
	case Diag:
		cov = k * d
	case Tied:
		cov = d * (d + 1) / 2
	case Spherical:
		cov = k
	}
	return cov + k*d + k - 1
}

// prepare computes the precisions and log normalisers from cov, through the
// Cholesky factor L of each covariance: Λ = L⁻ᵀL⁻¹ with L⁻¹ a triangular
// inverse (as scikit-learn's precisions_cholesky_), log det Λ = −2Σlog Lᵢᵢ.
// It reports false if a covariance is not positive definite.
func (g *GMM) prepare() bool {
	g.prec = make([]float64, len(g.cov))
	g.logc = make([]float64, g.k)
	for c := range g.k {
		if !g.prepareOne(c) {
			return false
		}
	}
	return true
}

// prepareOne computes the precision and log normaliser of component c; g.prec
// and g.logc must be allocated.
func (g *GMM) prepareOne(c int) bool {
	d := g.d
	var logdet float64 // ½·log det Λ_c
	switch g.typ {
	case Full, Tied:
		var ok bool
		logdet, ok = fullPrecision(d, g.cov[c*d*d:(c+1)*d*d], g.prec[c*d*d:(c+1)*d*d])
		if !ok {
			return false
		}
	case Diag:
		for i := range d {
			v := g.cov[c*d+i]
			if !(v > 0) || math.IsInf(v, 0) {
				return false
			}
			g.prec[c*d+i] = 1 / v
			logdet -= 0.5 * math.Log(v)
		}
	case Spherical:
		v := g.cov[c]
		if !(v > 0) || math.IsInf(v, 0) {
			return false
		}
		g.prec[c] = 1 / v
		logdet = -0.5 * float64(d) * math.Log(v)
	}
	g.logc[c] = math.Log(g.weights[c]) - 0.5*float64(d)*math.Log(2*math.Pi) + logdet
	return !math.IsNaN(g.logc[c]) && !math.IsInf(g.logc[c], 0)
}

// fullPrecision writes Σ⁻¹ into prec (d×d, full storage) and returns
// ½·log det Σ⁻¹, through the Cholesky factor of cov.
func fullPrecision(d int, cov, prec []float64) (float64, bool) {
	a := make([]float64, d*d)
	copy(a, cov)
	t, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Lower, N: d, Stride: d, Data: a})
	if !ok {
		return 0, false
	}
	var logdet float64
	for i := range d {
		v := a[i*d+i]
		if !(v > 0) || math.IsInf(v, 0) {
			return 0, false
		}
		logdet -= math.Log(v)
	}
	if !lapack64.Trtri(t) {
		return 0, false
	}
	// Λ = L⁻ᵀL⁻¹: Λ_ij = Σ_{m ≥ max(i,j)} L⁻¹_mi L⁻¹_mj.
	for i := range d {
		for j := i; j < d; j++ {
			var s float64
			for m := j; m < d; m++ {
				s += a[m*d+i] * a[m*d+j]
			}
			prec[i*d+j] = s
			prec[j*d+i] = s
		}
	}
	for _, v := range prec {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, false
		}
	}
	return logdet, true
}
