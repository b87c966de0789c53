package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Fit fits a Gaussian mixture to the rows of x by expectation-maximisation,
// starting from k-means (k-means++ seeding, then Lloyd iterations) or from
// s.Init. With NInit > 1 the run with the highest final mean log-likelihood
// is kept. Randomness comes only from src: the result is the same for a
// given src state and any Workers value.
//
// ok is false when the fit fails numerically: x holds NaN or ±Inf, x has
// fewer rows than K, or a covariance stayed singular after re-seeding (only
// possible with RegCovar < 0). Fit panics on programmer errors: nil x or src,
// invalid settings, or an Init model whose dimension differs from x's.
// FitContext is Fit that can be stopped.
func Fit(x *mat.Dense, s Settings, src rand.Source) (*GMM, FitInfo, bool) {
	g, info, ok, _ := FitContext(context.Background(), x, s, src)
	return g, info, ok
}

// FitContext is Fit that gives up when ctx is done: a long fit (a million
// rows, several restarts) otherwise holds an interrupted program until it
// ends. ctx is checked before every Lloyd and EM iteration and restart, so
// it returns within about one pass over the rows, with a nil model, ok false
// and err = ctx.Err(). err is nil otherwise; a numerical failure is ok
// false, as for Fit.
func FitContext(ctx context.Context, x *mat.Dense, s Settings, src rand.Source) (*GMM, FitInfo, bool, error) {
	if x == nil || src == nil {
		panic("cluster: Fit with nil x or src")
	}
	s = s.resolved()
	n, d := x.Dims()
	if s.Init != nil && s.Init.d != d {
		panic("cluster: Init model dimension differs from the data's")
	}
	info := FitInfo{Rows: n}
	if err := ctx.Err(); err != nil {
		return nil, info, false, err
	}
	if n < s.K || !finite(x) {
		return nil, info, false, nil
	}
	rng := rand.New(src)
	fx := sampleRows(x, s.MaxSamples, rng)
	info.FitRows = fx.Rows
	info.Sampled = fx.Rows < n
	if info.Sampled && s.Logger != nil {
		s.Logger.Info("gmm: fitting on a uniform sample", "rows", n, "sample", fx.Rows)
	}
	return fitRaw(ctx, fx, s, rng, info)
}

// SampleIndex returns the rows that Fit and SelectK, given a matrix of n
// rows, src and maxSamples as Settings.MaxSamples, fit on: nil when they
// use every row (maxSamples <= 0 or >= n), else maxSamples distinct row
// indices in increasing order, drawn from src as they draw them. A caller
// that cannot hold all n rows draws the indices, gathers those rows while
// streaming the data, and passes them with the same src to
// FitSampleContext or SelectKSampleContext: the model is the one Fit or
// SelectK on the whole matrix would give.
func SampleIndex(n, maxSamples int, src rand.Source) []int {
	if maxSamples <= 0 || maxSamples >= n {
		return nil
	}
	return sampleIndex(n, maxSamples, rand.New(src))
}

// FitSampleContext is FitContext on the rows SampleIndex(rows,
// s.MaxSamples, src) chose out of a dataset of rows rows (all of them when
// it returned nil), in order, as sample; src must be the source that drew
// them, in the state SampleIndex left it. Only the sample is checked for
// NaN and ±Inf. It panics if sample is nil or has more than rows rows.
func FitSampleContext(ctx context.Context, sample *mat.Dense, rows int, s Settings, src rand.Source) (*GMM, FitInfo, bool, error) {
	if sample == nil || src == nil {
		panic("cluster: FitSample with nil sample or src")
	}
	s = s.resolved()
	m, d := sample.Dims()
	if m > rows {
		panic(fmt.Sprintf("cluster: a sample of %d rows out of %d", m, rows))
	}
	if s.Init != nil && s.Init.d != d {
		panic("cluster: Init model dimension differs from the data's")
	}
	info := FitInfo{Rows: rows}
	if err := ctx.Err(); err != nil {
		return nil, info, false, err
	}
	if rows < s.K || !finite(sample) {
		return nil, info, false, nil
	}
	info.FitRows = m
	info.Sampled = m < rows
	if info.Sampled && s.Logger != nil {
		s.Logger.Info("gmm: fitting on a uniform sample", "rows", rows, "sample", m)
	}
	return fitRaw(ctx, sample.RawMatrix(), s, rand.New(src), info)
}

