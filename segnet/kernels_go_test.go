//go:build !(openblas && cgo)

package segnet

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestExpf32(t *testing.T) { checkExpf(t, "expf32", expf32) }

// BenchmarkSoftmaxRow: one output row of 320 pixels, 8 classes.
func BenchmarkSoftmaxRow(b *testing.B) {
	const k, w = 8, 320
	z := randSlice(rand.New(rand.NewPCG(1, 1)), k*w, 3)
	mask, conf := make([]uint8, w), make([]uint8, w)
	for b.Loop() {
		softmaxRow(z, k, w, 0, w, mask, conf)
	}
}

// TestExpSum16 holds the AVX-512 loop of softmaxRow to expf32 bit for bit:
// over [-87, 0] densely, below -87 (0), at 0, and on lengths that leave a
// remainder for the scalar loop.
func TestExpSum16(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 on this CPU or build")
	}
	const n = 1 << 16
	z, b := make([]float32, n+7), make([]float32, n+7)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range z {
		b[i] = float32(rng.NormFloat64())
		z[i] = b[i] - float32(87*float64(i)/n)
	}
	z[0], z[1], z[2] = b[0], b[1]-87, b[2]-150 // 1, the edge, below it
	for _, m := range []int{16, 17, 31, n + 7} {
		s := make([]float64, m)
		for j := range s {
			s[j] = float64(j) / 3
		}
		want := append([]float64(nil), s...)
		for j := range want {
			want[j] += float64(expf32(z[j] - b[j]))
		}
		done := expSum16(s, z[:m], b[:m])
		if done != m&^15 {
			t.Fatalf("len %d: did %d values", m, done)
		}
		for j := range done {
			if s[j] != want[j] {
				t.Fatalf("len %d: s[%d] = %v, want %v (x = %g)", m, j, s[j], want[j], z[j]-b[j])
			}
		}
	}
}

// TestBnPlane16 holds the AVX-512 loop of bnApplyImage to the scalar one
// bit for bit, with and without ReLU, including values whose affine
// image is ±0.
func TestBnPlane16(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(4, 4))
	x := randSlice(rng, 1000, 2)
	x[0], x[1], x[2] = 0, float32(math.Copysign(0, -1)), 0.5
	const a, b = -1.7, 0.85 // a*0.5 + b = 0
	for _, relu := range []bool{false, true} {
		got := make([]float32, len(x))
		done := bnPlane16(x, got, a, b, relu)
		if done != len(x)&^15 {
			t.Fatalf("did %d values", done)
		}
		want := make([]float32, len(x))
		for j, v := range x {
			u := float32(a*v) + b
			if relu {
				u = math.Float32frombits(math.Float32bits(u) & reluMask(u))
			}
			want[j] = u
		}
		for j := range done {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
				t.Fatalf("relu=%v: y[%d] = %g, want %g", relu, j, got[j], want[j])
			}
		}
	}
}

// TestGatherStrided checks the stride-2 gather (AVX-512 where the CPU has
// it) and other strides against indexing, on lengths around the vector's.
func TestGatherStrided(t *testing.T) {
	src := randSlice(rand.New(rand.NewPCG(5, 5)), 200, 1)
	for _, s := range []int{2, 3} {
		for _, n := range []int{1, 15, 16, 17, 33, 60} {
			for _, off := range []int{0, 1} {
				if off+(n-1)*s >= len(src) {
					continue
				}
				dst := make([]float32, n+1)
				gatherStrided(dst[:n], src, off, s)
				for i := range n {
					if dst[i] != src[off+i*s] {
						t.Fatalf("s=%d n=%d off=%d: dst[%d] = %g, want %g", s, n, off, i, dst[i], src[off+i*s])
					}
				}
				if dst[n] != 0 {
					t.Fatalf("s=%d n=%d: wrote past dst", s, n)
				}
			}
		}
	}
}
