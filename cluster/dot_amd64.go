//go:build !purego

package cluster

import "golang.org/x/sys/cpu"

//go:noescape
func dot4AVX2(z0, z1, z2, z3, w0, w1, w2, w3 *float64, m int, out *[4]float64)

//go:noescape
func dot2x4AVX2(z0, z1, w0, w1, w2, w3 *float64, m int, out *[8]float64)

//go:noescape
func momentsAVX2(x, ctr, s1, s2 *float64, r float64, d int)

//go:noescape
func boundMaskAVX2(ub *float32, cum *float64, n int, zn, thr float64) uint64

//go:noescape
func loadSquareAVX2(x, off, xc, z *float64, d int) (chk float64)

// useAVX2 is set when the CPU has AVX2 and FMA and the OS saves the YMM
// registers (x/sys/cpu checks both).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA
