package cluster

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// The methods below take workers (0 means GOMAXPROCS); their results do not
// depend on it. A row holding NaN or ±Inf gets label −1, posterior 0 and
// log-likelihood NaN. They panic if x's column count differs from Dim.

func (g *GMM) check(x *mat.Dense) {
	if x == nil {
		panic("cluster: nil matrix")
	}
	if _, d := x.Dims(); d != g.d {
		panic(fmt.Sprintf("cluster: data of dimension %d for a model of dimension %d", d, g.d))
	}
}

func (g *GMM) run(x *mat.Dense, workers int, p *pass) *stats {
	g.check(x)
	p.x = x.RawMatrix()
	p.kr = g.kernel()
	p.workers = resolveWorkers(workers)
	return p.run()
}

// Predict returns the most probable component of each row.
func (g *GMM) Predict(x *mat.Dense, workers int) []int {
	n, _ := x.Dims()
	labels := make([]int, n)
	g.run(x, workers, &pass{labels: labels})
	return labels
}

// PredictProba returns the N×K matrix of posterior probabilities
// (responsibilities). Posteriors below e⁻⁵⁰ ≈ 2e−22 of a row's largest are
// returned as 0.
func (g *GMM) PredictProba(x *mat.Dense, workers int) *mat.Dense {
	n, _ := x.Dims()
	proba := make([]float64, n*g.k)
	g.run(x, workers, &pass{proba: proba})
	return mat.NewDense(n, g.k, proba)
}

// ScoreSamples returns log p(x) of each row (natural log, density units of
// the data).
func (g *GMM) ScoreSamples(x *mat.Dense, workers int) []float64 {
	n, _ := x.Dims()
	ll := make([]float64, n)
	g.run(x, workers, &pass{logLik: ll})
	return ll
}

// Score returns the mean log-likelihood per row (scikit-learn's score).
func (g *GMM) Score(x *mat.Dense, workers int) float64 {
	n, _ := x.Dims()
	st := g.run(x, workers, &pass{})
	return st.ll / float64(n)
}

// BIC returns the Bayesian information criterion on x,
// −2·N·Score + NumParams·ln N; lower is better.
func (g *GMM) BIC(x *mat.Dense, workers int) float64 {
	n, _ := x.Dims()
	return -2*float64(n)*g.Score(x, workers) + float64(g.NumParams())*math.Log(float64(n))
}

// AIC returns the Akaike information criterion on x,
// −2·N·Score + 2·NumParams; lower is better.
func (g *GMM) AIC(x *mat.Dense, workers int) float64 {
	n, _ := x.Dims()
	return -2*float64(n)*g.Score(x, workers) + 2*float64(g.NumParams())
}

// Balance selects how Assign turns posteriors into labels.
type Balance int

const (
	// BalanceNone labels each row with its most probable component.
	BalanceNone Balance = iota
	// BalanceSinkhorn first balances the posteriors with Sinkhorn-Knopp
	// equipartition (as SwAV), so that components get similar total mass.
	BalanceSinkhorn
)

// ParseBalance parses "none" or "sinkhorn" (any case).
func ParseBalance(s string) (Balance, error) {
	switch strings.ToLower(s) {
	case "none":
		return BalanceNone, nil
	case "sinkhorn":
		return BalanceSinkhorn, nil
	}
	return 0, fmt.Errorf("unknown balance %q (want none or sinkhorn)", s)
}

func (b Balance) String() string {
	switch b {
	case BalanceNone:
		return "none"
	case BalanceSinkhorn:
		return "sinkhorn"
	}
	return fmt.Sprintf("Balance(%d)", int(b))
}

// AssignSettings configures Assign; the zero value means the defaults.
type AssignSettings struct {
	Balance Balance
	// Epsilon is the Sinkhorn temperature; zero means 0.05 (SwAV).
	Epsilon float64
	// SinkhornIter is the number of Sinkhorn-Knopp iterations; zero means 3.
	SinkhornIter int
	// Workers is the number of goroutines; zero means GOMAXPROCS.
	Workers int
}

