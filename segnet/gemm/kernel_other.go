//go:build !amd64 || purego

package gemm

func kernels() []*kernel { return []*kernel{goKernel} }

const hasTranspose8 = false

func transpose8(src []float32, lds int, dst []float32, ldd int) { panic("unreachable") }

func copyRowsAVX(dst, src []float32, ld, kc, nr int) bool { return false }
