package segnet

import (
	"math"
	"testing"
)

// checkExpf holds a float32 exponential to the bound the softmax kernels'
// exact-confidence fallback relies on: 1e-6 relative on [-87, 0], 0 below.
func checkExpf(t *testing.T, name string, f func(float32) float32) {
	t.Helper()
	var worst float64
	for i := range 2_000_001 {
		x := float32(-87 + 87*float64(i)/2e6)
		got, want := float64(f(x)), math.Exp(float64(x))
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 1e-6 {
		t.Fatalf("%s: relative error %.3g > 1e-6", name, worst)
	}
	t.Logf("%s: worst relative error on [-87, 0]: %.3g", name, worst)
	if f(-100) != 0 || f(0) != 1 {
		t.Fatalf("%s(-100) = %g, %s(0) = %g", name, f(-100), name, f(0))
	}
}
