package segnet

// backendName is set by the build's init: backend_go.go or blas_openblas.go.
var backendName string

// Backend names the GEMM serving blas32 Sgemm and its kernel, e.g.
// "pure Go (AVX-512 GEMM)" by default, "openblas ..." with -tags openblas.
func Backend() string { return backendName }
