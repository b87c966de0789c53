package cluster

import (
	"context"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas/blas64"
)

// kmeansInit returns the starting mixture of scikit-learn's
// init_params="kmeans": hard k-means labels turned into weights, means and
// covariances by one M-step. The centres come from greedy k-means++ seeding
// (on at most seedSampleRows rows) followed by s.KMeansIter Lloyd iterations
// over all fit rows. err is ctx.Err() when ctx is done before a Lloyd
// iteration.
func kmeansInit(ctx context.Context, x blas64.General, s Settings, rng *rand.Rand) (*GMM, bool, error) {
	k, d := s.K, x.Cols
	offset := columnMean(x)
	centers, err := kmeansPP(ctx, x, k, rng)
	if err != nil {
		return nil, false, err
	}
	tol := 1e-4 * meanVariance(x, offset)
	for range s.KMeansIter {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		kr := lloydKernel(k, d, offset, centers)
		st := (&pass{x: x, kr: kr, hard: true, stats: true, workers: s.Workers}).run()
		var shift float64
		for c := range k {
			if st.nk[c] == 0 {
				continue // an empty cluster keeps its centre
			}
			for j := range d {
				dv := st.s1[c*d+j] / st.nk[c]
				centers[c*d+j] += dv
				shift += dv * dv
			}
		}
		if shift <= tol {
			break
		}
	}
	kr := lloydKernel(k, d, offset, centers)
	st := (&pass{x: x, kr: kr, hard: true, mode: s.Covariance.s2(), stats: true, workers: s.Workers}).run()
	budget := 3 * k
	g, _, ok, _ := mstep(rowsOf(x), x.Rows, s.Covariance, kr, st, s.RegCovar, rng, &budget)
	return g, ok, nil
}

func columnMean(x blas64.General) []float64 {
	m := make([]float64, x.Cols)
	for i := range x.Rows {
		for j, v := range x.Data[i*x.Stride : i*x.Stride+x.Cols] {
			m[j] += v
		}
	}
	for j := range m {
		m[j] /= float64(x.Rows)
	}
	return m
}

// meanVariance is the mean over columns of the column variances.
func meanVariance(x blas64.General, mean []float64) float64 {
	var s float64
	for i := range x.Rows {
		for j, v := range x.Data[i*x.Stride : i*x.Stride+x.Cols] {
			dv := v - mean[j]
			s += dv * dv
		}
	}
	return s / float64(x.Rows*x.Cols)
}

// kmeansPP picks k centres by greedy k-means++ (Arthur and Vassilvitskii
// 2007, with scikit-learn's 2+⌊ln k⌋ candidates per step, keeping the one that
// lowers the potential most) on a uniform sample of at most seedSampleRows
// rows. It returns them as a k×D row-major slice, or ctx.Err() when ctx is
// done before a centre is chosen.
func kmeansPP(ctx context.Context, x blas64.General, k int, rng *rand.Rand) ([]float64, error) {
	d := x.Cols
	ns := min(x.Rows, seedSampleRows)
	var rows []int
	if ns < x.Rows {
		rows = sampleIndex(x.Rows, ns, rng)
	} else {
		rows = make([]int, ns)
		for i := range rows {
			rows[i] = i
		}
	}
	xs := make([]float64, ns*d)
	for i, r := range rows {
		copy(xs[i*d:(i+1)*d], x.Data[r*x.Stride:r*x.Stride+d])
	}
	dist2 := func(i int, c []float64) float64 {
		var s float64
		for j, v := range xs[i*d : (i+1)*d] {
			dv := v - c[j]
			s += dv * dv
		}
		return s
	}
	centers := make([]float64, k*d)
	first := rng.IntN(ns)
	copy(centers[:d], xs[first*d:(first+1)*d])
	closest := make([]float64, ns)
	var pot float64
	for i := range ns {
		closest[i] = dist2(i, centers[:d])
		pot += closest[i]
	}
	trials := 2 + int(math.Log(float64(k)))
	cand := make([][]float64, trials)
	for t := range cand {
		cand[t] = make([]float64, ns)
	}
	for c := 1; c < k; c++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		bestT, bestPot, bestIdx := -1, math.Inf(1), 0
		for t := range trials {
			idx := rng.IntN(ns)
			if pot > 0 {
				target := rng.Float64() * pot
				var cum float64
				for i, v := range closest {
					cum += v
					if cum > target {
						idx = i
						break
					}
				}
			}
			ctr := xs[idx*d : (idx+1)*d]
			var p float64
			for i := range ns {
				v := min(closest[i], dist2(i, ctr))
				cand[t][i] = v
				p += v
			}
			if p < bestPot {
				bestT, bestPot, bestIdx = t, p, idx
			}
		}
		copy(centers[c*d:(c+1)*d], xs[bestIdx*d:(bestIdx+1)*d])
		copy(closest, cand[bestT])
		pot = bestPot
	}
	return centers, nil
}
