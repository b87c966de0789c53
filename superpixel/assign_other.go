//go:build !amd64 || purego

package superpixel

const useAVX2 = false

func assignWindowAVX2(l, a, b *float32, dist *uint32, label *int32, dxw, dyw *float32, n, rows, stride int, cl, ca, cb, wc float32, id int32) {
	panic("unreachable")
}

func convolveRowAVX2(out, src *float32, off *int, k *float32, n, nk int) { panic("unreachable") }

func updateRowAVX2(label *int32, l, a, b *float32, w int, sum *clusterSum, y int64) {
	panic("unreachable")
}
