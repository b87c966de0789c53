package cluster

import (
	"context"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

const (
	// consensusRestarts is the number of k-means + EM restarts InitConsensus
	// fits on its sample.
	consensusRestarts = 10
	// consensusSampleRows is the size of the sample the restarts see (at
	// least 50 rows per component).
	consensusSampleRows = 20000
)

// consensusInit fits consensusRestarts mixtures (k-means++ seeding, Lloyd,
// EM) on one uniform sample of the fit rows and returns one for the EM over
// all rows to start from (see the package documentation): with
// InitConsensus the most reproducible, the medoid of the restarts under the
// adjusted Rand index of their hard partitions of the sample; with
// InitEntropy the crispest, the least mean posterior entropy on the sample.
func consensusInit(ctx context.Context, fx blas64.General, s Settings, rng *rand.Rand) (*GMM, bool, error) {
	m := min(fx.Rows, max(consensusSampleRows, 50*s.K))
	sub := fx
	if m < fx.Rows {
		idx := sampleIndex(fx.Rows, m, rng)
		sub = blas64.General{Rows: m, Cols: fx.Cols, Stride: fx.Cols, Data: make([]float64, m*fx.Cols)}
		for i, r := range idx {
			copy(sub.Data[i*fx.Cols:(i+1)*fx.Cols], fx.Data[r*fx.Stride:r*fx.Stride+fx.Cols])
		}
	}
	var models []*GMM
	var labels [][]int
	var entropy []float64
	for range consensusRestarts {
		init, ok, err := kmeansInit(ctx, sub, s, rng)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		g, _, ok, err := em(ctx, sub, init, s, rng)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		models = append(models, g)
		if s.InitMethod == InitEntropy {
			entropy = append(entropy, meanEntropy(g, sub, s.Workers))
			continue
		}
		lab := make([]int, sub.Rows)
		(&pass{x: sub, kr: g.kernel(), labels: lab, workers: s.Workers}).run()
		labels = append(labels, lab)
	}
	if len(models) == 0 {
		return nil, false, nil
	}
	if s.InitMethod == InitEntropy {
		best := 0
		for i, e := range entropy {
			if e < entropy[best] {
				best = i
			}
		}
		if s.Logger != nil {
			s.Logger.Debug("gmm: crispest restart chosen", "restart", best, "restarts", len(models), "entropy", entropy[best])
		}
		return models[best], true, nil
	}
	best, bestScore := 0, -1.0
	for i := range models {
		var a float64
		for j := range models {
			if j != i {
				a += AdjustedRand(labels[i], labels[j], s.K)
			}
		}
		if a > bestScore {
			best, bestScore = i, a
		}
	}
	if s.Logger != nil {
		s.Logger.Debug("gmm: consensus restart chosen", "restart", best, "restarts", len(models),
			"mean_ari", bestScore/float64(max(1, len(models)-1)))
	}
	return models[best], true, nil
}

// meanEntropy is the mean over the rows of x of the entropy of g's
// posterior responsibilities, -Σ_k r_k log r_k (nats).
func meanEntropy(g *GMM, x blas64.General, workers int) float64 {
	var xd mat.Dense
	xd.SetRawMatrix(x)
	p := g.PredictProba(&xd, workers).RawMatrix()
	var h float64
	for i := range p.Rows {
		for _, v := range p.Data[i*p.Stride : i*p.Stride+p.Cols] {
			if v > 0 {
				h -= v * math.Log(v)
			}
		}
	}
	return h / float64(max(1, p.Rows))
}

// AdjustedRand is the adjusted Rand index of two labelings with labels in
// [0, k) (Hubert and Arabie, "Comparing partitions", J. Classification 2,
// 1985): 1 for identical partitions (up to renaming), about 0 at chance.
func AdjustedRand(a, b []int, k int) float64 {
	t := make([]float64, k*k)
	ra := make([]float64, k)
	rb := make([]float64, k)
	for i := range a {
		t[a[i]*k+b[i]]++
		ra[a[i]]++
		rb[b[i]]++
	}
	pairs := func(x float64) float64 { return x * (x - 1) / 2 }
	var s, sa, sb float64
	for _, v := range t {
		s += pairs(v)
	}
	for i := range k {
		sa += pairs(ra[i])
		sb += pairs(rb[i])
	}
	e := sa * sb / pairs(float64(len(a)))
	if d := (sa+sb)/2 - e; d != 0 {
		return (s - e) / d
	}
	return 1
}
