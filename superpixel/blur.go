package superpixel

import "math"

// gaussianBlur smooths the three planes of lab in place with a separable
// Gaussian of standard deviation sigma pixels, truncated at 2 sigma (at
// least one pixel), replicating the border pixels.
//
// Both passes are the same operation on whole rows, out[x] = Σ_j k[j]
// src[off[j]+x]: the horizontal pass reads a padded copy of the row at
// offsets 0..2r, the vertical pass reads the 2r+1 rows around the output
// row. That keeps memory access sequential and lets convolveRow run eight
// pixels at a time.
func gaussianBlur(lab *LabImage, sigma float64) {
	r := max(1, int(math.Ceil(2*sigma)))
	k := make([]float32, 2*r+1)
	var sum float64
	for i := -r; i <= r; i++ {
		v := math.Exp(-float64(i*i) / (2 * sigma * sigma))
		k[i+r] = float32(v)
		sum += v
	}
	for i := range k {
		k[i] = float32(float64(k[i]) / sum)
	}
	w, h := lab.Width, lab.Height
	pad := make([]float32, w+2*r)
	tmp := make([]float32, w*h)
	off := make([]int, 2*r+1)
	for _, plane := range [][]float32{lab.L, lab.A, lab.B} {
		for j := range off {
			off[j] = j
		}
		for y := range h {
			row := plane[y*w : (y+1)*w]
			copy(pad[r:], row)
			for i := range r {
				pad[i], pad[r+w+i] = row[0], row[w-1]
			}
			convolveRow(tmp[y*w:(y+1)*w], pad, off, k)
		}
		for y := range h {
			for j := range off {
				off[j] = min(h-1, max(0, y+j-r)) * w
			}
			convolveRow(plane[y*w:(y+1)*w], tmp, off, k)
		}
	}
}

// convolveRow sets out[x] = Σ_j k[j] src[off[j]+x], summing in order of j
// (the vector kernel sums in the same order, so both give the same bits).
func convolveRow(out, src []float32, off []int, k []float32) {
	if len(out) == 0 {
		return
	}
	for _, o := range off {
		_ = src[o+len(out)-1] // every read is inside src
	}
	if useAVX2 {
		convolveRowAVX2(&out[0], &src[0], &off[0], &k[0], len(out), len(k))
		return
	}
	for x := range out {
		s := k[0] * src[off[0]+x]
		for j := 1; j < len(k); j++ {
			s += k[j] * src[off[j]+x]
		}
		out[x] = s
	}
}
