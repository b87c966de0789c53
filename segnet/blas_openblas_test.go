//go:build openblas && cgo

package segnet

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

func TestOpenBLASSgemm(t *testing.T) {
	if !strings.HasPrefix(Backend(), "openblas") {
		t.Fatalf("Backend() = %q under -tags openblas", Backend())
	}
	if _, ok := blas32.Implementation().(openblas32); !ok {
		t.Fatalf("blas32 implementation is %T", blas32.Implementation())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	m, n, k := 7, 5, 9
	for _, ta := range []blas.Transpose{blas.NoTrans, blas.Trans} {
		for _, tb := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			lda, ldb := k+2, n+1
			if ta == blas.Trans {
				lda = m + 2
			}
			if tb == blas.Trans {
				ldb = k + 1
			}
			a := randSlice(rng, lda*max(m, k), 1)
			b := randSlice(rng, ldb*max(n, k), 1)
			c0 := randSlice(rng, m*(n+3), 1)
			want, got := append([]float32(nil), c0...), append([]float32(nil), c0...)
			gonum.Implementation{}.Sgemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 0.25, want, n+3)
			openblas32{}.Sgemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 0.25, got, n+3)
			for i := range want {
				if math.Abs(float64(want[i]-got[i])) > 1e-5 {
					t.Fatalf("tA=%c tB=%c: c[%d] = %g, gonum %g", ta, tb, i, got[i], want[i])
				}
			}
		}
	}
}
