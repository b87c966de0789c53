//go:build !(openblas && cgo)

package segnet

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExpf32(t *testing.T) {
	var worst float64
	for i := range 2_000_001 {
		x := float32(-87 + 87*float64(i)/2e6)
		got, want := float64(expf32(x)), math.Exp(float64(x))
		worst = max(worst, math.Abs(got-want)/want)
	}
	// softmaxRow's exact-confidence fallback relies on this bound.
	if worst > 1e-6 {
		t.Fatalf("relative error %.3g > 1e-6", worst)
	}
	t.Logf("worst relative error on [-87, 0]: %.3g", worst)
	if expf32(-100) != 0 || expf32(0) != 1 {
		t.Fatalf("expf32(-100) = %g, expf32(0) = %g", expf32(-100), expf32(0))
	}
}

// BenchmarkSoftmaxRow: one output row of 320 pixels, 8 classes.
func BenchmarkSoftmaxRow(b *testing.B) {
	const k, w = 8, 320
	z := randSlice(rand.New(rand.NewPCG(1, 1)), k*w, 3)
	mask, conf := make([]uint8, w), make([]uint8, w)
	for b.Loop() {
		softmaxRow(z, k, w, 0, w, mask, conf)
	}
}
