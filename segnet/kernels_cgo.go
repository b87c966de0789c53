//go:build openblas && cgo

package segnet

/*
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
#pragma GCC optimize("fp-contract=off", "no-math-errno", "no-trapping-math")
#include <math.h>
#include <stdint.h>
#include <string.h>

// Compiled for AVX2 and for the x86-64 baseline, chosen at load time. No
// FMA (and no contraction, -ffp-contract=off): every lane rounds like the
// scalar Go code, so the ReLU masks computed here and in Go (gradSums)
// agree bit for bit.
#if defined(__x86_64__)
#define VEC __attribute__((target_clones("avx2", "default")))
#else
#define VEC
#endif

// Block of pixels processed together by the softmax kernels: small enough
// for the per-class exponentials to stay in L1.
#define BLK 64

VEC static void k_add(float *restrict dst, const float *restrict src, long n) {
	for (long i = 0; i < n; i++) dst[i] += src[i];
}

VEC static void k_lerp(float *restrict y, const float *restrict t, const float *restrict b, long n, float w) {
	for (long i = 0; i < n; i++) y[i] = t[i] + w * (b[i] - t[i]);
}

VEC static void k_add_scaled(float *restrict dst, const float *restrict src, long n, float a) {
	for (long i = 0; i < n; i++) dst[i] += a * src[i];
}

// k_im2col_s1 is im2colS1 (conv.go), a row at a time: no call per row,
// and the copies and zero fills vectorise.
VEC static void k_im2col_s1(const float *restrict x, long c, long h, long w, long d, float *restrict col,
		long r0, long r1) {
	long n = (r1 - r0) * w;
	for (long ci = 0; ci < c; ci++) {
		const float *xc = x + ci * h * w;
		for (long ky = 0; ky < 3; ky++)
			for (long kx = 0; kx < 3; kx++) {
				float *row = col + ((ci * 3 + ky) * 3 + kx) * n;
				long dy = ky * d - d, dx = kx * d - d;
				long oy0 = r0 > -dy ? r0 : -dy, oy1 = r1 < h - dy ? r1 : h - dy;
				long lo = dx < 0 ? -dx : 0, hi = dx > 0 ? w - dx : w;
				for (long oy = r0; oy < r1; oy++) {
					float *dst = row + (oy - r0) * w;
					if (oy < oy0 || oy >= oy1 || hi <= lo) {
						for (long ox = 0; ox < w; ox++) dst[ox] = 0;
						continue;
					}
					const float *src = xc + (oy + dy) * w + dx;
					for (long ox = 0; ox < lo; ox++) dst[ox] = 0;
					for (long ox = lo; ox < hi; ox++) dst[ox] = src[ox];
					for (long ox = hi; ox < w; ox++) dst[ox] = 0;
				}
			}
	}
}

// k_im2col_strided is im2col's general-stride branch (see conv.go).
VEC static void k_im2col_strided(const float *restrict x, long c, long h, long w, long s, long d,
		float *restrict col, long r0, long r1, long wo, long lo0, long hi0, long lo2, long hi2) {
	long n = (r1 - r0) * wo;
	for (long ci = 0; ci < c; ci++) {
		const float *xc = x + ci * h * w;
		for (long ky = 0; ky < 3; ky++)
			for (long kx = 0; kx < 3; kx++) {
				float *row = col + ((ci * 3 + ky) * 3 + kx) * n;
				long dx = kx * d - d;
				long lo = kx == 0 ? lo0 : kx == 1 ? 0 : lo2;
				long hi = kx == 0 ? hi0 : kx == 1 ? (w - 1) / s + 1 : hi2;
				if (kx == 1 && hi > wo) hi = wo;
				for (long oy = r0; oy < r1; oy++) {
					long iy = oy * s - d + ky * d;
					float *dst = row + (oy - r0) * wo;
					if (iy < 0 || iy >= h) {
						for (long ox = 0; ox < wo; ox++) dst[ox] = 0;
						continue;
					}
					const float *src = xc + iy * w + dx;
					for (long ox = 0; ox < lo; ox++) dst[ox] = 0;
					if (s == 2) // a constant stride vectorises with shuffles
						for (long ox = lo; ox < hi; ox++) dst[ox] = src[ox * 2];
					else
						for (long ox = lo; ox < hi; ox++) dst[ox] = src[ox * s];
					for (long ox = hi; ox < wo; ox++) dst[ox] = 0;
				}
			}
	}
}

VEC static void k_bn_apply(const float *x, float *y, long c, long hw, const float *a, const float *b, int relu) {
	for (long ch = 0; ch < c; ch++) {
		const float ca = a[ch], cb = b[ch];
		const float *xs = x + ch * hw;
		float *ys = y + ch * hw;
		if (relu) {
			for (long j = 0; j < hw; j++) {
				float t = ca * xs[j] + cb;
				ys[j] = t > 0 ? t : 0.0f;
			}
		} else {
			for (long j = 0; j < hw; j++) ys[j] = ca * xs[j] + cb;
		}
	}
}

VEC static void k_bn_grad_apply(const float *x, const float *dy, float *dx, long c, long hw,
		const float *ga, const float *gb, const float *gc, const float *fa, const float *fb, int relu) {
	for (long ch = 0; ch < c; ch++) {
		const float a = ga[ch], b = gb[ch], cx = gc[ch], ma = fa[ch], mb = fb[ch];
		const float *xs = x + ch * hw, *dys = dy + ch * hw;
		float *dxs = dx + ch * hw;
		for (long j = 0; j < hw; j++) {
			float dz = dys[j];
			if (relu) {
				float t = ma * xs[j] + mb;
				dz = t > 0 ? dz : 0.0f;
			}
			dxs[j] = a * dz + b + cx * xs[j];
		}
	}
}

// expf_poly is e^x to about 1e-7 relative for x in [-87, 0] (Cephes' expf
// polynomial and an exponent shift), 0 below. Branch-free and without
// float-to-int conversions (n comes from the bits of x*log2(e) + 1.5*2^23,
// which rounds to an integer), so that GCC vectorises loops of it for AVX2.
static inline float expf_poly(float x) {
	float xc = x < -87.0f ? -87.0f : x;
	const float magic = 12582912.0f;
	float t = xc * 1.44269504088896341f + magic;
	float fn = t - magic;
	int32_t tb;
	memcpy(&tb, &t, 4);
	int32_t n = tb - 0x4B400000; // the bits of magic
	float r = xc - fn * 0.693359375f - fn * -2.12194440e-4f;
	float p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r
		+ 1.6666665459e-1f) * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	int32_t bits = (n + 127) << 23;
	float sc;
	memcpy(&sc, &bits, 4);
	float res = p * sc;
	return x < -87.0f ? 0.0f : res;
}

// The block temporaries are local arrays and the pointers restrict: with
// them derived from one scratch slice GCC kept only the scalar version of
// the exponential loops (possible aliasing).
VEC static double k_ce(const float *restrict z, const uint8_t *restrict labels, const float *restrict weight,
		long k, long hw, float inv, float *restrict dz, float *restrict e) {
	float m[BLK], se[BLK], g[BLK]; // e: k*BLK
	double s = 0;
	for (long p0 = 0; p0 < hw; p0 += BLK) {
		long nb = hw - p0 < BLK ? hw - p0 : BLK;
		const float *restrict zp = z + p0;
		for (long j = 0; j < nb; j++) m[j] = zp[j];
		for (long c = 1; c < k; c++)
			for (long j = 0; j < nb; j++) m[j] = zp[c * hw + j] > m[j] ? zp[c * hw + j] : m[j];
		for (long j = 0; j < nb; j++) se[j] = 0;
		for (long c = 0; c < k; c++)
			for (long j = 0; j < nb; j++) {
				float v = expf_poly(zp[c * hw + j] - m[j]);
				e[c * BLK + j] = v;
				se[j] += v;
			}
		for (long j = 0; j < nb; j++) {
			uint8_t y = labels[p0 + j];
			if (y == 255 || y >= k) {
				g[j] = 0;
				continue;
			}
			float w = weight ? weight[p0 + j] : 1.0f;
			s += (double)w * ((double)m[j] + log((double)se[j]) - (double)zp[y * hw + j]);
			g[j] = w * inv / se[j];
		}
		if (!dz) continue;
		float *restrict dp = dz + p0;
		for (long c = 0; c < k; c++)
			for (long j = 0; j < nb; j++) dp[c * hw + j] = g[j] * e[c * BLK + j];
		for (long j = 0; j < nb; j++) {
			uint8_t y = labels[p0 + j];
			if (y != 255 && y < k) dp[y * hw + j] -= (weight ? weight[p0 + j] : 1.0f) * inv;
		}
	}
	return s;
}

VEC static void k_softmax_row(const float *restrict z, long k, long hw, long p0, long n,
		uint8_t *restrict mask, uint8_t *restrict conf) {
	float best[BLK];
	int32_t bi[BLK];
	double se[BLK];
	for (long x0 = 0; x0 < n; x0 += BLK) {
		long nb = n - x0 < BLK ? n - x0 : BLK;
		const float *restrict zp = z + p0 + x0;
		for (long j = 0; j < nb; j++) {
			best[j] = zp[j];
			bi[j] = 0;
			se[j] = 0;
		}
		for (long c = 1; c < k; c++)
			for (long j = 0; j < nb; j++) {
				float v = zp[c * hw + j];
				int gt = v > best[j];
				best[j] = gt ? v : best[j];
				bi[j] = gt ? (int32_t)c : bi[j];
			}
		for (long c = 0; c < k; c++)
			for (long j = 0; j < nb; j++) se[j] += (double)expf_poly(zp[c * hw + j] - best[j]);
		// expf_poly is within 1e-6 of exp, so q is within 3e-4 of the
		// exact quotient: only near a rounding boundary can the 8-bit value
		// differ, and there the exact exponential decides (rarely: the
		// first loop stays vectorised).
		int near = 0;
		for (long j = 0; j < nb; j++) {
			double q = 255.0 / se[j];
			double f = q - (double)(int32_t)q; // q >= 1
			near |= (f > 0.499) & (f < 0.501);
			mask[x0 + j] = (uint8_t)bi[j];
			conf[x0 + j] = (uint8_t)(int32_t)(q + 0.5);
		}
		if (!near) continue;
		for (long j = 0; j < nb; j++) {
			double q = 255.0 / se[j];
			double f = q - floor(q);
			if (f > 0.499 && f < 0.501) {
				double s = 0;
				for (long c = 0; c < k; c++) s += exp((double)(zp[c * hw + j] - best[j]));
				conf[x0 + j] = (uint8_t)round(255.0 / s);
			}
		}
	}
}

static float expf_poly_for_test(float x) { return expf_poly(x); }
*/
import "C"

