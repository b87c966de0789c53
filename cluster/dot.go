package cluster

import "math"

// The exact (float64) log-density terms z·w_k are computed by one fixed
// arithmetic, whatever the path that asks for them (a whole block, the
// components a row's bounds cannot exclude, the survivors of the float32
// screen), so that every path gives the same bits: four lanes, lane l
// accumulating z_j·w_j for j ≡ l (mod 4) with fused multiply-adds, the lanes
// summed as (a₀+a₂)+(a₁+a₃), then the last m mod 4 terms fused in order.
// With AVX2 and FMA this is what the vector instructions do naturally (four
// float64 lanes, eight independent accumulators for two rows), about four
// times the throughput of gonum's SSE2 Ddot/Dgemm; elsewhere math.FMA gives
// the same results, slowly.

// dotRef is the reference definition of the arithmetic.
func dotRef(z, w []float64) float64 {
	m := len(w)
	z = z[:m]
	var a0, a1, a2, a3 float64
	j := 0
	for ; j+4 <= m; j += 4 {
		a0 = math.FMA(z[j], w[j], a0)
		a1 = math.FMA(z[j+1], w[j+1], a1)
		a2 = math.FMA(z[j+2], w[j+2], a2)
		a3 = math.FMA(z[j+3], w[j+3], a3)
	}
	s := (a0 + a2) + (a1 + a3)
	for ; j < m; j++ {
		s = math.FMA(z[j], w[j], s)
	}
	return s
}

// dot4 sets out[i] = z_i·w_i (m terms) for four pairs of rows.
func dot4(z0, z1, z2, z3, w0, w1, w2, w3 []float64, m int, out *[4]float64) {
	_, _, _, _ = z0[:m], z1[:m], z2[:m], z3[:m]
	_, _, _, _ = w0[:m], w1[:m], w2[:m], w3[:m]
	if m > 0 && useAVX2 {
		dot4AVX2(&z0[0], &z1[0], &z2[0], &z3[0], &w0[0], &w1[0], &w2[0], &w3[0], m, out)
		return
	}
	out[0], out[1], out[2], out[3] = dotRef(z0[:m], w0[:m]), dotRef(z1[:m], w1[:m]), dotRef(z2[:m], w2[:m]), dotRef(z3[:m], w3[:m])
}

// dot2x4 sets out[4r+i] = z_r·w_i for two rows and four weight rows.
func dot2x4(z0, z1, w0, w1, w2, w3 []float64, m int, out *[8]float64) {
	_, _, _, _, _, _ = z0[:m], z1[:m], w0[:m], w1[:m], w2[:m], w3[:m]
	if m > 0 && useAVX2 {
		dot2x4AVX2(&z0[0], &z1[0], &w0[0], &w1[0], &w2[0], &w3[0], m, out)
		return
	}
	for i, w := range [4][]float64{w0, w1, w2, w3} {
		out[i], out[4+i] = dotRef(z0[:m], w[:m]), dotRef(z1[:m], w[:m])
	}
}

// momentsRow adds r·(x−c) to s1 and r·(x−c)² to s2 (d terms), each
// operation rounded on its own (no fused multiply-add) in either version.
func momentsRow(x, ctr, s1, s2 []float64, r float64, d int) {
	_, _, _, _ = x[:d], ctr[:d], s1[:d], s2[:d]
	if d > 0 && useAVX2 {
		momentsAVX2(&x[0], &ctr[0], &s1[0], &s2[0], r, d)
		return
	}
	momentsRef(x, ctr, s1, s2, r, d)
}

func momentsRef(x, ctr, s1, s2 []float64, r float64, d int) {
	for j, v := range x[:d] {
		dv := v - ctr[j]
		rd := float64(r * dv)
		s1[j] += rd
		s2[j] += float64(rd * dv)
	}
}

// loadSquare sets xc = x − off and the features z[0:d] = xc², z[d:2d] = xc,
// and returns Σ xc·0 in four lanes ((a₀+a₂)+(a₁+a₃), then the tail): 0, or
// NaN when a value is not finite.
func loadSquare(x, off, xc, z []float64, d int) float64 {
	_, _, _, _ = x[:d], off[:d], xc[:d], z[:2*d]
	if d > 0 && useAVX2 {
		return loadSquareAVX2(&x[0], &off[0], &xc[0], &z[0], d)
	}
	return loadSquareRef(x, off, xc, z, d)
}

func loadSquareRef(x, off, xc, z []float64, d int) float64 {
	var a [4]float64
	for j, v := range x[:d] {
		c := v - off[j]
		xc[j], z[j], z[d+j] = c, c*c, c
		if j < d&^3 {
			a[j&3] += c * 0
		}
	}
	s := (a[0] + a[2]) + (a[1] + a[3])
	for j := d &^ 3; j < d; j++ {
		s += xc[j] * 0
	}
	return s
}
