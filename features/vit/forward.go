package vit

import (
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Output is what Forward returns for one image.
type Output struct {
	GH, GW int       // the patch grid
	Tokens []float32 // [1+GH*GW, D]: the class token, then the patch tokens row by row, after the final norm
	Keys   []float32 // [1+GH*GW, D]: the last block's attention keys (heads side by side), if asked for
}

// Patch returns patch token i (row-major over the grid) of t, an Output's
// Tokens or Keys.
func (o *Output) Patch(t []float32, i int) []float32 {
	d := len(t) / (1 + o.GH*o.GW)
	return t[(1+i)*d : (2+i)*d]
}

// Forward runs the transformer on x, an image of c x h x w normalised
// pixels (channel-major, as Preprocess returns), with at most threads
// goroutines (0 or 1: the caller's goroutine only). The patch grid is
// h/p x w/p; pixels beyond it are ignored, as by the stride-p convolution
// of the references. It panics if x is not c*h*w values or the grid is
// empty.
func (m *Model) Forward(x []float32, h, w, threads int, keys bool) *Output {
	a := m.Arch
	if len(x) != a.Channels*h*w {
		panic(fmt.Sprintf("vit: Forward: %d values for a %dx%dx%d image", len(x), a.Channels, h, w))
	}
	P, D, H := a.Patch, a.Hidden, a.MLP
	gh, gw := h/P, w/P
	if gh == 0 || gw == 0 {
		panic(fmt.Sprintf("vit: Forward: %dx%d image is smaller than one %d-pixel patch", h, w, P))
	}
	threads = max(threads, 1)
	n := 1 + gh*gw
	k := a.Channels * P * P

	// Patch embedding: im2col (c, ky, kx order, as the conv weight) and a GEMM.
	col := make([]float32, gh*gw*k)
	for gy := range gh {
		for gx := range gw {
			dst := col[(gy*gw+gx)*k:]
			for c := range a.Channels {
				for ky := range P {
					src := x[c*h*w+(gy*P+ky)*w+gx*P:]
					copy(dst[(c*P+ky)*P:(c*P+ky+1)*P], src[:P])
				}
			}
		}
	}
	xs := make([]float32, n*D)
	linear(xs[D:], col, gh*gw, k, m.patchW, m.patchB, D, threads)
	col = nil
	copy(xs[:D], m.cls)
	pos := m.interpolatePos(gh, gw, h, w)
	for i, v := range pos {
		xs[i] += v
	}

	hs := make([]float32, n*D)
	qkv := make([]float32, n*3*D)
	att := make([]float32, n*D)
	mlp := make([]float32, n*H)
	scores := make([][]float32, min(threads, a.Heads))
	for i := range scores {
		scores[i] = make([]float32, n*n)
	}
	hd := D / a.Heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	out := &Output{GH: gh, GW: gw}
	for li := range m.blocks {
		b := &m.blocks[li]
		layerNorm(hs, xs, b.ln1W, b.ln1B, a.Eps, n, threads)
		linear(qkv, hs, n, D, b.qkvW, b.qkvB, 3*D, threads)
		if keys && li == len(m.blocks)-1 {
			out.Keys = make([]float32, n*D)
			for r := range n {
				copy(out.Keys[r*D:(r+1)*D], qkv[r*3*D+D:r*3*D+2*D])
			}
		}
		attention(att, qkv, n, D, a.Heads, hd, scale, scores)
		linear(hs, att, n, D, b.projW, b.projB, D, threads)
		residual(xs, hs, b.ls1)
		layerNorm(hs, xs, b.ln2W, b.ln2B, a.Eps, n, threads)
		linear(mlp, hs, n, D, b.fc1W, b.fc1B, H, threads)
		parallelRows(n, threads, func(r0, r1 int) { gelu(mlp[r0*H : r1*H]) })
		linear(hs, mlp, n, H, b.fc2W, b.fc2B, D, threads)
		residual(xs, hs, b.ls2)
	}
	layerNorm(xs, xs, m.normW, m.normB, a.Eps, n, threads)
	out.Tokens = xs
	return out
}

// parallelRows calls fn over a split of rows [0, n) into at most threads
// contiguous ranges, concurrently.
func parallelRows(n, threads int, fn func(r0, r1 int)) {
	t := min(threads, n)
	if t <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range t {
		r0, r1 := i*n/t, (i+1)*n/t
		wg.Go(func() { fn(r0, r1) })
	}
	wg.Wait()
}

// linear writes y = x·Wᵀ + b for the n rows of x [n, in]; W is [out, in].
func linear(y, x []float32, n, in int, w, b []float32, out, threads int) {
	impl := blas32.Implementation()
	parallelRows(n, threads, func(r0, r1 int) {
		if r1 == r0 {
			return
		}
		impl.Sgemm(blas.NoTrans, blas.Trans, r1-r0, out, in, 1, x[r0*in:r1*in], in, w, in, 0, y[r0*out:r1*out], out)
		addBias(y[r0*out:], b, 0, r1-r0)
	})
}

// layerNorm normalises the n rows of x into y (which may be x).
func layerNorm(y, x, w, b []float32, eps float64, n, threads int) {
	d := len(w)
	parallelRows(n, threads, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			layerNormRow(y[r*d:(r+1)*d], x[r*d:(r+1)*d], w, b, eps)
		}
	})
}

// residual adds branch (scaled elementwise by ls, unless nil) to x.
func residual(x, branch, ls []float32) {
	if ls == nil {
		for i, v := range branch {
			x[i] += v
		}
		return
	}
	d := len(ls)
	for r := 0; r < len(x); r += d {
		xr, br := x[r:r+d], branch[r:r+d]
		for i, g := range ls {
			xr[i] += g * br[i]
		}
	}
}

// attention writes, for each head, softmax(q·kᵀ·scale)·v into its columns
// of out [n, D], reading q, k and v from qkv [n, 3D]; one goroutine per
// scores buffer, heads dealt round-robin.
func attention(out, qkv []float32, n, D, heads, hd int, scale float32, scores [][]float32) {
	impl := blas32.Implementation()
	head := func(h int, s []float32) {
		q, k, v := qkv[h*hd:], qkv[D+h*hd:], qkv[2*D+h*hd:]
		impl.Sgemm(blas.NoTrans, blas.Trans, n, n, hd, scale, q, 3*D, k, 3*D, 0, s, n)
		softmaxRows(s, n, n)
		impl.Sgemm(blas.NoTrans, blas.NoTrans, n, hd, n, 1, s, n, v, 3*D, 0, out[h*hd:], D)
	}
	if len(scores) == 1 {
		for h := range heads {
			head(h, scores[0])
		}
		return
	}
	var wg sync.WaitGroup
	for t, s := range scores {
		wg.Go(func() {
			for h := t; h < heads; h += len(scores) {
				head(h, s)
			}
		})
	}
	wg.Wait()
}
