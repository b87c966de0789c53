package cluster

import (
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// AdaptSettings configures Adapt. The zero value means the documented
// defaults.
type AdaptSettings struct {
	// Relevance is the relevance factor r of MAP adaptation: component k
	// moves towards the new data with weight α_k = n_k / (n_k + r), where
	// n_k is its soft count of new rows, so that a concept the new data
	// barely holds stays where the source put it. Zero means 16, the value
	// of Reynolds, Quatieri and Dunn (2000), whose adapted models were
	// insensitive to it between 8 and 20; negative means 0 (plain EM
	// started from the source model).
	Relevance float64
	// RegCovar is added to the diagonal of every adapted covariance, scaled
	// by α_k (the source's covariances already hold theirs). Zero means
	// 1e-6, as Settings; negative means none.
	RegCovar float64
	// Tol stops the iterations when the mean log-likelihood per row changes
	// by less than Tol. Zero means 1e-3; negative means never.
	Tol float64
	// MaxIter is the maximum number of iterations. Zero means 100.
	MaxIter int
	// Workers is the number of goroutines of each E-step. Zero means
	// GOMAXPROCS. Results do not depend on it.
	Workers int
	// Init, when not nil, holds the responsibilities (N×K, rows summing to
	// 1) of the first M-step in place of the source model's posteriors:
	// e.g. a classifier trained on the source labelling the new rows. Under
	// a shift larger than a component's spread (a change of camera or
	// light), the source model's own posteriors give the new rows to
	// whichever component is broadest, and EM cannot recover the
	// identities from there; a classifier that is more robust to the shift
	// can. Later iterations are EM as usual.
	Init *mat.Dense
}

// DefaultRelevance is the relevance factor of AdaptSettings' zero value.
const DefaultRelevance = 16

func (s AdaptSettings) resolved() AdaptSettings {
	switch {
	case s.Relevance == 0:
		s.Relevance = DefaultRelevance
	case s.Relevance < 0:
		s.Relevance = 0
	}
	switch {
	case s.RegCovar == 0:
		s.RegCovar = defaultRegCovar
	case s.RegCovar < 0:
		s.RegCovar = 0
	}
	switch {
	case s.Tol == 0:
		s.Tol = defaultTol
	case s.Tol < 0:
		s.Tol = -1
	}
	if s.MaxIter == 0 {
		s.MaxIter = defaultMaxIter
	}
	if s.MaxIter < 0 {
		panic(fmt.Sprintf("cluster: negative MaxIter %d", s.MaxIter))
	}
	s.Workers = resolveWorkers(s.Workers)
	return s
}

// AdaptInfo describes an adaptation.
type AdaptInfo struct {
	// Iterations is the number of iterations run; Converged reports whether
	// the change of mean log-likelihood fell below Tol before MaxIter.
	Iterations int
	Converged  bool
	// LogLik is the mean log-likelihood per row of the new data under the
	// adapted model, before the last update; Curve holds it per iteration.
	LogLik float64
	Curve  []float64
	// Alpha holds each component's final adaptation weight
	// n_k / (n_k + Relevance): near 1 the new data decided it, near 0 the
	// source did.
	Alpha []float64
	// Counts holds each component's soft count n_k of new rows.
	Counts []float64
}

// Adapt moves a fitted mixture to new data while keeping the identity of
// each component: maximum a posteriori EM with the source model as the
// prior (Gauvain and Lee, "Maximum a posteriori estimation for multivariate
// Gaussian mixture observations of Markov chains", IEEE TSAP 2(2), 1994),
// in the relevance-factor form of Reynolds, Quatieri and Dunn ("Speaker
// verification using adapted Gaussian mixture models", DSP 10, 2000).
// Each iteration computes the posteriors r_nk of the current model and,
// with n_k = Σ_n r_nk, E_k[·] = Σ_n r_nk(·)/n_k and α_k = n_k/(n_k + r),
//
//	w_k ∝ α_k n_k/N + (1 − α_k) w⁰_k
//	μ_k = α_k E_k[x] + (1 − α_k) μ⁰_k
//	Σ_k = α_k E_k[xxᵀ] + (1 − α_k)(Σ⁰_k + μ⁰_k μ⁰_kᵀ) − μ_k μ_kᵀ
//
// computed about μ⁰_k so that it does not cancel. Component k of the result
// is component k of src: ids, and so names and colours, carry over. With
// Relevance → 0 it is EM started from src; a component the new data do not
// explain keeps its source parameters.
//
// ok is false when x has no rows, holds NaN or ±Inf, or an adapted
// covariance is not positive definite. It panics if x's dimension differs
// from src's. err is ctx.Err() when ctx is done (checked before every
// iteration).
func Adapt(ctx context.Context, src *GMM, x *mat.Dense, s AdaptSettings) (*GMM, AdaptInfo, bool, error) {
	if src == nil || x == nil {
		panic("cluster: Adapt with nil model or data")
	}
	s = s.resolved()
	src.check(x)
	n, _ := x.Dims()
	if s.Init != nil {
		if r, c := s.Init.Dims(); r != n || c != src.k {
			panic(fmt.Sprintf("cluster: Adapt Init is %dx%d, want %dx%d", r, c, n, src.k))
		}
	}
	var info AdaptInfo
	if n == 0 || !finite(x) {
		return nil, info, false, nil
	}
	mu0 := src.Means()
	cov0 := src.Covariances()
	w0 := src.Weights()
	g := src
	prev := math.Inf(-1)
	for it := range s.MaxIter {
		if err := ctx.Err(); err != nil {
			return nil, info, false, err
		}
		ll := g.Score(x, s.Workers)
		info.Curve = append(info.Curve, ll)
		info.LogLik, info.Iterations = ll, it+1
		if s.Tol >= 0 && math.Abs(ll-prev) < s.Tol {
			info.Converged = true
			break
		}
		prev = ll
		var post *mat.Dense
		if it == 0 && s.Init != nil {
			post = s.Init
		} else {
			post = g.PredictProba(x, s.Workers)
		}
		var ok bool
		g, info.Alpha, info.Counts, ok = adaptStep(x, post, mu0, cov0, w0, src.typ, s)
		if !ok {
			return nil, info, false, nil
		}
	}
	return g, info, true, nil
}

// adaptStep is one MAP update from the posteriors post (N×K).
func adaptStep(x, post, mu0 *mat.Dense, cov0 []*mat.SymDense, w0 []float64, typ CovarianceType, s AdaptSettings) (*GMM, []float64, []float64, bool) {
	n, d := x.Dims()
	k := len(w0)
	alpha := make([]float64, k)
	counts := make([]float64, k)
	weights := make([]float64, k)
	means := mat.NewDense(k, d, nil)
	covs := make([]*mat.SymDense, k)
	raw := x.RawMatrix()
	rows := make([]float64, 0, n*d) // √r_nk (x_n − μ⁰_k), gathered
	for c := range k {
		m0 := mu0.RawRowView(c)
		mean := make([]float64, d) // E_k[x − μ⁰_k]·n_k
		rows = rows[:0]
		var nk float64
		for i := range n {
			r := post.At(i, c)
			if r == 0 {
				continue
			}
			nk += r
			sr := math.Sqrt(r)
			xi := raw.Data[i*raw.Stride : i*raw.Stride+d]
			for j := range d {
				dj := xi[j] - m0[j]
				mean[j] += r * dj
				rows = append(rows, sr*dj)
			}
		}
		counts[c] = nk
		a := 0.0
		if nk > 0 {
			a = nk / (nk + s.Relevance)
			for j := range mean {
				mean[j] /= nk
			}
		}
		alpha[c] = a
		weights[c] = a*nk/float64(n) + (1-a)*w0[c]
		// Σ_k = α E[ddᵀ] + (1 − α)Σ⁰ − α² E[d]E[d]ᵀ + α·reg·I with d = x − μ⁰.
		sc := mat.NewSymDense(d, nil)
		m := len(rows) / d
		if m > 0 && a > 0 {
			blas64.Syrk(blas.Trans, a/nk, blas64.General{Rows: m, Cols: d, Stride: d, Data: rows},
				0, blas64.Symmetric{Uplo: blas.Upper, N: d, Stride: d, Data: sc.RawSymmetric().Data})
		}
		for i := range d {
			means.Set(c, i, m0[i]+a*mean[i])
			for j := i; j < d; j++ {
				v := sc.At(i, j) + (1-a)*cov0[c].At(i, j) - a*a*mean[i]*mean[j]
				if i == j {
					v += a * s.RegCovar
				}
				sc.SetSym(i, j, v)
			}
		}
		covs[c] = sc
	}
	if typ == Tied {
		// One shared matrix: the components' adapted covariances pooled by
		// the adapted weights.
		var sum float64
		for _, w := range weights {
			sum += w
		}
		pooled := mat.NewSymDense(d, nil)
		for c, sc := range covs {
			for i := range d {
				for j := i; j < d; j++ {
					pooled.SetSym(i, j, pooled.At(i, j)+weights[c]/sum*sc.At(i, j))
				}
			}
		}
		for c := range covs {
			covs[c] = pooled
		}
	}
	g, ok := NewGMM(typ, weights, means, covs)
	return g, alpha, counts, ok
}

// Drift compares a mixture adapted to new data with its source: per
// component, its share of the source and of the new rows and how far its
// mean moved; and the share of new rows that no source component explains.
type Drift struct {
	// SourceShare and TargetShare are each component's share of the source
	// model (its weight) and of the new rows (hard assignment under the
	// adapted model).
	SourceShare, TargetShare []float64
	// Shift is the Mahalanobis distance of the adapted mean from the source
	// mean under the source covariance: in units of the concept's own
	// spread, so 1 means it moved by one standard deviation.
	Shift []float64
	// Vanished marks components the new data barely hold: α_k < ½, i.e.
	// fewer new rows than the relevance factor (the prior outweighs them).
	Vanished []bool
	// NovelShare is the share of new rows whose source log-density is below
	// Threshold, the source rows' q-quantile (so about q of the source's own
	// rows are below it); Expected is that q.
	NovelShare, Expected, Threshold float64
	// SuggestNew reports that the unexplained excess NovelShare − Expected
	// is at least 1/(2K): the new data hold a mass of rows that no source
	// concept explains at least half as large as an average concept.
	SuggestNew bool
}

// NoveltyThreshold returns the q-quantile of log p(x) under g over the rows
// of x (the data g was fitted on): Drift calls a new row novel when its
// log-density falls below it. It panics unless 0 < q < 1.
func NoveltyThreshold(g *GMM, x *mat.Dense, q float64, workers int) float64 {
	if !(q > 0 && q < 1) {
		panic(fmt.Sprintf("cluster: quantile %v outside (0, 1)", q))
	}
	ll := g.ScoreSamples(x, workers)
	ll = slices.DeleteFunc(ll, math.IsNaN)
	if len(ll) == 0 {
		return math.NaN()
	}
	slices.Sort(ll)
	return ll[min(len(ll)-1, int(q*float64(len(ll))))]
}

// MeasureDrift computes the Drift of adapted (from Adapt, with info) from
// src on the new rows x, with a novelty threshold from NoveltyThreshold at
// quantile q.
func MeasureDrift(src, adapted *GMM, info AdaptInfo, x *mat.Dense, threshold, q float64, workers int) Drift {
	if src.k != adapted.k || src.d != adapted.d {
		panic("cluster: MeasureDrift of models of different shapes")
	}
	n, _ := x.Dims()
	k, d := src.k, src.d
	dr := Drift{
		SourceShare: src.Weights(), TargetShare: make([]float64, k),
		Shift: make([]float64, k), Vanished: make([]bool, k),
		Expected: q, Threshold: threshold,
	}
	var valid int
	for _, l := range adapted.Predict(x, workers) {
		if l >= 0 {
			dr.TargetShare[l]++
			valid++
		}
	}
	for c := range dr.TargetShare {
		if valid > 0 {
			dr.TargetShare[c] /= float64(valid)
		}
		if c < len(info.Alpha) {
			dr.Vanished[c] = info.Alpha[c] < 0.5
		}
	}
	covs := src.Covariances()
	delta := make([]float64, d)
	for c := range k {
		for j := range d {
			delta[j] = adapted.means[c*d+j] - src.means[c*d+j]
		}
		var ch mat.Cholesky
		if !ch.Factorize(covs[c]) {
			dr.Shift[c] = math.NaN()
			continue
		}
		var z mat.VecDense
		if err := ch.SolveVecTo(&z, mat.NewVecDense(d, delta)); err != nil {
			dr.Shift[c] = math.NaN()
			continue
		}
		dr.Shift[c] = math.Sqrt(math.Max(0, mat.Dot(&z, mat.NewVecDense(d, delta))))
	}
	var novel int
	for _, v := range src.ScoreSamples(x, workers) {
		if v < threshold { // NaN rows are neither
			novel++
		}
	}
	if n > 0 {
		dr.NovelShare = float64(novel) / float64(n)
	}
	dr.SuggestNew = dr.NovelShare-q >= 1/(2*float64(k))
	return dr
}
