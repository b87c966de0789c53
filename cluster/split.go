package cluster

import (
	"context"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// splitInit grows the mixture from one component by binary splitting
// (as the LBG vector quantiser, Linde, Buzo and Gray 1980, and the
// principal direction divisive partitioning of Boley 1998): the component
// whose hard-assigned rows have the largest weighted variance along their
// principal axis is cut in two by the hyperplane through its mean
// perpendicular to that axis, each half's moments start a new component,
// and EM refits the mixture, until there are s.K components. No random
// choice is made, so the concepts do not depend on the seed (EM's
// re-seeding of a degenerate component is the only use of rng). The
// splitting phase works on a systematic sample (every n/m-th row) of at
// least consensusSampleRows rows; the caller's EM then fits all rows.
func splitInit(ctx context.Context, fx blas64.General, s Settings, rng *rand.Rand) (*GMM, bool, error) {
	m := min(fx.Rows, max(consensusSampleRows, 50*s.K))
	d := fx.Cols
	sub := blas64.General{Rows: m, Cols: d, Stride: d, Data: make([]float64, m*d)}
	for i := range m {
		r := int(int64(i) * int64(fx.Rows) / int64(m))
		copy(sub.Data[i*d:(i+1)*d], fx.Data[r*fx.Stride:r*fx.Stride+d])
	}
	var xd mat.Dense
	xd.SetRawMatrix(sub)
	all := make([]int, m)
	for i := range all {
		all[i] = i
	}
	g, ok := momentsGMM(sub, [][]int{all}, s.Covariance)
	if !ok {
		return nil, false, nil
	}
	for g.k < s.K {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		lab := g.Predict(&xd, s.Workers)
		groups := make([][]int, g.k)
		for i, c := range lab {
			groups[c] = append(groups[c], i)
		}
		// The component to split: the largest n·λ_max of its rows.
		best, bestScore := -1, 0.0
		var bestAxis []float64
		for c, rows := range groups {
			if len(rows) < 2*(d+1) {
				continue
			}
			v, lam := principalAxis(sub, rows)
			if sc := float64(len(rows)) * lam; sc > bestScore {
				best, bestScore, bestAxis = c, sc, v
			}
		}
		if best < 0 {
			return nil, false, nil
		}
		mean := rowMean(sub, groups[best])
		var lo, hi []int
		for _, r := range groups[best] {
			var p float64
			for j, v := range sub.Data[r*d : (r+1)*d] {
				p += (v - mean[j]) * bestAxis[j]
			}
			if p < 0 {
				lo = append(lo, r)
			} else {
				hi = append(hi, r)
			}
		}
		if len(lo) <= d || len(hi) <= d {
			return nil, false, nil
		}
		next := append(groups[:best:best], groups[best+1:]...)
		next = append(next, lo, hi)
		g0, ok := momentsGMM(sub, next, s.Covariance)
		if !ok {
			return nil, false, nil
		}
		sk := s
		sk.K = g0.k
		g1, _, ok, err := em(ctx, sub, g0, sk, rng)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, nil
		}
		g = g1
	}
	return g, true, nil
}

func rowMean(x blas64.General, rows []int) []float64 {
	d := x.Cols
	m := make([]float64, d)
	for _, r := range rows {
		for j, v := range x.Data[r*x.Stride : r*x.Stride+d] {
			m[j] += v
		}
	}
	for j := range m {
		m[j] /= float64(len(rows))
	}
	return m
}

func rowCov(x blas64.General, rows []int, mean []float64) *mat.SymDense {
	d := x.Cols
	c := mat.NewSymDense(d, nil)
	for _, r := range rows {
		row := x.Data[r*x.Stride : r*x.Stride+d]
		for i := range d {
			di := row[i] - mean[i]
			for j := i; j < d; j++ {
				c.SetSym(i, j, c.At(i, j)+di*(row[j]-mean[j]))
			}
		}
	}
	for i := range d {
		for j := i; j < d; j++ {
			c.SetSym(i, j, c.At(i, j)/float64(len(rows)))
		}
		c.SetSym(i, i, c.At(i, i)+defaultRegCovar)
	}
	return c
}

// principalAxis returns the unit eigenvector of the largest eigenvalue of
// the covariance of the rows, and that eigenvalue.
func principalAxis(x blas64.General, rows []int) ([]float64, float64) {
	c := rowCov(x, rows, rowMean(x, rows))
	var eig mat.EigenSym
	if !eig.Factorize(c, true) {
		return make([]float64, x.Cols), 0
	}
	vals := eig.Values(nil)
	var vec mat.Dense
	eig.VectorsTo(&vec)
	k := len(vals) - 1 // ascending order
	v := make([]float64, x.Cols)
	for j := range v {
		v[j] = vec.At(j, k)
	}
	return v, vals[k]
}

// momentsGMM is the mixture whose component c has the weight, mean and
// covariance of the rows groups[c].
func momentsGMM(x blas64.General, groups [][]int, typ CovarianceType) (*GMM, bool) {
	k, d := len(groups), x.Cols
	w := make([]float64, k)
	means := mat.NewDense(k, d, nil)
	covs := make([]*mat.SymDense, k)
	var n float64
	for c, rows := range groups {
		if len(rows) == 0 {
			return nil, false
		}
		mu := rowMean(x, rows)
		means.SetRow(c, mu)
		covs[c] = rowCov(x, rows, mu)
		w[c] = float64(len(rows))
		n += w[c]
	}
	if typ == Tied {
		t := mat.NewSymDense(d, nil)
		for c := range k {
			for i := range d {
				for j := i; j < d; j++ {
					t.SetSym(i, j, t.At(i, j)+w[c]/n*covs[c].At(i, j))
				}
			}
		}
		for c := range covs {
			covs[c] = t
		}
	}
	return NewGMM(typ, w, means, covs)
}
