//go:build !(openblas && cgo)

package vit

// The pure-Go build's softmax and GELU; the openblas build has C versions
// (kernels_cgo.go) that the C compiler vectorises.

func softmaxRows(s []float32, rows, n int) {
	for r := range rows {
		softmaxRow(s[r*n : (r+1)*n])
	}
}

func gelu(v []float32) { geluRow(v) }
