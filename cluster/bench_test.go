package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkEMIteration times one EM iteration (E-step fused with the M-step
// statistics, then the M-step) on 20000 rows of 16 blobs, D=32, K=27; the
// side-by-side comparison with scikit-learn is bench/gmm.sh.
func BenchmarkEMIteration(b *testing.B) {
	x, _ := blobs(20000, 16, 32, 11)
	for _, typ := range []CovarianceType{Full, Diag} {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%v/workers=%d", typ, workers), func(b *testing.B) {
				g, _, ok := Fit(x, Settings{K: 27, Covariance: typ, MaxIter: 2, Workers: workers}, rand.NewPCG(1, 1))
				if !ok {
					b.Fatal("fit failed")
				}
				raw := x.RawMatrix()
				s := Settings{RegCovar: defaultRegCovar}
				b.ReportAllocs()
				for b.Loop() {
					kr := g.kernel()
					st := (&pass{x: raw, kr: kr, mode: typ.s2(), stats: true, workers: workers}).run()
					budget := 0
					if _, _, ok, _ := mstep(rowsOf(raw), raw.Rows, typ, kr, st, s.RegCovar, nil, &budget); !ok {
						b.Fatal("mstep failed")
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20000, "ns/row")
			})
		}
	}
}

// BenchmarkPredict times Assign (E-step and argmax, no statistics).
func BenchmarkPredict(b *testing.B) {
	x, _ := blobs(20000, 16, 32, 12)
	g, _, ok := Fit(x, Settings{K: 27, MaxIter: 2, Workers: 1}, rand.NewPCG(1, 1))
	if !ok {
		b.Fatal("fit failed")
	}
	for b.Loop() {
		g.Assign(x, AssignSettings{Workers: 1})
	}
}
