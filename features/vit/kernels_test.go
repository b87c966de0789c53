package vit

import (
	"math"
	"testing"
)

func TestExpf(t *testing.T) {
	worst := 0.0
	for x := -87.0; x <= 88; x += 0.001 {
		got, want := float64(expf(float32(x))), math.Exp(float64(float32(x)))
		if e := math.Abs(got-want) / want; e > worst {
			worst = e
		}
	}
	if worst > 4e-7 {
		t.Errorf("expf: max relative error %.3g, want <= 4e-7", worst)
	}
	if v := expf(-1000); v < 0 || v > 1e-37 {
		t.Errorf("expf(-1000) = %g", v)
	}
}

func TestErff(t *testing.T) {
	worst := 0.0
	for x := -6.0; x <= 6; x += 0.0005 {
		got, want := float64(erff(float32(x))), math.Erf(float64(float32(x)))
		if e := math.Abs(got - want); e > worst {
			worst = e
		}
	}
	if worst > 5e-7 {
		t.Errorf("erff: max absolute error %.3g, want <= 5e-7", worst)
	}
}

func TestHalfToFloat(t *testing.T) {
	for _, c := range []struct {
		h    uint16
		want float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08},
		{0x8000, float32(math.Copysign(0, -1))}, {0x3555, 0.333251953125}, {0x0400, 6.103515625e-05},
	} {
		if got := halfToFloat(c.h); got != c.want || math.Signbit(float64(got)) != math.Signbit(float64(c.want)) {
			t.Errorf("halfToFloat(%#04x) = %g, want %g", c.h, got, c.want)
		}
	}
	if !math.IsInf(float64(halfToFloat(0x7c00)), 1) || !math.IsNaN(float64(halfToFloat(0x7e00))) {
		t.Error("halfToFloat: Inf/NaN")
	}
}