func fitRaw(ctx context.Context, fx blas64.General, s Settings, rng *rand.Rand, info FitInfo) (*GMM, FitInfo, bool, error) {
	var best *GMM
	bestInfo := info
	for r := range s.NInit {
		init := s.Init
		if init == nil {
			var ok bool
			var err error
			switch s.InitMethod {
			case InitConsensus, InitEntropy:
				init, ok, err = consensusInit(ctx, fx, s, rng)
			case InitSplit:
				init, ok, err = splitInit(ctx, fx, s, rng)
			default:
				init, ok, err = kmeansInit(ctx, fx, s, rng)
			}
			if err != nil {
				return nil, info, false, err
			}
			if !ok {
				continue
			}
		}
		g, ri, ok, err := em(ctx, fx, init, s, rng)
		if err != nil {
			return nil, info, false, err
		}
		if !ok {
			continue
		}
		if s.Logger != nil {
			s.Logger.Debug("gmm: initialisation done", "init", r, "iterations", ri.Iterations,
				"converged", ri.Converged, "lower_bound", ri.LowerBound)
		}
		if best == nil || ri.LowerBound > bestInfo.LowerBound {
			best = g
			bestInfo = info
			bestInfo.Iterations, bestInfo.Converged, bestInfo.LowerBound = ri.Iterations, ri.Converged, ri.LowerBound
			bestInfo.Curve, bestInfo.Reseeded, bestInfo.Restart = ri.Curve, ri.Reseeded, r
		}
	}
	return best, bestInfo, best != nil, nil
}

// finite reports whether x holds no NaN or ±Inf (v·0 is 0 exactly for finite
// v and NaN otherwise, so one sum per row checks it).
func finite(x *mat.Dense) bool {
	raw := x.RawMatrix()
	for i := range raw.Rows {
		var s float64
		for _, v := range raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols] {
			s += v * 0
		}
		if s != 0 {
			return false
		}
	}
	return true
}

// sampleRows returns x's rows, or a uniform sample without replacement of m
// of them (in their original order) when 0 < m < rows.
func sampleRows(x *mat.Dense, m int, rng *rand.Rand) blas64.General {
	raw := x.RawMatrix()
	if m <= 0 || m >= raw.Rows {
		return raw
	}
	idx := sampleIndex(raw.Rows, m, rng)
	out := blas64.General{Rows: m, Cols: raw.Cols, Stride: raw.Cols, Data: make([]float64, m*raw.Cols)}
	for i, r := range idx {
		copy(out.Data[i*raw.Cols:(i+1)*raw.Cols], raw.Data[r*raw.Stride:r*raw.Stride+raw.Cols])
	}
	return out
}

