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

// The build's softmax and GELU (C in the openblas build) against float64.
func TestSoftmaxGELU(t *testing.T) {
	const rows, n = 3, 37
	s := make([]float32, rows*n)
	for i := range s {
		s[i] = float32(math.Sin(float64(i)*1.7)) * 12
	}
	want := make([]float64, len(s))
	for r := range rows {
		m, sum := math.Inf(-1), 0.0
		for _, v := range s[r*n : (r+1)*n] {
			m = max(m, float64(v))
		}
		for i, v := range s[r*n : (r+1)*n] {
			want[r*n+i] = math.Exp(float64(v) - m)
			sum += want[r*n+i]
		}
		for i := range n {
			want[r*n+i] /= sum
		}
	}
	g := make([]float32, 2000)
	for i := range g {
		g[i] = float32(i-1000) / 100
	}
	gw := make([]float64, len(g))
	for i, x := range g {
		gw[i] = 0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2))
	}
	softmaxRows(s, rows, n)
	gelu(g)
	for i := range s {
		if math.Abs(float64(s[i])-want[i]) > 1e-6*max(want[i], 1e-3) && math.Abs(float64(s[i])-want[i]) > 1e-9 {
			t.Fatalf("softmax[%d] = %g, want %g", i, s[i], want[i])
		}
	}
	for i := range g {
		if math.Abs(float64(g[i])-gw[i]) > 1e-6*max(math.Abs(gw[i]), 1) {
			t.Fatalf("gelu(%g) = %g, want %g", float32(i-1000)/100, g[i], gw[i])
		}
	}
}
