//go:build !(openblas && cgo)

package segnet

import (
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/segdiscover/segdiscover/segnet/gemm"
)

func init() {
	// One goroutine per call: segnet already runs a GEMM per image on
	// every worker.
	blas32.Use(gemm.Implementation{Threads: 1})
	backendName = "pure Go (" + gemm.Kernel() + " GEMM)"
}
