package gemm

// goKernel is the portable micro-kernel: a 4x4 tile in sixteen scalar
// accumulators, few enough for the registers of arm64 (32) and not many
// spills on amd64.
var goKernel = &kernel{name: "portable Go", mr: 4, nr: 4, micro: micro4x4}

func micro4x4(k int, a, b, c []float32, ldc int, load bool) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	a, b = a[:4*k], b[:4*k]
	for p := 0; p < len(a); p += 4 {
		ap, bp := a[p:p+4:p+4], b[p:p+4:p+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		a0 := ap[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := ap[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := ap[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := ap[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	acc := [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
	for i := range 4 {
		row := c[i*ldc : i*ldc+4]
		src := acc[i*4 : i*4+4]
		if load {
			for j := range row {
				row[j] += src[j]
			}
		} else {
			copy(row, src)
		}
	}
}
