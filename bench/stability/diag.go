package main

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/segdiscover/segdiscover/cluster"
)

// runDiag fits the mixture at seeds s0..s1 with the pipeline's settings
// and prints, per fit, the pseudo-label mIoU and label-free criteria, then
// the Spearman rank correlation of each criterion with the mIoU: which
// criterion, if any, would pick the better fits without labels.
func runDiag(z *mat.Dense, hist [][]int64, edges []cluster.Edge, s cluster.Settings, classes, s0, s1 int) {
	type row struct {
		seed                                      int
		miou, ll, bic, ent, coh, assort, bal, ari float64
		sec                                       float64
	}
	var rows []row
	var labs [][]int
	k := s.K
	for seed := s0; seed <= s1; seed++ {
		g, _, sec := fitSeed(z, s, seed)
		lab := g.Predict(z, 0)
		p := g.PredictProba(z, 0).RawMatrix()
		var h float64
		for _, v := range p.Data {
			if v > 0 {
				h -= v * math.Log(v)
			}
		}
		sizes := make([]float64, k)
		for _, l := range lab {
			sizes[l]++
		}
		var he float64
		for _, c := range sizes {
			if c > 0 {
				q := c / float64(len(lab))
				he -= q * math.Log(q)
			}
		}
		r := row{seed: seed, miou: miou(lab, hist, k, classes), ll: g.Score(z, 0), bic: g.BIC(z, 0),
			ent: h / float64(p.Rows), coh: cluster.Agreement(lab, edges), assort: cluster.Assortativity(lab, edges, k),
			bal: he / math.Log(float64(k)), sec: sec}
		rows = append(rows, r)
		labs = append(labs, lab)
		fmt.Printf("seed %2d  mIoU %.4f  ll %.4f  bic %.1f  entropy %.4f  agree %.4f  assort %.4f  balance %.4f  %.1fs\n",
			r.seed, r.miou, r.ll, r.bic, r.ent, r.coh, r.assort, r.bal, r.sec)
	}
	for i := range rows {
		var a float64
		for j := range rows {
			if j != i {
				a += cluster.AdjustedRand(labs[i], labs[j], k)
			}
		}
		rows[i].ari = a / float64(len(rows)-1)
	}
	col := func(f func(row) float64) []float64 {
		v := make([]float64, len(rows))
		for i, r := range rows {
			v[i] = f(r)
		}
		return v
	}
	m := col(func(r row) float64 { return r.miou })
	fmt.Printf("Spearman rank correlation with mIoU over %d fits (sign: higher criterion, higher mIoU):\n", len(rows))
	for _, c := range []struct {
		name string
		f    func(row) float64
	}{
		{"log-likelihood", func(r row) float64 { return r.ll }},
		{"-BIC", func(r row) float64 { return -r.bic }},
		{"-entropy", func(r row) float64 { return -r.ent }},
		{"edge agreement", func(r row) float64 { return r.coh }},
		{"assortativity", func(r row) float64 { return r.assort }},
		{"size balance", func(r row) float64 { return r.bal }},
		{"mean ARI", func(r row) float64 { return r.ari }},
	} {
		v := col(c.f)
		best := 0
		for i := range v {
			if v[i] > v[best] {
				best = i
			}
		}
		fmt.Printf("  %-15s rho %+.3f   argmax seed %2d mIoU %.4f\n", c.name, spearman(v, m), rows[best].seed, rows[best].miou)
	}
	sm := append([]float64(nil), m...)
	sort.Float64s(sm)
	fmt.Printf("  mIoU over fits: min %.4f median %.4f max %.4f\n", sm[0], sm[len(sm)/2], sm[len(sm)-1])
}

// spearman is the rank correlation of a and b (average ranks for ties):
// Pearson's correlation of the ranks.
func spearman(a, b []float64) float64 {
	return stat.Correlation(ranks(a), ranks(b), nil)
}

func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool { return v[idx[i]] < v[idx[j]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		for t := i; t <= j; t++ {
			r[idx[t]] = float64(i+j) / 2
		}
		i = j + 1
	}
	return r
}
