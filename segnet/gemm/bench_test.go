package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// BenchmarkSgemm runs the network's GEMM shapes (a 64-channel 3x3
// convolution on a 455-pixel block: forward, weight gradient, column
// gradient) on every kernel and reports GFLOP/s.
func BenchmarkSgemm(b *testing.B) {
	cases := []struct {
		name    string
		m, n, k int
		tA, tB  bool
	}{
		{"forward", 64, 455, 576, false, false},
		{"dweight", 64, 576, 455, false, true},
		{"dcol", 576, 455, 64, true, false},
		{"square512", 512, 512, 512, false, false},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, cs := range cases {
		a := randSlice(rng, cs.m*cs.k)
		bb := randSlice(rng, cs.k*cs.n)
		c := make([]float32, cs.m*cs.n)
		lda, ldb := cs.k, cs.n
		if cs.tA {
			lda = cs.m
		}
		if cs.tB {
			ldb = cs.k
		}
		b.Run(cs.name+"/gonum", func(b *testing.B) {
			tA, tB := blas.NoTrans, blas.NoTrans
			if cs.tA {
				tA = blas.Trans
			}
			if cs.tB {
				tB = blas.Trans
			}
			var impl gonum.Implementation
			for b.Loop() {
				impl.Sgemm(tA, tB, cs.m, cs.n, cs.k, 1, a, lda, bb, ldb, 0, c, cs.n)
			}
			b.ReportMetric(2*float64(cs.m*cs.n*cs.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for _, kn := range kernels() {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", cs.name, kn.name, threads), func(b *testing.B) {
					for b.Loop() {
						sgemm(kn, threads, cs.tA, cs.tB, cs.m, cs.n, cs.k, 1, a, lda, bb, ldb, 0, c, cs.n)
					}
					b.ReportMetric(2*float64(cs.m*cs.n*cs.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkMicro runs each micro-kernel on one KC-deep tile held in L1: the
// ceiling the blocking can reach.
func BenchmarkMicro(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, kn := range kernels() {
		a := randSlice(rng, kn.mr*blockK)
		bb := randSlice(rng, kn.nr*blockK)
		c := make([]float32, kn.mr*kn.nr)
		b.Run(kn.name, func(b *testing.B) {
			for b.Loop() {
				kn.micro(blockK, a, bb, c, kn.nr, true)
			}
			b.ReportMetric(2*float64(kn.mr*kn.nr*blockK)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
