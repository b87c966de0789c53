package segnet

import "math"

// Ignore is the label value that contributes nothing to the loss.
const Ignore = 255

// crossEntropy computes the mean softmax cross-entropy of logits [n, k, hw]
// against labels [n, hw] (Ignore skipped), each pixel weighted by weight
// [n, hw] (nil: 1), normalised by the total weight of the counted pixels.
// It writes dlogits (same shape as logits; may be nil) and returns the loss
// and the total weight; with no counted pixels it returns 0, 0 and zero
// gradients.
func crossEntropy(logits []float32, labels []uint8, weight []float32, n, k, hw int, dlogits []float32, workers int) (loss, total float64) {
	for i, y := range labels {
		if y != Ignore && int(y) < k {
			if weight == nil {
				total++
			} else {
				total += float64(weight[i])
			}
		}
	}
	parts := make([]float64, n)
	inv := float32(0)
	if total > 0 {
		inv = float32(1 / total)
	}
	parallelFor(n, workers, func(_, i int) {
		z := logits[i*k*hw : (i+1)*k*hw]
		var dz []float32
		if dlogits != nil {
			dz = dlogits[i*k*hw : (i+1)*k*hw]
		}
		var s float64
		var e [256]float64
		for p := range hw {
			y := labels[i*hw+p]
			if y == Ignore || int(y) >= k || total == 0 {
				if dz != nil {
					for c := range k {
						dz[c*hw+p] = 0
					}
				}
				continue
			}
			w := float32(1)
			if weight != nil {
				w = weight[i*hw+p]
			}
			m := z[p]
			for c := 1; c < k; c++ {
				m = max(m, z[c*hw+p])
			}
			var se float64
			for c := range k {
				e[c] = math.Exp(float64(z[c*hw+p] - m))
				se += e[c]
			}
			s += float64(w) * (float64(m) + math.Log(se) - float64(z[int(y)*hw+p]))
			if dz != nil {
				g := float64(w*inv) / se
				for c := range k {
					dz[c*hw+p] = float32(g * e[c])
				}
				dz[int(y)*hw+p] -= w * inv
			}
		}
		parts[i] = s
	})
	if total == 0 {
		return 0, 0
	}
	for _, s := range parts {
		loss += s
	}
	return loss / total, total
}
