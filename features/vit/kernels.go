package vit

import "math"

// Scalar float32 kernels of the forward pass. exp and erf are the hot
// transcendental functions (the softmax of every attention row, the GELU
// of every MLP unit); float64 math.Exp and math.Erf would cost more than
// the attention GEMMs at patch 8, so both are float32 approximations
// accurate to a few units in the last place (see kernels_test.go).

// expf returns e^x for x <= 88.3; below -87.3 it returns ~0 (as
// 2^-126 · p). Cody–Waite range reduction and the minimax polynomial of
// Cephes' expf.
func expf(x float32) float32 {
	x = min(max(x, -87.3), 88.3)
	t := x * math.Log2E
	var n int32
	if t >= 0 {
		n = int32(t + 0.5)
	} else {
		n = int32(t - 0.5)
	}
	fn := float32(n)
	r := x - fn*0.693359375 - fn*-2.12194440e-4
	z := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	y := p*z + r + 1
	return y * math.Float32frombits(uint32(n+127)<<23)
}

// erff returns erf(x): a rational minimax approximation on [-4, 4] (the
// one Eigen and XLA use for float32), ±1 outside.
func erff(x float32) float32 {
	x = min(max(x, -4), 4)
	x2 := x * x
	p := x2*-2.72614225801306e-10 + 2.77068142495902e-08
	p = x2*p + -2.10102402082508e-06
	p = x2*p + -5.69250639462346e-05
	p = x2*p + -7.34990630326855e-04
	p = x2*p + -2.95459980854025e-03
	p = x2*p + -1.60960333262415e-02
	p *= x
	q := x2*-1.45660718464996e-05 + -2.13374055278905e-04
	q = x2*q + -1.68282697438203e-03
	q = x2*q + -7.37332916720468e-03
	q = x2*q + -1.42647390514189e-02
	return p / q
}

// geluRow applies the exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)), in place.
func geluRow(v []float32) {
	for i, x := range v {
		v[i] = 0.5 * x * (1 + erff(x*math.Sqrt2/2))
	}
}

// softmaxRow replaces v by softmax(v).
func softmaxRow(v []float32) {
	m := v[0]
	for _, x := range v[1:] {
		m = max(m, x)
	}
	var s float32
	for i, x := range v {
		e := expf(x - m)
		v[i] = e
		s += e
	}
	inv := 1 / s
	for i := range v {
		v[i] *= inv
	}
}

// layerNormRow writes LayerNorm(x)·w + b to y (statistics in float64).
func layerNormRow(y, x, w, b []float32, eps float64) {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mean := s / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	rstd := float32(1 / math.Sqrt(ss/float64(len(x))+eps))
	m := float32(mean)
	y, w, b = y[:len(x)], w[:len(x)], b[:len(x)]
	for i, v := range x {
		y[i] = (v-m)*rstd*w[i] + b[i]
	}
}

// addBias adds b to each row of the n x len(b) matrix y.
func addBias(y, b []float32, r0, r1 int) {
	d := len(b)
	for r := r0; r < r1; r++ {
		row := y[r*d : (r+1)*d]
		for i, v := range b {
			row[i] += v
		}
	}
}
