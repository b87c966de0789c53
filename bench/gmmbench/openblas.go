//go:build openblas

package main

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// With -tags openblas the level-3 routines cluster uses (Sgemm, Dgemm,
// Dsyrk) go to OpenBLAS through gonum's swappable blas32/blas64
// implementations; everything else, Ddot included (called per row, where a
// cgo call would cost more than it saves), stays gonum's. Run with
// OPENBLAS_NUM_THREADS=1: cluster parallelises over row blocks itself.
func init() {
	blas64.Use(openblas64{})
	blas32.Use(openblas32{})
	blasName = "openblas"
}

type openblas64 struct{ gonum.Implementation }

type openblas32 struct{ gonum.Implementation }

func trans(t blas.Transpose) C.enum_CBLAS_TRANSPOSE {
	if t == blas.NoTrans {
		return C.CblasNoTrans
	}
	return C.CblasTrans
}

func uplo(u blas.Uplo) C.enum_CBLAS_UPLO {
	if u == blas.Upper {
		return C.CblasUpper
	}
	return C.CblasLower
}

func (openblas64) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		gonum.Implementation{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.cblas_dgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k), C.double(alpha),
		(*C.double)(&a[0]), C.blasint(lda), (*C.double)(&b[0]), C.blasint(ldb), C.double(beta), (*C.double)(&c[0]), C.blasint(ldc))
}

func (openblas64) Dsyrk(ul blas.Uplo, t blas.Transpose, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if n == 0 {
		return
	}
	if k == 0 {
		gonum.Implementation{}.Dsyrk(ul, t, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	C.cblas_dsyrk(C.CblasRowMajor, uplo(ul), trans(t), C.blasint(n), C.blasint(k), C.double(alpha),
		(*C.double)(&a[0]), C.blasint(lda), C.double(beta), (*C.double)(&c[0]), C.blasint(ldc))
}

func (openblas32) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.cblas_sgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
		(*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb), C.float(beta), (*C.float)(&c[0]), C.blasint(ldc))
}
