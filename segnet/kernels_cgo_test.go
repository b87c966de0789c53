//go:build openblas && cgo

package segnet

import (
	"math"
	"testing"
)

func TestExpfPoly(t *testing.T) {
	var worst float64
	for i := range 2_000_001 {
		x := float32(-87 + 87*float64(i)/2e6)
		got, want := float64(expfPoly(x)), math.Exp(float64(x))
		worst = max(worst, math.Abs(got-want)/want)
	}
	// k_softmax_row's exact-confidence fallback relies on this bound.
	if worst > 1e-6 {
		t.Fatalf("relative error %.3g > 1e-6", worst)
	}
	t.Logf("worst relative error on [-87, 0]: %.3g", worst)
	if expfPoly(-100) != 0 || expfPoly(0) != 1 {
		t.Fatalf("expf_poly(-100) = %g, expf_poly(0) = %g", expfPoly(-100), expfPoly(0))
	}
}
