//go:build !amd64 || purego

package gemm

func kernels() []*kernel { return []*kernel{goKernel} }
