package segnet

import "math"

// The SwAV head and loss (Caron et al., "Unsupervised learning of visual
// features by contrasting cluster assignments", NeurIPS 2020), in float64 on
// the small [views, D] embedding matrices; the network before it is float32.

// gapForward writes z [n, c], the mean over the hw positions of each plane
// of x [n, c, hw] (global average pooling).
func gapForward(x []float32, n, c, hw int, z []float64) {
	for i := range n * c {
		z[i] = sum(x[i*hw:(i+1)*hw]) / float64(hw)
	}
}

// gapBackward writes dx [n, c, hw] = dz / hw broadcast over each plane.
func gapBackward(dz []float64, n, c, hw int, dx []float32) {
	for i := range n * c {
		g := float32(dz[i] / float64(hw))
		row := dx[i*hw : (i+1)*hw]
		for j := range row {
			row[j] = g
		}
	}
}

// l2Normalize writes u = z/|z| row by row (n rows of d) and returns the
// norms (floored at 1e-12, as torch.nn.functional.normalize does).
func l2Normalize(z []float64, n, d int, u []float64) []float64 {
	norms := make([]float64, n)
	for i := range n {
		var s float64
		for _, v := range z[i*d : (i+1)*d] {
			s += v * v
		}
		nr := max(math.Sqrt(s), 1e-12)
		norms[i] = nr
		for j := range d {
			u[i*d+j] = z[i*d+j] / nr
		}
	}
	return norms
}

// l2NormalizeBackward writes dz from du for u = z/|z|:
// dz = (du - u (u·du)) / |z|.
func l2NormalizeBackward(u, du, norms []float64, n, d int, dz []float64) {
	for i := range n {
		ui, gi := u[i*d:(i+1)*d], du[i*d:(i+1)*d]
		var dot float64
		for j := range d {
			dot += ui[j] * gi[j]
		}
		for j := range d {
			dz[i*d+j] = (gi[j] - ui[j]*dot) / norms[i]
		}
	}
}

// scores writes s [n, p] = u Cᵀ for embeddings u [n, d] and prototypes
// c [p, d] (float32, the trained parameter).
func scores(u []float64, n, d int, c []float32, p int, s []float64) {
	for i := range n {
		ui := u[i*d : (i+1)*d]
		for k := range p {
			ck := c[k*d : (k+1)*d]
			var acc float64
			for j := range d {
				acc += ui[j] * float64(ck[j])
			}
			s[i*p+k] = acc
		}
	}
}

// scoresBackward accumulates dC += dsᵀ u (if dc != nil) and writes
// du = ds C.
func scoresBackward(ds, u []float64, n, d int, c []float32, p int, du []float64, dc []float64) {
	clear(du[:n*d])
	for i := range n {
		ui, gi := u[i*d:(i+1)*d], du[i*d:(i+1)*d]
		for k := range p {
			g := ds[i*p+k]
			if g == 0 {
				continue
			}
			ck := c[k*d : (k+1)*d]
			for j := range d {
				gi[j] += g * float64(ck[j])
			}
			if dc != nil {
				dk := dc[k*d : (k+1)*d]
				for j := range d {
					dk[j] += g * ui[j]
				}
			}
		}
	}
}

// swappedCE returns Σ_i w_i Σ_k -q_ik log softmax(s_i/τ)_k over n rows of
// p scores, with targets q (rows summing to 1, held constant, as SwAV
// treats its codes) and row weights w, and writes its gradient
// ds_ik = w_i (softmax(s_i/τ)_k - q_ik) / τ.
func swappedCE(s, q, w []float64, n, p int, tau float64, ds []float64) float64 {
	var loss float64
	for i := range n {
		si, qi := s[i*p:(i+1)*p], q[i*p:(i+1)*p]
		m := math.Inf(-1)
		for _, v := range si {
			m = max(m, v/tau)
		}
		var se float64
		for _, v := range si {
			se += math.Exp(v/tau - m)
		}
		lse := m + math.Log(se)
		var l float64
		for k, v := range si {
			l -= qi[k] * (v/tau - lse)
			if ds != nil {
				ds[i*p+k] = w[i] * (math.Exp(v/tau-lse) - qi[k]) / tau
			}
		}
		loss += w[i] * l
	}
	return loss
}

// sinkhorn returns the SwAV codes of the first n of the rows of s
// [rows, p] (the batch first, then the queue): Q = exp(s/eps)ᵀ rescaled by
// iters rounds of Sinkhorn-Knopp so that the prototypes share the rows
// equally and each row is a distribution (Cuturi 2013; Asano et al. 2020).
// The result is [n, p], rows summing to 1.
func sinkhorn(s []float64, rows, p int, eps float64, iters int, n int) []float64 {
	q := make([]float64, rows*p)
	m := math.Inf(-1)
	for _, v := range s[:rows*p] {
		m = max(m, v/eps)
	}
	var tot float64
	for i, v := range s[:rows*p] {
		q[i] = math.Exp(v/eps - m)
		tot += q[i]
	}
	for i := range q {
		q[i] /= tot
	}
	col := make([]float64, p)
	for range iters {
		// Each prototype gets total mass 1/p ...
		clear(col)
		for i := range rows {
			for k := range p {
				col[k] += q[i*p+k]
			}
		}
		for i := range rows {
			for k := range p {
				if col[k] > 0 {
					q[i*p+k] /= col[k] * float64(p)
				}
			}
		}
		// ... and each row 1/rows.
		for i := range rows {
			var rs float64
			for k := range p {
				rs += q[i*p+k]
			}
			if rs > 0 {
				for k := range p {
					q[i*p+k] /= rs * float64(rows)
				}
			}
		}
	}
	out := q[:n*p]
	for i := range out {
		out[i] *= float64(rows)
	}
	return out
}

// codeEntropy returns the entropy (nats) of the distribution of the argmax
// prototype over the rows of s [n, p]: log p when every prototype is used
// equally, 0 when one prototype takes everything (collapse).
func codeEntropy(s []float64, n, p int) float64 {
	cnt := make([]float64, p)
	for i := range n {
		best := 0
		for k := 1; k < p; k++ {
			if s[i*p+k] > s[i*p+best] {
				best = k
			}
		}
		cnt[best]++
	}
	var h float64
	for _, c := range cnt {
		if c > 0 {
			f := c / float64(n)
			h -= f * math.Log(f)
		}
	}
	return h
}
