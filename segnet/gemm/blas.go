package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Implementation is gonum's blas32 implementation with this package's
// Sgemm, for blas32.Use. Threads bounds the goroutines one Sgemm call
// splits its work over (0 or 1: the calling goroutine only); callers that
// already run GEMMs on every core, as segnet does per image, leave it at 1.
type Implementation struct {
	gonum.Implementation
	Threads int
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C; see the package's Sgemm.
func (impl Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(active, impl.Threads, tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
