//go:build !purego

package superpixel

import "golang.org/x/sys/cpu"

// assignWindowAVX2 is assignWindowGo on eight pixels at a time; the results
// are bit-identical (same operations in the same order, no FMA).
//
//go:noescape
func assignWindowAVX2(l, a, b *float32, dist *uint32, label *int32, dxw, dyw *float32, n, rows, stride int, cl, ca, cb, wc float32, id int32)

// convolveRowAVX2 is convolveRow's loop, bit-identical, eight pixels at a
// time: out[x] = Σ_j k[j] src[off[j]+x] for x < n, j < nk.
//
//go:noescape
func convolveRowAVX2(out, src *float32, off *int, k *float32, n, nk int)

// updateRowAVX2 is updateRowGo, bit-identical.
//
//go:noescape
func updateRowAVX2(label *int32, l, a, b *float32, w int, sum *clusterSum, y int64)

// useAVX2 is set when the CPU has AVX2 and the OS saves the YMM registers
// (x/sys/cpu checks both).
var useAVX2 = cpu.X86.HasAVX2
