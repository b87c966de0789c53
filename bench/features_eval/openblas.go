//go:build openblas

package main

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// With -tags openblas the float64 GEMMs of the encoders (gonum mat.Mul)
// and the GMM's Dsyrk go to OpenBLAS; everything else stays gonum's.
func init() {
	blas64.Use(openblas64{})
	blasName = "openblas"
}

type openblas64 struct{ gonum.Implementation }

func trans(t blas.Transpose) C.enum_CBLAS_TRANSPOSE {
	if t == blas.NoTrans {
		return C.CblasNoTrans
	}
	return C.CblasTrans
}

func (openblas64) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		gonum.Implementation{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.cblas_dgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k), C.double(alpha),
		(*C.double)(&a[0]), C.blasint(lda), (*C.double)(&b[0]), C.blasint(ldb), C.double(beta), (*C.double)(&c[0]), C.blasint(ldc))
}

func (openblas64) Dsyrk(ul blas.Uplo, t blas.Transpose, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if n == 0 || k == 0 {
		gonum.Implementation{}.Dsyrk(ul, t, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	u := C.enum_CBLAS_UPLO(C.CblasLower)
	if ul == blas.Upper {
		u = C.CblasUpper
	}
	C.cblas_dsyrk(C.CblasRowMajor, u, trans(t), C.blasint(n), C.blasint(k), C.double(alpha),
		(*C.double)(&a[0]), C.blasint(lda), C.double(beta), (*C.double)(&c[0]), C.blasint(ldc))
}
