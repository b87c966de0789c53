//go:build !purego && !(openblas && cgo)

package segnet

import "golang.org/x/sys/cpu"

// hasAVX512 selects the AVX-512 loops of bnApplyImage and softmaxRow;
// x/sys/cpu checks that the OS saves the ZMM registers too.
var hasAVX512 = cpu.X86.HasAVX512F

//go:noescape
func expSumAVX512(s *float64, z, b *float32, n int)

//go:noescape
func bnPlaneAVX512(x, y *float32, n int, a, b float32, relu bool)

// expSum16 adds float64(expf32(z[j]-b[j])) to s[j] for the first
// len(s)&^15 values and returns how many it did.
func expSum16(s []float64, z, b []float32) int {
	n := len(s) &^ 15
	if !hasAVX512 || n == 0 {
		return 0
	}
	_, _ = z[n-1], b[n-1]
	expSumAVX512(&s[0], &z[0], &b[0], n)
	return n
}

// bnPlane16 is bnApplyImage's loop over one plane for the first
// len(x)&^15 values; it returns how many it did.
func bnPlane16(x, y []float32, a, b float32, relu bool) int {
	n := len(x) &^ 15
	if !hasAVX512 || n == 0 {
		return 0
	}
	_ = y[n-1]
	bnPlaneAVX512(&x[0], &y[0], n, a, b, relu)
	return n
}

//go:noescape
func gather2AVX512(dst, src *float32, n int)

// gather2x16 sets dst[i] = src[2*i] for the first len(dst)&^15 values
// (fewer if src ends before 2*that), the stride-2 im2col's gather, and
// returns how many it did.
func gather2x16(dst, src []float32) int {
	n := min(len(dst), len(src)/2) &^ 15
	if !hasAVX512 || n == 0 {
		return 0
	}
	gather2AVX512(&dst[0], &src[0], n)
	return n
}
