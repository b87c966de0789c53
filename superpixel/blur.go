package superpixel

import "math"

// gaussianBlur smooths the three planes of lab in place with a separable
// Gaussian of standard deviation sigma pixels, truncated at 2 sigma (at
// least one pixel), replicating the border pixels.
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
	src := make([]float32, w*h)
	for _, plane := range [][]float32{lab.L, lab.A, lab.B} {
		// Horizontal pass, row by row through a padded copy.
		for y := range h {
			row := plane[y*w : (y+1)*w]
			copy(pad[r:], row)
			for i := range r {
				pad[i], pad[r+w+i] = row[0], row[w-1]
			}
			for x := range row {
				win := pad[x : x+len(k)]
				var s float32
				for j, kv := range k {
					s += win[j] * kv
				}
				row[x] = s
			}
		}
		// Vertical pass: whole rows at a time, which keeps memory access
		// sequential.
		copy(src, plane)
		for y := range h {
			out := plane[y*w : (y+1)*w]
			clear(out)
			for j, kv := range k {
				yy := min(h-1, max(0, y+j-r))
				in := src[yy*w : (yy+1)*w]
				for x := range out {
					out[x] += kv * in[x]
				}
			}
		}
	}
}
