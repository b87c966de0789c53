package cluster

import (
	"math"
	"math/bits"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// featureMap says how a row x (already centred by the kernel's offset) is
// expanded into the row z(x) whose dot product with a component's weight row
// gives the component's log-density term.
type featureMap int

const (
	// fmQuad: z = [xᵢxⱼ (i ≤ j, row-major upper triangle), x, 1]. With
	// w = −½[Λᵢᵢ or 2Λᵢⱼ, −2Λμ, μᵀΛμ] + log c, z·w = log c − ½(x−μ)ᵀΛ(x−μ).
	fmQuad featureMap = iota
	// fmSquare: z = [x², x, 1] for diagonal precisions.
	fmSquare
	// fmNorm: z = [|x|², x, 1] for spherical precisions.
	fmNorm
	// fmLinear: z = [x, 1]; with w = [c, −½|c|²], argmax z·w is the nearest
	// centre c (Lloyd's assignment step).
	fmLinear
)

func featureWidth(f featureMap, d int) int {
	switch f {
	case fmQuad:
		return d*(d+1)/2 + d + 1
	case fmSquare:
		return 2*d + 1
	case fmNorm:
		return d + 2
	default:
		return d + 1
	}
}

// kernel turns the E-step (or Lloyd's assignment step) for a block of rows
// into one GEMM: L = Z Wᵀ, Z the block's feature rows (nb×m), W the K×m
// weights. For full covariances this costs nb·K·D²/2 multiply-adds per block,
// half of the per-component triangular products (X−μ_k)·P_k, and runs as a
// single dot-product-shaped GEMM instead of K small ones.
//
// The rows are centred on offset (the mixture mean, or during EM the fit
// rows' mean) first so that the expanded quadratic form does not cancel badly
// for data far from the origin.
type kernel struct {
	fm      featureMap
	k, d, m int
	offset  []float64 // D
	centers []float64 // K×D: component means (or k-means centres) minus offset
	w       []float64 // K×m
	nb      int       // rows per GEMM block

	// Float32 screening (see screen): w32 = float32(w), wnorm[k] = ‖w_k‖₂.
	w32   []float32
	wnorm []float64
	// dw[k] bounds |z·w_k − z·w_k⁻|/‖z‖ as computed, w_k⁻ the previous
	// iteration's kernel (same offset): ‖w_k − w_k⁻‖₂ plus rounding; for
	// bounds, nil when there is no previous kernel.
	dw []float64
}

// blockRows picks the GEMM block height: small enough that a block of
// features stays in cache and that gonum's Dgemm runs serially (it goes
// parallel from 4 blocks of 64×64 of the output), and independent of the
// number of workers so results are too.
func blockRows(m, k int) int {
	nb := 65536 / m
	nb = max(8, min(nb, 128))
	if k > 64 {
		nb = min(nb, 64)
	}
	return nb
}

func newKernel(fm featureMap, k, d int, offset, centers []float64) *kernel {
	m := featureWidth(fm, d)
	return &kernel{fm: fm, k: k, d: d, m: m, offset: offset, centers: centers,
		w: make([]float64, k*m), nb: blockRows(m, k)}
}

// kernel builds the E-step kernel of g, centred on its mixture mean.
func (g *GMM) kernel() *kernel {
	k, d := g.k, g.d
	offset := make([]float64, d)
	for c := range k {
		for j := range d {
			offset[j] += g.weights[c] * g.means[c*d+j]
		}
	}
	return g.kernelAt(offset)
}

// kernelAt builds the E-step kernel of g for rows centred on offset.
func (g *GMM) kernelAt(offset []float64) *kernel {
	k, d := g.k, g.d
	centers := make([]float64, k*d)
	for c := range k {
		for j := range d {
			centers[c*d+j] = g.means[c*d+j] - offset[j]
		}
	}
	var fm featureMap
	switch g.typ {
	case Full, Tied:
		fm = fmQuad
	case Diag:
		fm = fmSquare
	case Spherical:
		fm = fmNorm
	}
	kr := newKernel(fm, k, d, offset, centers)
	lam := make([]float64, d)
	for c := range k {
		w := kr.w[c*kr.m : (c+1)*kr.m]
		mu := centers[c*d : (c+1)*d]
		var q float64 // μᵀΛμ
		switch fm {
		case fmQuad:
			p := g.prec[c*d*d : (c+1)*d*d]
			idx := 0
			for i := range d {
				w[idx] = -0.5 * p[i*d+i]
				idx++
				for j := i + 1; j < d; j++ {
					w[idx] = -p[i*d+j]
					idx++
				}
			}
			for i := range d {
				var s float64
				for j := range d {
					s += p[i*d+j] * mu[j]
				}
				lam[i] = s
				q += s * mu[i]
			}
			for i := range d {
				w[idx+i] = lam[i]
			}
		case fmSquare:
			p := g.prec[c*d : (c+1)*d]
			for i := range d {
				w[i] = -0.5 * p[i]
				w[d+i] = p[i] * mu[i]
				q += p[i] * mu[i] * mu[i]
			}
		case fmNorm:
			p := g.prec[c]
			w[0] = -0.5 * p
			for i := range d {
				w[1+i] = p * mu[i]
				q += mu[i] * mu[i]
			}
			q *= p
		}
		w[kr.m-1] = g.logc[c] - 0.5*q
	}
	kr.wnorm = make([]float64, k)
	for c := range k {
		var s float64
		for _, v := range kr.w[c*kr.m : (c+1)*kr.m] {
			s += v * v
		}
		kr.wnorm[c] = math.Sqrt(s)
	}
	// The float32 screen pays only for full covariances (m ≈ D²/2): for
	// diagonal and spherical ones the exact float64 kernel (dot.go) costs
	// less than the screen and its follow-up dot products.
	if fm == fmQuad {
		kr.useScreen()
	}
	return kr
}

// useScreen makes the passes with kr screen in float32 (see screen).
func (kr *kernel) useScreen() {
	kr.w32 = make([]float32, len(kr.w))
	for i, v := range kr.w {
		kr.w32[i] = float32(v)
	}
}

// lloydKernel builds the nearest-centre kernel; centers are in the
// coordinates of x (copied).
func lloydKernel(k, d int, offset, centers []float64) *kernel {
	cc := make([]float64, k*d)
	for c := range k {
		for j := range d {
			cc[c*d+j] = centers[c*d+j] - offset[j]
		}
	}
	kr := newKernel(fmLinear, k, d, offset, cc)
	for c := range k {
		w := kr.w[c*kr.m : (c+1)*kr.m]
		var n2 float64
		for j := range d {
			v := cc[c*d+j]
			w[j] = v
			n2 += v * v
		}
		w[d] = -0.5 * n2
	}
	return kr
}

// load copies rows [r0, r0+nb) of x, centred, into xc (nb×D), and sets
// chk[i] to Σ xc·0: 0, or NaN when the centred row is not finite.
func (kr *kernel) load(x blas64.General, r0, nb int, xc, chk []float64) {
	d := kr.d
	for i := range nb {
		row := x.Data[(r0+i)*x.Stride : (r0+i)*x.Stride+d]
		dst := xc[i*d : (i+1)*d]
		var s float64
		for j, v := range row {
			c := v - kr.offset[j]
			dst[j] = c
			s += c * 0
		}
		chk[i] = s
	}
}

// loadSquare is load followed by the fmSquare features, in one sweep.
func (kr *kernel) loadSquare(x blas64.General, r0, nb int, xc, z, chk []float64) {
	d, m := kr.d, kr.m
	for i := range nb {
		row := x.Data[(r0+i)*x.Stride : (r0+i)*x.Stride+d]
		zr := z[i*m : (i+1)*m]
		chk[i] = loadSquare(row, kr.offset, xc[i*d:(i+1)*d], zr, d)
		zr[m-1] = 1
	}
}

// znorms sets zn[i] = ‖z(xc_i)‖₂ (as features does) for nb centred rows.
func (kr *kernel) znorms(xc []float64, nb int, zn []float64) {
	d := kr.d
	for i := range nb {
		var s2, s4 float64
		for _, v := range xc[i*d : (i+1)*d] {
			v2 := v * v
			s2 += v2
			s4 += v2 * v2
		}
		var nz float64
		switch kr.fm {
		case fmQuad:
			nz = (s2*s2+s4)/2 + s2
		case fmSquare:
			nz = s4 + s2
		case fmNorm:
			nz = s2*s2 + s2
		case fmLinear:
			nz = s2
		}
		zn[i] = math.Sqrt(nz + 1)
	}
}

// features expands nb centred rows xc into z (nb×m). If z32 is not nil it
// also writes float32(z) there and ‖z_i‖₂ into znorm.
func (kr *kernel) features(xc []float64, nb int, z []float64, z32 []float32, znorm []float64) {
	d, m := kr.d, kr.m
	for i := range nb {
		x := xc[i*d : (i+1)*d]
		zr := z[i*m : (i+1)*m]
		var zr32 []float32
		if z32 != nil {
			zr32 = z32[i*m : (i+1)*m]
		}
		var s2, s4 float64 // Σx², Σx⁴
		for _, v := range x {
			v2 := v * v
			s2 += v2
			s4 += v2 * v2
		}
		var nz float64 // ‖z‖²
		switch kr.fm {
		case fmQuad:
			idx := 0
			for a, xa := range x {
				dst := zr[idx : idx+d-a]
				if zr32 != nil {
					quadRow(xa, x[a:], dst, zr32[idx:idx+d-a])
				} else {
					for b, xb := range x[a:] {
						dst[b] = xa * xb
					}
				}
				idx += d - a
			}
			copy(zr[idx:idx+d], x)
			// Σ_{a≤b} xa²xb² = ((Σx²)² + Σx⁴)/2.
			nz = (s2*s2+s4)/2 + s2
		case fmSquare:
			sq, ln := zr[:d], zr[d:2*d]
			if zr32 != nil || znorm != nil {
				if zr32 == nil {
					for j, v := range x {
						sq[j], ln[j] = v*v, v
					}
					zr[m-1] = 1
					znorm[i] = math.Sqrt(s4 + s2 + 1)
					continue
				}
				sq32, ln32 := zr32[:d], zr32[d:2*d]
				for j, v := range x {
					sq[j], ln[j] = v*v, v
					sq32[j], ln32[j] = float32(v*v), float32(v)
				}
				zr32[m-1] = 1
				znorm[i] = math.Sqrt(s4 + s2 + 1)
				zr[m-1] = 1
				continue
			}
			for j, v := range x {
				sq[j], ln[j] = v*v, v
			}
			nz = s4 + s2
		case fmNorm:
			zr[0] = s2
			copy(zr[1:1+d], x)
			nz = s2*s2 + s2
		case fmLinear:
			copy(zr[:d], x)
			nz = s2
		}
		zr[m-1] = 1
		if znorm != nil {
			znorm[i] = math.Sqrt(nz + 1)
		}
		if zr32 != nil {
			start := 0
			if kr.fm == fmQuad {
				start = d * (d + 1) / 2
			}
			for j, v := range zr[start:] {
				zr32[start+j] = float32(v)
			}
		}
	}
}

// scores computes l (nb×K) = z wᵀ exactly, two rows by four components per
// kernel call (the same bits as dotPairs').
func (kr *kernel) scores(z []float64, nb int, l []float64) {
	k, m, w := kr.k, kr.m, kr.w
	var o [8]float64
	i := 0
	for ; i+2 <= nb; i += 2 {
		z0, z1 := z[i*m:(i+1)*m], z[(i+1)*m:(i+2)*m]
		l0, l1 := l[i*k:(i+1)*k], l[(i+1)*k:(i+2)*k]
		for c := 0; c < k; c += 4 {
			c1, c2, c3 := min(c+1, k-1), min(c+2, k-1), min(c+3, k-1)
			dot2x4(z0, z1, w[c*m:], w[c1*m:], w[c2*m:], w[c3*m:], m, &o)
			for j := range min(4, k-c) {
				l0[c+j], l1[c+j] = o[j], o[4+j]
			}
		}
	}
	if i < nb {
		zr := z[i*m : (i+1)*m]
		var o4 [4]float64
		for c := 0; c < k; c += 4 {
			c1, c2, c3 := min(c+1, k-1), min(c+2, k-1), min(c+3, k-1)
			dot4(zr, zr, zr, zr, w[c*m:], w[c1*m:], w[c2*m:], w[c3*m:], m, &o4)
			for j := range min(4, k-c) {
				l[i*k+c+j] = o4[j]
			}
		}
	}
}

// dotPairs sets l[e] = z_i·w_c for every entry e = i·K + c listed, four per
// kernel call whatever rows they belong to.
func (kr *kernel) dotPairs(z []float64, entries []int32, l []float64) {
	k, m, w := int32(kr.k), kr.m, kr.w
	var o [4]float64
	for g := 0; g < len(entries); g += 4 {
		n := min(4, len(entries)-g)
		var e [4]int32
		for j := range 4 {
			e[j] = entries[g+min(j, n-1)]
		}
		r0, r1, r2, r3 := int(e[0]/k)*m, int(e[1]/k)*m, int(e[2]/k)*m, int(e[3]/k)*m
		c0, c1, c2, c3 := int(e[0]%k)*m, int(e[1]%k)*m, int(e[2]%k)*m, int(e[3]%k)*m
		dot4(z[r0:], z[r1:], z[r2:], z[r3:], w[c0:], w[c1:], w[c2:], w[c3:], m, &o)
		for j := range n {
			l[e[j]] = o[j]
		}
	}
}

// screen computes l (nb×K) = z wᵀ exactly (float64) for the entries that can
// matter, and −Inf for the others. A float32 GEMM, l32 = z32 w32ᵀ, at twice
// gonum's float64 speed, bounds every entry: |l32 − l| ≤ e = γ·‖z‖‖w_k‖ with
// γ = (m+4)·2⁻²³, twice the classical bound of a float32 dot product of
// length m of float32-rounded operands. An entry whose upper bound l32+e is
// more than pruneLog below the largest lower bound is pruned by the E-step
// anyway (responsibility < e⁻⁵⁰), so only the others are computed, as
// float64 dot products identical to the Dgemm ones. The result equals
// scores' after pruning, at about half the cost.
//
// If ub is not nil it receives an upper bound of every entry (the exact
// value, or l32+e for a pruned one) in bd's stored form, for the bounds of
// the next iterations.
func (kr *kernel) screen(z []float64, z32 []float32, znorm []float64, nb int, l32 []float32, l []float64, ub []float32, bd *bounds, entries []int32) {
	k, m := kr.k, kr.m
	blas32.Implementation().Sgemm(blas.NoTrans, blas.Trans, nb, k, m,
		1, z32, m, kr.w32, m, 0, l32, k)
	entries = entries[:0]
	gamma := float64(m+4) * 0x1p-23
	for i := range nb {
		s32 := l32[i*k : (i+1)*k]
		out := l[i*k : (i+1)*k]
		// Bounds hold only while no float32 value or partial sum can
		// overflow: Σ|z_i w_i| ≤ ‖z‖‖w‖ < 1e30/γ < 3e38. Beyond that (or for
		// NaN) the entry is computed exactly; the 1e−6 covers underflow.
		lo := math.Inf(-1)
		for c, v := range s32 {
			if e := gamma*znorm[i]*kr.wnorm[c] + 1e-6; e < 1e30 && znorm[i] < 1e30 && kr.wnorm[c] < 1e30 {
				lo = max(lo, float64(v)-e)
			}
		}
		for c, v := range s32 {
			e := gamma*znorm[i]*kr.wnorm[c] + 1e-6
			if e < 1e30 && znorm[i] < 1e30 && kr.wnorm[c] < 1e30 && float64(v)+e < lo-pruneLog {
				out[c] = math.Inf(-1)
				if ub != nil {
					ub[i*k+c] = bd.store(float64(v)+e, znorm[i], c)
				}
				continue
			}
			entries = append(entries, int32(i*k+c))
		}
	}
	kr.dotPairs(z, entries, l)
	if ub != nil {
		for _, e := range entries {
			i, c := int(e)/k, int(e)%k
			ub[e] = bd.store(l[e], znorm[i], c)
		}
	}
}

// quadRow writes xa·xs into dst and float32(xa·xs) into dst32 (unrolled:
// this expansion is a sizeable part of the full-covariance E-step).
func quadRow(xa float64, xs, dst []float64, dst32 []float32) {
	n := len(xs)
	dst = dst[:n]
	dst32 = dst32[:n]
	b := 0
	for ; b+4 <= n; b += 4 {
		x4 := xs[b : b+4 : b+4]
		d4 := dst[b : b+4 : b+4]
		f4 := dst32[b : b+4 : b+4]
		p0, p1, p2, p3 := xa*x4[0], xa*x4[1], xa*x4[2], xa*x4[3]
		d4[0], d4[1], d4[2], d4[3] = p0, p1, p2, p3
		f4[0], f4[1], f4[2], f4[3] = float32(p0), float32(p1), float32(p2), float32(p3)
	}
	for ; b < n; b++ {
		p := xa * xs[b]
		dst[b] = p
		dst32[b] = float32(p)
	}
}

// upper32 returns a float32 not below v and close to it (at most two
// float32 steps above for |v| > 1e−30): v's upper bound in float32, for
// stored bounds. Conversion rounds to nearest, within |y|·2⁻²⁴ (2⁻¹⁵⁰ when
// subnormal) of y, so lifting v by |v|·2⁻²³ + 2⁻¹⁴⁰ first, and keeping it
// above −MaxFloat32, leaves the result above v without a data-dependent
// branch (a mispredicted one cost as much as the rest of a stored bound).
// −Inf and NaN give NaN, which no bound test excludes.
func upper32(v float64) float32 {
	return float32(max(v+math.Abs(v)*0x1p-23+0x1p-140, -math.MaxFloat32))
}

// toFloat32 converts z (nb×m) to float32 into z32.
func toFloat32(z []float64, z32 []float32) {
	z32 = z32[:len(z)]
	for i, v := range z {
		z32[i] = float32(v)
	}
}

// boundMaxExact is the number of exact dot products per row past which the
// float32 GEMM is cheaper than the bounds: a dot product costs about as much
// as 2.5 columns of the GEMM plus a call. Tests replace it.
var boundMaxExact = func(k, m int) int { return k * m / (5*m/2 + 150) }

// bounds carry, from one EM iteration to the next, an upper bound of every
// row's log-density term l_nk = z(x_n)·w_k (float32, rounded up) and its
// most probable component. With the rows centred on a fixed offset, z(x_n)
// does not change, so |l_nk⁽ᵗ⁺¹⁾ − l_nk⁽ᵗ⁾| ≤ ‖z(x_n)‖·‖w_k⁽ᵗ⁺¹⁾ − w_k⁽ᵗ⁾‖
// (Cauchy-Schwarz): once EM moves slowly, a component far from a row stays
// provably negligible for it without any GEMM (in the spirit of Elkan's
// triangle-inequality bounds for k-means, ICML 2003). Only the row's previous
// best and the components the bound cannot exclude are computed, exactly.
//
// To avoid rewriting every bound each iteration, ub holds u − ‖z‖·C_k with
// C_k = Σ‖Δw_k‖ over the iterations so far (cum): the bound at any later
// iteration is ub + ‖z‖·C_k, so an entry is written only when it is
// recomputed.
type bounds struct {
	ub    []float32 // N×K, normalised as above, rounded up
	best  []int32   // N
	zn    []float64 // N: ‖z(x_n)‖₂, fixed with the offset (exact path)
	cum   []float64 // K
	ready bool
}

// bound returns the current upper bound of an entry from its stored value.
// The relative 1e−9 and absolute 1e−9 cover the float64 rounding of the
// normalisation and of this sum.
func (bd *bounds) bound(v float32, zn float64, c int) float64 {
	t := zn * bd.cum[c]
	u := float64(v) + t
	return u + 1e-9*(math.Abs(float64(v))+t) + 1e-9
}

// store returns the stored (normalised) form of the upper bound u.
func (bd *bounds) store(u, zn float64, c int) float32 {
	t := zn * bd.cum[c]
	v := u - t
	return upper32(v + 1e-9*(math.Abs(u)+t))
}

// boundList is boundRows for chunkFused: it lists each row's entries that
// the bounds cannot exclude, the previous best included, in component order
// (row i's from rs[i] to rs[i+1] of the result, built in ents), with their
// exact values in l (nb×K; the others are left as they are), and updates the
// bounds. It reports false when too many entries would need a dot product.
// todo is scratch; ents and todo have capacity nb·K.
func (kr *kernel) boundList(bd *bounds, r0 int, z, znorm []float64, nb int, l []float64, todo, ents, rs []int32) ([]int32, bool) {
	k := kr.k
	todo = todo[:0]
	for i := range nb {
		todo = append(todo, int32(i*k+int(bd.best[r0+i])))
	}
	kr.dotPairs(z, todo, l)
	todo = todo[:0]
	cum := bd.cum[:k]
	for i := range nb {
		n := r0 + i
		b := int(bd.best[n])
		rs[i] = int32(len(todo))
		todo = boundSurvivors(bd.ub[n*k:(n+1)*k], cum, znorm[i], l[i*k+b]-pruneLog, b, int32(i*k), todo)
	}
	rs[nb] = int32(len(todo))
	if len(todo) > nb*boundMaxExact(k, kr.m) {
		return nil, false
	}
	kr.dotPairs(z, todo, l)
	ents = ents[:0]
	for i := range nb {
		n := r0 + i
		b := int32(bd.best[n])
		bd.ub[n*k+int(b)] = bd.store(l[i*k+int(b)], znorm[i], int(b))
		be := int32(i*k) + b
		seg := todo[rs[i]:rs[i+1]]
		rs[i] = int32(len(ents))
		j := 0
		for ; j < len(seg) && seg[j] < be; j++ {
			ents = append(ents, seg[j])
		}
		ents = append(ents, be)
		ents = append(ents, seg[j:]...)
		for _, e := range seg {
			bd.ub[r0*k+int(e)] = bd.store(l[e], znorm[i], int(e)-i*k)
		}
	}
	rs[nb] = int32(len(ents))
	return ents, true
}

// boundSurvivors appends base+c for every component c ≠ b whose bound
// (bd.bound of ub[c] with cum[c]) is not below thr.
func boundSurvivors(ub []float32, cum []float64, zn, thr float64, b int, base int32, out []int32) []int32 {
	k := len(cum)
	for c0 := 0; c0 < k; c0 += 64 {
		n := min(64, k-c0)
		mask := boundMask(ub[c0:c0+n], cum[c0:c0+n], zn, thr)
		if b >= c0 && b < c0+n {
			mask &^= 1 << (b - c0)
		}
		for mask != 0 {
			out = append(out, base+int32(c0+bits.TrailingZeros64(mask)))
			mask &= mask - 1
		}
	}
	return out
}

// boundMask returns the mask of the components c < len(cum) ≤ 64 whose
// bound is not below thr (NaN included): bd.bound's arithmetic, four
// components per vector instruction on amd64. Either way the mask only
// decides which entries are computed, never their values.
func boundMask(ub []float32, cum []float64, zn, thr float64) uint64 {
	n := len(cum)
	ub = ub[:n]
	if useAVX2 && n >= 4 {
		j := n &^ 3
		return boundMaskAVX2(&ub[0], &cum[0], j, zn, thr) | boundMaskRef(ub[j:], cum[j:], zn, thr)<<j
	}
	return boundMaskRef(ub, cum, zn, thr)
}

func boundMaskRef(ub []float32, cum []float64, zn, thr float64) uint64 {
	var mask uint64
	for j, c := range cum {
		vf := float64(ub[j])
		t := zn * c
		u := vf + t
		if !(u+1e-9*(math.Abs(vf)+t)+1e-9 < thr) {
			mask |= 1 << j
		}
	}
	return mask
}

// boundRows tries the bounds for a block: it fills l (nb×K) exactly as
// screen would (exact or −Inf) and updates the bounds, and reports false
// without touching them when too many entries would need a dot product
// (then a whole-block GEMM is cheaper). entries is scratch (capacity nb·K).
func (kr *kernel) boundRows(bd *bounds, r0 int, z, znorm []float64, nb int, l []float64, entries []int32) bool {
	k := kr.k
	// First the previous best of each row, whose exact value is the
	// lower bound the others are compared with.
	entries = entries[:0]
	for i := range nb {
		entries = append(entries, int32(i*k+int(bd.best[r0+i])))
	}
	kr.dotPairs(z, entries, l)
	entries = entries[:0]
	cum := bd.cum[:k]
	for i := range nb {
		n := r0 + i
		b := int(bd.best[n])
		out := l[i*k : (i+1)*k]
		lb := out[b]
		for c := range out {
			out[c] = math.Inf(-1)
		}
		out[b] = lb
		entries = boundSurvivors(bd.ub[n*k:(n+1)*k], cum, znorm[i], lb-pruneLog, b, int32(i*k), entries)
	}
	if len(entries) > nb*boundMaxExact(k, kr.m) {
		return false
	}
	kr.dotPairs(z, entries, l)
	for i := range nb {
		n := r0 + i
		b := int(bd.best[n])
		bd.ub[n*k+b] = bd.store(l[i*k+b], znorm[i], b)
	}
	for _, e := range entries {
		i, c := int(e)/k, int(e)%k
		// The other stored bounds stay valid: nothing to write.
		bd.ub[(r0+i)*k+c] = bd.store(l[e], znorm[i], c)
	}
	return true
}
