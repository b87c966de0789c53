//go:build openblas && cgo

package vit

/*
#cgo CFLAGS: -O3
#include <stdint.h>
#include <string.h>

// The softmax and GELU kernels of the openblas build: the same float32
// approximations as kernels.go (expf: Cephes; erff: Eigen's rational
// minimax), written so that GCC vectorises them; compiled for Haswell
// (AVX2 + FMA) and the x86-64 baseline, chosen at load time.
#if defined(__x86_64__)
#define VEC __attribute__((target_clones("arch=haswell", "default")))
#else
#define VEC
#endif

static inline float k_exp(float x) {
	x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
	float t = x * 1.44269504088896341f;
	int32_t n = (int32_t)(t + (t >= 0 ? 0.5f : -0.5f));
	float fn = (float)n;
	float r = x - fn * 0.693359375f - fn * -2.12194440e-4f;
	float z = r * r;
	float p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
		1.6666665459e-1f) * r + 5.0000001201e-1f;
	float y = p * z + r + 1.0f;
	union { uint32_t u; float f; } s = {(uint32_t)(n + 127) << 23};
	return y * s.f;
}

static inline float k_erf(float x) {
	x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
	float x2 = x * x;
	float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
	p = x2 * p + -2.10102402082508e-06f;
	p = x2 * p + -5.69250639462346e-05f;
	p = x2 * p + -7.34990630326855e-04f;
	p = x2 * p + -2.95459980854025e-03f;
	p = x2 * p + -1.60960333262415e-02f;
	p *= x;
	float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
	q = x2 * q + -1.68282697438203e-03f;
	q = x2 * q + -7.37332916720468e-03f;
	q = x2 * q + -1.42647390514189e-02f;
	return p / q;
}

VEC static void k_softmax_rows(float *s, long rows, long n) {
	for (long r = 0; r < rows; r++) {
		float *v = s + r * n;
		float m8[8], s8[8];
		for (int j = 0; j < 8; j++) m8[j] = v[0], s8[j] = 0;
		long i = 0;
		for (; i + 8 <= n; i += 8)
			for (int j = 0; j < 8; j++) m8[j] = v[i + j] > m8[j] ? v[i + j] : m8[j];
		float m = m8[0];
		for (int j = 1; j < 8; j++) m = m8[j] > m ? m8[j] : m;
		for (long k = i; k < n; k++) m = v[k] > m ? v[k] : m;
		for (i = 0; i + 8 <= n; i += 8)
			for (int j = 0; j < 8; j++) {
				float e = k_exp(v[i + j] - m);
				v[i + j] = e;
				s8[j] += e;
			}
		float sum = 0;
		for (int j = 0; j < 8; j++) sum += s8[j];
		for (long k = i; k < n; k++) {
			float e = k_exp(v[k] - m);
			v[k] = e;
			sum += e;
		}
		float inv = 1.0f / sum;
		for (long k = 0; k < n; k++) v[k] *= inv;
	}
}

VEC static void k_gelu(float *v, long n) {
	for (long i = 0; i < n; i++) {
		float x = v[i];
		v[i] = 0.5f * x * (1.0f + k_erf(x * 0.70710678118654752f));
	}
}
*/
import "C"

import "unsafe"

func softmaxRows(s []float32, rows, n int) {
	if rows*n == 0 {
		return
	}
	_ = s[rows*n-1]
	C.k_softmax_rows((*C.float)(unsafe.Pointer(&s[0])), C.long(rows), C.long(n))
}

func gelu(v []float32) {
	if len(v) == 0 {
		return
	}
	C.k_gelu((*C.float)(unsafe.Pointer(&v[0])), C.long(len(v)))
}
