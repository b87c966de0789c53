package cluster

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// KScore is one point of the model-selection curve of SelectK.
type KScore struct {
	K int
	// BIC and AIC on the fit rows (lower is better); LogLik the mean
	// log-likelihood per fit row of the fitted model.
	BIC, AIC, LogLik float64
	// Iterations and Converged of the kept fit.
	Iterations int
	Converged  bool
	// OK is false when the fit for this K failed; the other fields are then 0.
	OK bool
}

// SelectK fits a mixture for every K in [kmin, kmax] (s.K and s.Init are
// ignored) on the same rows (one sample of at most s.MaxSamples rows, shared
// by all K) and returns the model with the lowest BIC, with the whole curve
// and the FitInfo of the chosen fit. ok is false when no K could be fitted.
// It panics if kmin < 1 or kmax < kmin. SelectKContext is SelectK that can
// be stopped.
func SelectK(x *mat.Dense, kmin, kmax int, s Settings, src rand.Source) (best *GMM, curve []KScore, info FitInfo, ok bool) {
	best, curve, info, ok, _ = SelectKContext(context.Background(), x, kmin, kmax, s, src)
	return best, curve, info, ok
}

// SelectKContext is SelectK that gives up when ctx is done (a sweep is many
// whole fits): ctx is checked between candidates and inside each fit as by
// FitContext. It then returns err = ctx.Err() and no model or curve; err is
// nil otherwise.
func SelectKContext(ctx context.Context, x *mat.Dense, kmin, kmax int, s Settings, src rand.Source) (best *GMM, curve []KScore, info FitInfo, ok bool, err error) {
	if kmin < 1 || kmax < kmin {
		panic(fmt.Sprintf("cluster: SelectK range [%d, %d]", kmin, kmax))
	}
	if x == nil || src == nil {
		panic("cluster: SelectK with nil x or src")
	}
	s.Init = nil
	s.K = kmin
	s = s.resolved()
	n, _ := x.Dims()
	info = FitInfo{Rows: n}
	if err := ctx.Err(); err != nil {
		return nil, nil, info, false, err
	}
	if !finite(x) {
		return nil, nil, info, false, nil
	}
	fx := sampleRows(x, s.MaxSamples, rand.New(src))
	var fm mat.Dense
	fm.SetRawMatrix(fx)
	return selectK(ctx, &fm, n, kmin, kmax, s, src)
}

// SelectKSampleContext is SelectKContext on the rows SampleIndex(rows,
// s.MaxSamples, src) chose out of a dataset of rows rows (all of them when
// it returned nil), in order, as sample; src must be the source that drew
// them, in the state SampleIndex left it (see FitSampleContext). Only the
// sample is checked for NaN and ±Inf.
func SelectKSampleContext(ctx context.Context, sample *mat.Dense, rows, kmin, kmax int, s Settings, src rand.Source) (best *GMM, curve []KScore, info FitInfo, ok bool, err error) {
	if kmin < 1 || kmax < kmin {
		panic(fmt.Sprintf("cluster: SelectK range [%d, %d]", kmin, kmax))
	}
	if sample == nil || src == nil {
		panic("cluster: SelectKSample with nil sample or src")
	}
	if m, _ := sample.Dims(); m > rows {
		panic(fmt.Sprintf("cluster: a sample of %d rows out of %d", m, rows))
	}
	s.Init = nil
	s.K = kmin
	s = s.resolved()
	info = FitInfo{Rows: rows}
	if err := ctx.Err(); err != nil {
		return nil, nil, info, false, err
	}
	if !finite(sample) {
		return nil, nil, info, false, nil
	}
	return selectK(ctx, sample, rows, kmin, kmax, s, src)
}

// selectK is the sweep of SelectKContext over the fit rows fm, a sample of
// n rows; src continues after the sample's draw.
func selectK(ctx context.Context, fm *mat.Dense, n, kmin, kmax int, s Settings, src rand.Source) (best *GMM, curve []KScore, info FitInfo, ok bool, err error) {
	rng := rand.New(src)
	fx := fm.RawMatrix()
	info = FitInfo{Rows: n, FitRows: fx.Rows, Sampled: fx.Rows < n}
	bestBIC := math.Inf(1)
	for k := kmin; k <= kmax; k++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, FitInfo{Rows: n}, false, err
		}
		ks := KScore{K: k}
		if k <= fx.Rows {
			sk := s
			sk.K = k
			g, fi, fitOK, err := fitRaw(ctx, fx, sk, rng, info)
			if err != nil {
				return nil, nil, FitInfo{Rows: n}, false, err
			}
			if fitOK {
				score := g.Score(fm, s.Workers)
				m := float64(fx.Rows)
				p := float64(g.NumParams())
				ks.LogLik = score
				ks.BIC = -2*m*score + p*math.Log(m)
				ks.AIC = -2*m*score + 2*p
				ks.Iterations, ks.Converged = fi.Iterations, fi.Converged
				ks.OK = !math.IsNaN(score) && !math.IsInf(score, 0)
				if ks.OK && ks.BIC < bestBIC {
					best, bestBIC, info = g, ks.BIC, fi
				}
			}
		}
		if !ks.OK {
			ks = KScore{K: k}
		}
		if s.Logger != nil {
			s.Logger.Info("gmm: model selection", "k", k, "bic", ks.BIC, "ok", ks.OK)
		}
		curve = append(curve, ks)
	}
	return best, curve, info, best != nil, nil
}