import (
	"sync"
	"unsafe"
)

// The elementwise kernels of the openblas build: the same operations as
// kernels_go.go, in C so that they are vectorised (the Go compiler does
// not), with a polynomial exponential in the softmax kernels.

func f32p(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

func addTo(dst, src []float32) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1]
	C.k_add(f32p(dst), f32p(src), C.long(len(src)))
}

func lerpRows(y, t, b []float32, w float32) {
	if len(t) == 0 {
		return
	}
	_, _ = y[len(t)-1], b[len(t)-1]
	C.k_lerp(f32p(y), f32p(t), f32p(b), C.long(len(t)), C.float(w))
}

func addScaled(dst, src []float32, a float32) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1]
	C.k_add_scaled(f32p(dst), f32p(src), C.long(len(src)), C.float(a))
}

func im2colStride1(x []float32, c, h, w, d int, col []float32, r0, r1 int) {
	if c == 0 || r1 <= r0 {
		return
	}
	_, _ = x[c*h*w-1], col[c*9*(r1-r0)*w-1]
	C.k_im2col_s1(f32p(x), C.long(c), C.long(h), C.long(w), C.long(d), f32p(col), C.long(r0), C.long(r1))
}

func im2colStrided(x []float32, c, h, w, s, d int, col []float32, r0, r1 int) {
	wo := outSize(w, s, d)
	if c == 0 || r1 <= r0 {
		return
	}
	_, _ = x[c*h*w-1], col[c*9*(r1-r0)*wo-1]
	lo0, hi0 := stridedSpan(w, wo, s, -d)
	lo2, hi2 := stridedSpan(w, wo, s, d)
	C.k_im2col_strided(f32p(x), C.long(c), C.long(h), C.long(w), C.long(s), C.long(d), f32p(col),
		C.long(r0), C.long(r1), C.long(wo), C.long(lo0), C.long(hi0), C.long(lo2), C.long(hi2))
}

