//go:build !amd64 || purego

package cluster

const useAVX2 = false

func dot4AVX2(z0, z1, z2, z3, w0, w1, w2, w3 *float64, m int, out *[4]float64) { panic("unreachable") }

func dot2x4AVX2(z0, z1, w0, w1, w2, w3 *float64, m int, out *[8]float64) { panic("unreachable") }

func momentsAVX2(x, ctr, s1, s2 *float64, r float64, d int) { panic("unreachable") }

func loadSquareAVX2(x, off, xc, z *float64, d int) float64 { panic("unreachable") }

func boundMaskAVX2(ub *float32, cum *float64, n int, zn, thr float64) uint64 { panic("unreachable") }
