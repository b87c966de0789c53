package segnet

import (
	"math"
	"testing"
)

// TestAdamWTorch compares three AdamW steps with torch.optim.AdamW(lr=0.1,
// betas=(0.9, 0.999), eps=1e-8) on the same gradients, weight decay 0.01 on
// p and none on q; expected values printed by PyTorch 1.13.
func TestAdamWTorch(t *testing.T) {
	p := param{v: []float32{1, -2, 0.5}, g: make([]float32, 3), decay: true}
	q := param{v: []float32{0.3}, g: make([]float32, 1)}
	ps := []param{p, q}
	opt := newAdamW(ps)
	for _, g := range [][]float32{{0.5, -1, 0}, {-0.25, 2, 1}, {1, 0.1, -3}} {
		copy(p.g, g)
		q.g[0] = g[0]
		opt.update(ps, 0.1, 0.01, 2)
	}
	want := []float32{0.8047847151756287, -1.9619070291519165, 0.4665865898132324, 0.10755515843629837}
	got := append(append([]float32(nil), p.v...), q.v...)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("parameter %d: %g, PyTorch %g", i, got[i], want[i])
		}
	}
}

func TestCosineLR(t *testing.T) {
	for _, tc := range []struct {
		step, total int
		want        float64
	}{{0, 10, 1e-3}, {5, 10, 5e-4}, {10, 10, 0}, {12, 10, 0}, {3, 0, 1e-3}} {
		if got := cosineLR(1e-3, tc.step, tc.total); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("cosineLR(step %d of %d) = %g, want %g", tc.step, tc.total, got, tc.want)
		}
	}
}