// Assign returns each row's component and the posterior of that component.
// With BalanceNone it needs O(N) memory (no N×K matrix); with
// BalanceSinkhorn the label is the argmax of the balanced assignment and
// post its balanced weight (each row's weights sum to 1), which needs an
// N×K matrix. Rows holding NaN or ±Inf get label −1 and post 0.
func (g *GMM) Assign(x *mat.Dense, a AssignSettings) (labels []int, post []float64) {
	n, _ := x.Dims()
	labels = make([]int, n)
	post = make([]float64, n)
	switch a.Balance {
	case BalanceNone:
		g.run(x, a.Workers, &pass{labels: labels, post: post})
		return labels, post
	case BalanceSinkhorn:
	default:
		panic(fmt.Sprintf("cluster: invalid balance %d", int(a.Balance)))
	}
	eps := a.Epsilon
	if eps == 0 {
		eps = 0.05
	}
	iters := a.SinkhornIter
	if iters == 0 {
		iters = 3
	}
	proba := g.PredictProba(x, a.Workers)
	g.run(x, a.Workers, &pass{labels: labels}) // marks non-finite rows with −1
	valid := make([]bool, n)
	for i, l := range labels {
		valid[i] = l >= 0
	}
	sinkhorn(proba.RawMatrix().Data, n, g.k, eps, iters, valid)
	for i := range n {
		if !valid[i] {
			continue
		}
		row := proba.RawRowView(i)
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		labels[i], post[i] = best, row[best]
	}
	return labels, post
}

// Sinkhorn balances the N×K posterior matrix p in place with the
// Sinkhorn-Knopp algorithm as SwAV (Caron et al. 2020) uses it: Q = exp(p/ε),
// then iters rounds of scaling each component's column to total mass 1/K and
// each row to mass 1/N; on return each row sums to 1. Entries of p should
// lie in a bounded range such as posteriors' [0, 1]: ones more than 700·eps
// below the largest underflow to 0. It panics if eps ≤ 0 or iters < 1.
func Sinkhorn(p *mat.Dense, eps float64, iters int) {
	n, k := p.Dims()
	raw := p.RawMatrix()
	if raw.Stride != k {
		tmp := mat.DenseCopyOf(p)
		Sinkhorn(tmp, eps, iters)
		p.Copy(tmp)
		return
	}
	valid := make([]bool, n)
	for i := range valid {
		valid[i] = true
	}
	sinkhorn(raw.Data, n, k, eps, iters, valid)
}

func sinkhorn(q []float64, n, k int, eps float64, iters int, valid []bool) {
	if !(eps > 0) || iters < 1 {
		panic("cluster: Sinkhorn needs eps > 0 and iters >= 1")
	}
	// Q = exp((p − max p)/ε): one global shift, which cancels in the first
	// scaling (a per-row shift would not: it would reweight the rows in the
	// first component scaling, unlike SwAV's exp(p/ε)).
	nv := 0
	mx := math.Inf(-1)
	for i := range n {
		if valid[i] {
			nv++
			for _, v := range q[i*k : (i+1)*k] {
				mx = max(mx, v)
			}
		}
	}
	for i := range n {
		if !valid[i] {
			continue
		}
		row := q[i*k : (i+1)*k]
		for c, v := range row {
			row[c] = math.Exp((v - mx) / eps)
		}
	}
	if nv == 0 {
		return
	}
	colSum := make([]float64, k)
	for range iters {
		clear(colSum)
		for i := range n {
			if !valid[i] {
				continue
			}
			for c, v := range q[i*k : (i+1)*k] {
				colSum[c] += v
			}
		}
		for c := range colSum {
			if colSum[c] > 0 {
				colSum[c] = 1 / (colSum[c] * float64(k))
			}
		}
		for i := range n {
			if !valid[i] {
				continue
			}
			row := q[i*k : (i+1)*k]
			var s float64
			for c := range row {
				row[c] *= colSum[c]
				s += row[c]
			}
			if s > 0 {
				for c := range row {
					row[c] /= s
				}
			}
		}
	}
}
