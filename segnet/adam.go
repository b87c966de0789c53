package segnet

import "math"

// adamW holds Adam's moment estimates for each parameter (PyTorch's
// torch.optim.AdamW: decoupled weight decay p -= lr*wd*p, bias-corrected
// moments, eps added to the square root).
type adamW struct {
	beta1, beta2, eps float64
	m, v              [][]float32
	step              int // updates done
}

func newAdamW(ps []param) *adamW {
	a := &adamW{beta1: 0.9, beta2: 0.999, eps: 1e-8}
	for _, p := range ps {
		a.m = append(a.m, make([]float32, len(p.v)))
		a.v = append(a.v, make([]float32, len(p.v)))
	}
	return a
}

// update applies one step with learning rate lr and weight decay wd (applied
// to parameters with decay set only).
func (a *adamW) update(ps []param, lr, wd float64, workers int) {
	a.step++
	bc1 := 1 - math.Pow(a.beta1, float64(a.step))
	bc2 := 1 - math.Pow(a.beta2, float64(a.step))
	// 1-beta in float64 first: float32(1)-float32(0.9) is 0.100000024.
	b1, b2 := float32(a.beta1), float32(a.beta2)
	c1, c2 := float32(1-a.beta1), float32(1-a.beta2)
	stepSize := float32(lr / bc1)
	sq2 := float32(math.Sqrt(bc2))
	eps := float32(a.eps)
	parallelFor(len(ps), workers, func(_, i int) {
		p := ps[i]
		m, v := a.m[i], a.v[i]
		decay := float32(1)
		if p.decay {
			decay = float32(1 - lr*wd)
		}
		for j, g := range p.g {
			m[j] = b1*m[j] + c1*g
			v[j] = b2*v[j] + c2*g*g
			den := float32(math.Sqrt(float64(v[j])))/sq2 + eps
			p.v[j] = p.v[j]*decay - stepSize*m[j]/den
		}
	})
}

// cosineLR is lr * (1 + cos(pi * step / total)) / 2.
func cosineLR(lr float64, step, total int) float64 {
	if total <= 0 {
		return lr
	}
	return lr * (1 + math.Cos(math.Pi*float64(min(step, total))/float64(total))) / 2
}