// sampleIndex returns m distinct indices in [0, n), sorted (Floyd's algorithm).
func sampleIndex(n, m int, rng *rand.Rand) []int {
	seen := make(map[int]struct{}, m)
	out := make([]int, 0, m)
	for j := n - m; j < n; j++ {
		t := rng.IntN(j + 1)
		if _, dup := seen[t]; dup {
			t = j
		}
		seen[t] = struct{}{}
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

type runInfo struct {
	Iterations int
	Converged  bool
	LowerBound float64
	Curve      []float64
	Reseeded   int
}

func (t CovarianceType) s2() s2Mode {
	if t == Full || t == Tied {
		return s2Full
	}
	return s2Diag
}

// em runs EM from g. Each iteration is one pass over the rows: the E-step
// with the current parameters, fused with the accumulation of the
// statistics of the M-step, as scikit-learn's loop (lower bound = mean
// log-likelihood of the parameters before the M-step). err is ctx.Err()
// when ctx is done before an iteration.
func em(ctx context.Context, x blas64.General, g *GMM, s Settings, rng *rand.Rand) (*GMM, runInfo, bool, error) {
	var ri runInfo
	lb := math.Inf(-1)
	budget := 3 * g.k
	// A fixed offset keeps z(x) fixed across iterations, for the bounds.
	offset := columnMean(x)
	bd := &bounds{ub: make([]float32, x.Rows*g.k), best: make([]int32, x.Rows), zn: make([]float64, x.Rows),
		cum: make([]float64, g.k)}
	var prevKr *kernel
	for it := 1; it <= s.MaxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, ri, false, err
		}
		prev := lb
		kr := g.kernelAt(offset)
		if prevKr != nil && prevKr.k == kr.k {
			kr.dw = make([]float64, kr.k)
			for c := range kr.k {
				var s float64
				for i, v := range kr.w[c*kr.m : (c+1)*kr.m] {
					dv := v - prevKr.w[c*kr.m+i]
					s += dv * dv
				}
				// ‖Δw_k‖, plus the rounding of the two float64 dot products
				// being compared (γ_m·‖z‖‖w‖ each, γ_m ≤ m·2⁻⁵²).
				dw := math.Sqrt(s)
				kr.dw[c] = dw*(1+1e-9) + (2*kr.wnorm[c]+dw)*float64(kr.m)*0x1p-52
				bd.cum[c] += kr.dw[c]
			}
		}
		st := (&pass{x: x, kr: kr, mode: g.typ.s2(), stats: true, workers: s.Workers, bd: bd}).run()
		bd.ready = true
		prevKr = kr
		lb = st.ll / float64(x.Rows)
		if math.IsNaN(lb) || math.IsInf(lb, 0) {
			return nil, ri, false, nil
		}
		ng, reseeded, ok, _ := mstep(rowsOf(x), x.Rows, g.typ, kr, st, s.RegCovar, rng, &budget)
		if !ok {
			return nil, ri, false, nil
		}
		g = ng
		if ri.iterated(ctx, s, it, lb, prev, reseeded, "gmm: EM iteration") {
			break
		}
	}
	return g, ri, true, nil
}

// iterated records EM iteration it (mean log-likelihood lb, prev before it,
// reseeded components re-seeded by its M-step) in info, logs it with msg,
// and reports whether EM has converged.
func (info *runInfo) iterated(ctx context.Context, s Settings, it int, lb, prev float64, reseeded int, msg string, args ...any) bool {
	info.Iterations = it
	info.Curve = append(info.Curve, lb)
	info.LowerBound = lb
	info.Reseeded += reseeded
	if reseeded > 0 && s.Logger != nil {
		s.Logger.Info("gmm: re-seeded degenerate components", "iteration", it, "components", reseeded)
	}
	if s.Logger != nil && s.Logger.Enabled(ctx, slog.LevelDebug) {
		s.Logger.Debug(msg, append([]any{"iteration", it}, append(args, "lower_bound", lb, "change", lb-prev)...)...)
	}
	info.Converged = s.Tol >= 0 && reseeded == 0 && math.Abs(lb-prev) < s.Tol
	return info.Converged
}

