//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

// micro4x24AVX2 and micro8x32AVX512 are micro-kernels (see kernel) on
// pointers; c has row stride ldc elements.
//
//go:noescape
func micro4x24AVX2(k int, a, b, c *float32, ldc int, load bool)

//go:noescape
func micro8x32AVX512(k int, a, b, c *float32, ldc int, load bool)

//go:noescape
func transpose8x8AVX(src *float32, lds int, dst *float32, ldd int)

//go:noescape
func copyRows32AVX(dst, src *float32, ld, kc int)

//go:noescape
func copyRows24AVX(dst, src *float32, ld, kc int)

// copyRowsAVX is copyRows in YMM moves for the two vector kernels' panel
// widths; false if it does not apply (no AVX, another width).
func copyRowsAVX(dst, src []float32, ld, kc, nr int) bool {
	if !cpu.X86.HasAVX || kc == 0 || (nr != 32 && nr != 24) {
		return false
	}
	_, _ = dst[kc*nr-1], src[(kc-1)*ld+nr-1]
	if nr == 32 {
		copyRows32AVX(&dst[0], &src[0], ld, kc)
	} else {
		copyRows24AVX(&dst[0], &src[0], ld, kc)
	}
	return true
}

// hasTranspose8 is set when transpose8 may be called.
var hasTranspose8 = cpu.X86.HasAVX

// transpose8 sets dst[c*ldd+r] = src[r*lds+c] for r, c < 8.
func transpose8(src []float32, lds int, dst []float32, ldd int) {
	_, _ = src[7*lds+7], dst[7*ldd+7]
	transpose8x8AVX(&src[0], lds, &dst[0], ldd)
}

var (
	avx2Kernel = &kernel{name: "AVX2+FMA", mr: 4, nr: 24, micro: func(k int, a, b, c []float32, ldc int, load bool) {
		_, _, _ = a[4*k-1], b[24*k-1], c[3*ldc+23]
		micro4x24AVX2(k, &a[0], &b[0], &c[0], ldc, load)
	}}
	avx512Kernel = &kernel{name: "AVX-512", mr: 8, nr: 32, micro: func(k int, a, b, c []float32, ldc int, load bool) {
		_, _, _ = a[8*k-1], b[32*k-1], c[7*ldc+31]
		micro8x32AVX512(k, &a[0], &b[0], &c[0], ldc, load)
	}}
)

// kernels lists the kernels this CPU runs, fastest first. x/sys/cpu checks
// that the OS saves the YMM/ZMM registers as well as the CPUID bits.
func kernels() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, goKernel)
}