func bnApplyImage(x, y []float32, hw int, a, b []float32, relu bool) {
	n := len(a) * hw
	if n == 0 {
		return
	}
	_, _, _ = x[n-1], y[n-1], b[len(a)-1]
	C.k_bn_apply(f32p(x), f32p(y), C.long(len(a)), C.long(hw), f32p(a), f32p(b), cbool(relu))
}

func bnGradApplyImage(x, dy, dx []float32, hw int, ga, gb, gc, fa, fb []float32, relu bool) {
	c := len(ga)
	n := c * hw
	if n == 0 {
		return
	}
	_, _, _ = x[n-1], dy[n-1], dx[n-1]
	_, _, _, _ = gb[c-1], gc[c-1], fa[c-1], fb[c-1]
	C.k_bn_grad_apply(f32p(x), f32p(dy), f32p(dx), C.long(c), C.long(hw),
		f32p(ga), f32p(gb), f32p(gc), f32p(fa), f32p(fb), cbool(relu))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

const kernelBlock = 64 // BLK in the C code

// ceTmp holds k_ce's per-class exponentials (k*BLK floats).
var ceTmp = sync.Pool{New: func() any { return new([]float32) }}

func ceImage(z []float32, labels []uint8, weight []float32, k, hw int, inv float32, dz []float32) float64 {
	if hw == 0 {
		return 0
	}
	_, _ = z[k*hw-1], labels[hw-1]
	var pw, pdz *C.float
	if weight != nil {
		_ = weight[hw-1]
		pw = f32p(weight)
	}
	if dz != nil {
		_ = dz[k*hw-1]
		pdz = f32p(dz)
	}
	p := ceTmp.Get().(*[]float32)
	*p = grow(*p, k*kernelBlock)
	s := C.k_ce(f32p(z), (*C.uint8_t)(unsafe.Pointer(&labels[0])), pw, C.long(k), C.long(hw), C.float(inv), pdz, f32p(*p))
	ceTmp.Put(p)
	return float64(s)
}

func softmaxRow(z []float32, k, hw, p0, n int, mask, conf []uint8) {
	if n == 0 {
		return
	}
	_, _, _ = z[(k-1)*hw+p0+n-1], mask[n-1], conf[n-1]
	C.k_softmax_row(f32p(z), C.long(k), C.long(hw), C.long(p0), C.long(n),
		(*C.uint8_t)(unsafe.Pointer(&mask[0])), (*C.uint8_t)(unsafe.Pointer(&conf[0])))
}

// expfPoly exposes the C exponential to the tests.
func expfPoly(x float32) float32 { return float32(C.expf_poly_for_test(C.float(x))) }
