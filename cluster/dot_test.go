package cluster

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDotKernels: the vector kernels give dotRef's bits for every length,
// including the tails and values whose products round differently fused.
func TestDotKernels(t *testing.T) {
	if !useAVX2 {
		t.Log("no AVX2+FMA: kernels are dotRef itself")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for m := 0; m <= 140; m++ {
		z0, z1 := make([]float64, m), make([]float64, m)
		w := make([][]float64, 4)
		for i := range w {
			w[i] = make([]float64, m)
		}
		for j := range m {
			z0[j] = rng.NormFloat64() * math.Exp(8*rng.NormFloat64())
			z1[j] = 1 + rng.Float64()*0x1p-30
			for i := range w {
				w[i][j] = rng.NormFloat64() * math.Exp(8*rng.NormFloat64())
			}
		}
		if m > 3 {
			z0[m-1] = -0.0
			w[2][1] = math.Inf(1)
		}
		var o4 [4]float64
		var o8 [8]float64
		dot4(z0, z0, z0, z0, w[0], w[1], w[2], w[3], m, &o4)
		var p4 [4]float64
		dot4(z1, z0, z1, z0, w[3], w[2], w[1], w[0], m, &p4)
		dot2x4(z0, z1, w[0], w[1], w[2], w[3], m, &o8)
		for i := range 4 {
			want0, want1 := dotRef(z0, w[i]), dotRef(z1, w[i])
			same := func(a, b float64) bool {
				return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
			}
			zp := [4][]float64{z1, z0, z1, z0}[i]
			if wp := dotRef(zp, w[3-i]); !same(p4[i], wp) {
				t.Fatalf("m=%d i=%d: paired dot4 %v, want %v", m, i, p4[i], wp)
			}
			if !same(o4[i], want0) || !same(o8[i], want0) || !same(o8[4+i], want1) {
				t.Fatalf("m=%d i=%d: dot4 %v dot2x4 %v %v, want %v %v", m, i, o4[i], o8[i], o8[4+i], want0, want1)
			}
		}
	}
}

// TestRowKernels: the vector row kernels give the bits of their references.
func TestRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	same := func(a, b []float64) bool {
		for i := range a {
			if math.Float64bits(a[i]) != math.Float64bits(b[i]) && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
				return false
			}
		}
		return len(a) == len(b)
	}
	for d := 1; d <= 70; d++ {
		x, off, ctr := make([]float64, d), make([]float64, d), make([]float64, d)
		for j := range d {
			x[j] = rng.NormFloat64() * 1e3
			off[j] = rng.NormFloat64()
			ctr[j] = rng.NormFloat64() * 1e3
		}
		for _, bad := range []float64{0, math.NaN(), math.Inf(-1)} {
			if bad != 0 {
				x[rng.IntN(d)] = bad
			}
			xc1, xc2 := make([]float64, d), make([]float64, d)
			z1, z2 := make([]float64, 2*d), make([]float64, 2*d)
			c1, c2 := loadSquare(x, off, xc1, z1, d), loadSquareRef(x, off, xc2, z2, d)
			if !same(xc1, xc2) || !same(z1, z2) || !same([]float64{c1}, []float64{c2}) {
				t.Fatalf("d=%d bad=%v: loadSquare differs from its reference", d, bad)
			}
			if (bad == 0) != (c1 == 0) {
				t.Fatalf("d=%d bad=%v: check %v", d, bad, c1)
			}
			s1a, s2a := make([]float64, d), make([]float64, d)
			for j := range d {
				s1a[j], s2a[j] = rng.NormFloat64(), rng.Float64()
			}
			s1b, s2b := append([]float64(nil), s1a...), append([]float64(nil), s2a...)
			r := rng.Float64()
			momentsRow(xc1, ctr, s1a, s2a, r, d)
			momentsRef(xc1, ctr, s1b, s2b, r, d)
			if !same(s1a, s1b) || !same(s2a, s2b) {
				t.Fatalf("d=%d: momentsRow differs from its reference", d)
			}
		}
	}
}

// TestBoundMask: the vector bound test gives the Go loop's mask, also for
// NaN, ±Inf and huge stored bounds, and for every length up to 64.
func TestBoundMask(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32, 0}
	for n := 0; n <= 64; n++ {
		for range 200 {
			ub := make([]float32, n)
			cum := make([]float64, n)
			zn := math.Exp(3 * rng.NormFloat64())
			thr := 10 * rng.NormFloat64()
			for j := range n {
				ub[j] = float32(thr + 5*rng.NormFloat64())
				if rng.IntN(10) == 0 {
					ub[j] = special[rng.IntN(len(special))]
				}
				cum[j] = rng.Float64() * math.Exp(2*rng.NormFloat64())
			}
			if got, want := boundMask(ub, cum, zn, thr), boundMaskRef(ub, cum, zn, thr); got != want {
				t.Fatalf("n=%d: mask %#x, want %#x", n, got, want)
			}
		}
	}
}
