package segnet

// backendName is replaced by the openblas build's init.
var backendName = "gonum (pure Go)"

// Backend reports which BLAS implementation serves blas32 Sgemm:
// "gonum (pure Go)" by default, "openblas ..." with -tags openblas.
func Backend() string { return backendName }
