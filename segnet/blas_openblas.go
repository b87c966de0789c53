//go:build openblas && cgo

package segnet

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

// openblas32 serves Sgemm from OpenBLAS and every other blas32 routine from
// gonum: only the GEMMs are hot in this package.
type openblas32 struct{ gonum.Implementation }

func (openblas32) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	// Bounds as gonum checks them, so a bad call panics in Go instead of
	// corrupting memory in C.
	rowA, colA := m, k
	if tA != blas.NoTrans {
		rowA, colA = k, m
	}
	rowB, colB := k, n
	if tB != blas.NoTrans {
		rowB, colB = n, k
	}
	if lda < max(1, colA) || ldb < max(1, colB) || ldc < max(1, n) {
		panic("segnet: openblas Sgemm: bad leading dimension")
	}
	if (k > 0 && (len(a) < lda*(rowA-1)+colA || len(b) < ldb*(rowB-1)+colB)) || len(c) < ldc*(m-1)+n {
		panic("segnet: openblas Sgemm: short slice")
	}
	var pa, pb *C.float
	if k > 0 {
		pa, pb = (*C.float)(unsafe.Pointer(&a[0])), (*C.float)(unsafe.Pointer(&b[0]))
	} else {
		// C = beta*C: no A or B to read; give OpenBLAS a valid pointer.
		pa, pb = (*C.float)(unsafe.Pointer(&c[0])), (*C.float)(unsafe.Pointer(&c[0]))
	}
	C.cblas_sgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), pa, C.blasint(lda), pb, C.blasint(ldb), C.float(beta),
		(*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

func trans(t blas.Transpose) C.enum_CBLAS_TRANSPOSE {
	if t == blas.NoTrans {
		return C.CblasNoTrans
	}
	return C.CblasTrans
}

func init() {
	// segnet parallelises over batch items with goroutines; OpenBLAS threads
	// on top would oversubscribe the cores.
	C.openblas_set_num_threads(1)
	blas32.Use(openblas32{})
	backendName = fmt.Sprintf("openblas %s (cgo, 1 thread per call)", C.GoString(C.openblas_get_config()))
}