// mstep builds the model for statistics st accumulated around kr's centres
// (scikit-learn's _estimate_gaussian_parameters, with its N_k + 10ε).
// Components explaining less than one row, or whose covariance is not
// positive definite, are re-seeded on a row (the worst-explained row first,
// then random rows) with the weighted mean covariance of the others, while
// *budget lasts; ok is false if one cannot be repaired. The data has n rows;
// fetch returns the rows of the given indices (len×D, in that order), err
// is its error.
func mstep(fetch func([]int) ([]float64, error), n int, typ CovarianceType, kr *kernel, st *stats, reg float64, rng *rand.Rand, budget *int) (*GMM, int, bool, error) {
	k, d := kr.k, kr.d
	g := &GMM{typ: typ, k: k, d: d, weights: make([]float64, k), means: make([]float64, k*d)}
	nk := make([]float64, k)
	var tot float64
	for c := range k {
		nk[c] = st.nk[c] + 10*epsilon
		tot += nk[c]
	}
	delta := make([]float64, k*d)
	for c := range k {
		g.weights[c] = nk[c] / tot
		for j := range d {
			dv := st.s1[c*d+j] / nk[c]
			delta[c*d+j] = dv
			g.means[c*d+j] = kr.offset[j] + kr.centers[c*d+j] + dv
		}
	}
	switch typ {
	case Full, Tied:
		g.cov = make([]float64, k*d*d)
		for c := range k {
			s2 := st.s2[c*d*d : (c+1)*d*d]
			dl := delta[c*d : (c+1)*d]
			cv := g.cov[c*d*d : (c+1)*d*d]
			for i := range d {
				for j := i; j < d; j++ {
					v := s2[i*d+j]/nk[c] - dl[i]*dl[j]
					cv[i*d+j], cv[j*d+i] = v, v
				}
			}
		}
		if typ == Tied {
			// Σ = Σ_k N_k Σ_k / Σ_k N_k, the same for every component.
			t := make([]float64, d*d)
			for c := range k {
				for i, v := range g.cov[c*d*d : (c+1)*d*d] {
					t[i] += nk[c] * v
				}
			}
			for c := range k {
				for i, v := range t {
					g.cov[c*d*d+i] = v / tot
				}
			}
		}
		for c := range k {
			for i := range d {
				g.cov[c*d*d+i*d+i] += reg
			}
		}
	case Diag, Spherical:
		dc := make([]float64, k*d)
		for c := range k {
			for j := range d {
				dl := delta[c*d+j]
				dc[c*d+j] = st.s2[c*d+j]/nk[c] - dl*dl + reg
			}
		}
		if typ == Diag {
			g.cov = dc
		} else {
			g.cov = make([]float64, k)
			for c := range k {
				var s float64
				for _, v := range dc[c*d : (c+1)*d] {
					s += v
				}
				g.cov[c] = s / float64(d)
			}
		}
	}
	g.prec = make([]float64, len(g.cov))
	g.logc = make([]float64, k)
	var bad []int
	for c := range k {
		if st.nk[c] < 1 || !g.prepareOne(c) {
			bad = append(bad, c)
		}
	}
	if len(bad) == 0 {
		return g, 0, true, nil
	}
	if *budget < len(bad) || len(bad) == k {
		// Keep components that are merely empty (their covariance is RegCovar·I,
		// finite); fail only on a singular one.
		for _, c := range bad {
			if !g.prepareOne(c) {
				return nil, 0, false, nil
			}
		}
		return g, 0, true, nil
	}
	*budget -= len(bad)
	isBad := make([]bool, k)
	for _, c := range bad {
		isBad[c] = true
	}
	// Weighted mean covariance of the healthy components.
	var avg []float64
	var wsum float64
	per := len(g.cov) / k
	avg = make([]float64, per)
	for c := range k {
		if isBad[c] {
			continue
		}
		wsum += g.weights[c]
		for i, v := range g.cov[c*per : (c+1)*per] {
			avg[i] += g.weights[c] * v
		}
	}
	for i := range avg {
		avg[i] /= wsum
	}
	idx := make([]int, len(bad))
	for i := range bad {
		row := st.minRow
		if i > 0 || row < 0 {
			row = rng.IntN(n)
		}
		idx[i] = row
	}
	seeds, err := fetch(idx)
	if err != nil {
		return nil, 0, false, err
	}
	for i, c := range bad {
		copy(g.means[c*d:(c+1)*d], seeds[i*d:(i+1)*d])
		copy(g.cov[c*per:(c+1)*per], avg)
		g.weights[c] = 1 / float64(k)
	}
	var ws float64
	for _, w := range g.weights {
		ws += w
	}
	for c := range k {
		g.weights[c] /= ws
	}
	if !g.prepare() {
		return nil, 0, false, nil
	}
	return g, len(bad), true, nil
}

const epsilon = 2.220446049250313e-16 // float64 machine epsilon, as numpy's finfo.eps

// rowsOf is mstep's fetch for rows held in memory.
func rowsOf(x blas64.General) func([]int) ([]float64, error) {
	return func(idx []int) ([]float64, error) {
		out := make([]float64, len(idx)*x.Cols)
		for i, r := range idx {
			copy(out[i*x.Cols:(i+1)*x.Cols], x.Data[r*x.Stride:r*x.Stride+x.Cols])
		}
		return out, nil
	}
}
