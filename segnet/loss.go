package segnet

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
		var dz, wi []float32
		if dlogits != nil {
			dz = dlogits[i*k*hw : (i+1)*k*hw]
		}
		if weight != nil {
			wi = weight[i*hw : (i+1)*hw]
		}
		if total == 0 {
			clear(dz)
			return
		}
		parts[i] = ceImage(logits[i*k*hw:(i+1)*k*hw], labels[i*hw:(i+1)*hw], wi, k, hw, inv, dz)
	})
	if total == 0 {
		return 0, 0
	}
	for _, s := range parts {
		loss += s
	}
	return loss / total, total
}
