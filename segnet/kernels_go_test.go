//go:build !(openblas && cgo)

package segnet

import (
	"math/rand/v2"
	"testing"
)

func TestExpf32(t *testing.T) { checkExpf(t, "expf32", expf32) }

// BenchmarkSoftmaxRow: one output row of 320 pixels, 8 classes.
func BenchmarkSoftmaxRow(b *testing.B) {
	const k, w = 8, 320
	z := randSlice(rand.New(rand.NewPCG(1, 1)), k*w, 3)
	mask, conf := make([]uint8, w), make([]uint8, w)
	for b.Loop() {
		softmaxRow(z, k, w, 0, w, mask, conf)
	}
}
