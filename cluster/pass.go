package cluster

import (
	"math"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// pruneLog: a responsibility below exp(−pruneLog) ≈ 2e−22 of the row's
// largest one is set to zero. It is then far below a float64 ulp of the
// row's normaliser (≥ 1), so the log-likelihood is unchanged, and it changes
// a component's statistics by less than N·2e−22 of a row's worth. Skipping
// those rows makes the M-step cost proportional to the rows a component
// really explains instead of to N.
const pruneLog = 50

// s2Mode is which second-moment statistics a pass accumulates.
type s2Mode int

const (
	s2None s2Mode = iota
	s2Full        // Σ r (x−c)(x−c)ᵀ per component (upper triangle)
	s2Diag        // Σ r (x−c)² per component
)

// stats are the sufficient statistics of one pass, centred per component on
// the kernel's centres c_k (the current means), which keeps the covariance
// update free of cancellation: Σ_k = S2/N_k − δδᵀ with δ = S1/N_k small.
type stats struct {
	k, d   int
	mode   s2Mode
	ll     float64 // Σ log p(x) (soft) or Σ squared distance (hard)
	nk     []float64
	s1     []float64
	s2     []float64
	minLL  float64 // lowest row log-likelihood seen (soft passes)
	minRow int
	bad    int // rows with NaN or ±Inf
}

func newStats(k, d int, mode s2Mode) *stats {
	s := &stats{k: k, d: d, mode: mode, nk: make([]float64, k), s1: make([]float64, k*d)}
	switch mode {
	case s2Full:
		s.s2 = make([]float64, k*d*d)
	case s2Diag:
		s.s2 = make([]float64, k*d)
	}
	s.reset()
	return s
}

func (s *stats) reset() {
	s.ll, s.bad = 0, 0
	s.minLL, s.minRow = math.Inf(1), -1
	clear(s.nk)
	clear(s.s1)
	clear(s.s2)
}

func (s *stats) add(o *stats) {
	s.ll += o.ll
	s.bad += o.bad
	if o.minLL < s.minLL {
		s.minLL, s.minRow = o.minLL, o.minRow
	}
	for i, v := range o.nk {
		s.nk[i] += v
	}
	for i, v := range o.s1 {
		s.s1[i] += v
	}
	for i, v := range o.s2 {
		s.s2[i] += v
	}
}

// pass is one sweep over the rows of x with a kernel: an E-step (soft) or a
// nearest-centre assignment (hard), with optional statistics for the next
// M-step and optional per-row outputs.
type pass struct {
	x       blas64.General
	kr      *kernel
	hard    bool
	mode    s2Mode
	stats   bool // accumulate nk, s1 (and s2 per mode)
	workers int
	bd      *bounds // optional: cross-iteration bounds (EM passes)

	// Optional per-row outputs (len N, or N×K for proba).
	logLik []float64
	labels []int
	post   []float64
	proba  []float64
}

type workspace struct {
	xc, z, l, g, znorm []float64
	chk                []float64
	z32, l32           []float32
	entries            []int32
	// Fused exact path (see chunkFused): each row's entries in component
	// order and where they start.
	rowEnts  []int32
	rowStart []int32
}

// gatherRows is the height of the weighted-deviation blocks handed to Dsyrk.
const gatherRows = 256

// chunkRows is the number of rows whose statistics are summed together
// before being folded, in chunk order, into the total. It depends only on n,
// so sums (and so results) do not depend on the number of workers.
func chunkRows(n int) int {
	c := (n/32 + 63) / 64 * 64
	return max(256, min(c, 4096))
}

// run performs the pass and returns the total statistics.
func (p *pass) run() *stats {
	n := p.x.Rows
	kr := p.kr
	k, d := kr.k, kr.d
	cr := chunkRows(n)
	nc := (n + cr - 1) / cr
	workers := max(1, min(p.workers, nc))
	newWS := func() *workspace {
		ws := &workspace{xc: make([]float64, cr*d), z: make([]float64, kr.nb*kr.m),
			l: make([]float64, cr*k), chk: make([]float64, cr)}
		if kr.w32 != nil {
			ws.z32 = make([]float32, kr.nb*kr.m)
			ws.l32 = make([]float32, kr.nb*k)
		}
		if kr.w32 != nil || p.bd != nil {
			ws.znorm = make([]float64, kr.nb)
			ws.entries = make([]int32, 0, kr.nb*k)
		}
		if p.fused() {
			ws.rowEnts = make([]int32, 0, kr.nb*k)
			ws.rowStart = make([]int32, kr.nb+1)
		}
		if p.stats && p.mode == s2Full {
			ws.g = make([]float64, gatherRows*d)
		}
		return ws
	}
	mode := p.mode
	if !p.stats {
		mode = s2None
	}
	total := newStats(k, d, mode)
	if !p.stats {
		total.nk, total.s1 = nil, nil
	}
	newAcc := func() *stats {
		s := newStats(k, d, mode)
		if !p.stats {
			s.nk, s.s1 = nil, nil
		}
		return s
	}
	process := func(ws *workspace, c int, acc *stats) {
		r0 := c * cr
		r1 := min(n, r0+cr)
		p.chunk(ws, r0, r1, acc)
	}
	if workers == 1 {
		ws := newWS()
		acc := newAcc()
		for c := range nc {
			acc.reset()
			process(ws, c, acc)
			total.add(acc)
		}
		return total
	}

	// Ordered reduction: a worker takes an accumulator from the pool before it
	// takes the next chunk index, so the lowest unfolded chunk is always held
	// by a running worker and the pool never runs dry for it.
	pool := make(chan *stats, 2*workers)
	for range 2 * workers {
		pool <- newAcc()
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		done     = make(map[int]*stats)
		nextFold int
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := newWS()
			for {
				acc := <-pool
				c := int(next.Add(1) - 1)
				if c >= nc {
					pool <- acc
					return
				}
				acc.reset()
				process(ws, c, acc)
				mu.Lock()
				done[c] = acc
				for {
					a, ok := done[nextFold]
					if !ok {
						break
					}
					total.add(a)
					delete(done, nextFold)
					pool <- a
					nextFold++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return total
}

func (p *pass) chunk(ws *workspace, r0, r1 int, acc *stats) {
	if p.fused() {
		p.chunkFused(ws, r0, r1, acc)
		return
	}
	kr := p.kr
	k, d := kr.k, kr.d
	rows := r1 - r0
	for b0 := 0; b0 < rows; b0 += kr.nb {
		nb := min(kr.nb, rows-b0)
		xc := ws.xc[b0*d : (b0+nb)*d]
		lb := ws.l[b0*k : (b0+nb)*k]
		chk := ws.chk[b0 : b0+nb]
		if kr.w32 != nil {
			kr.load(p.x, r0+b0, nb, xc, chk)
			if p.bd != nil && p.bd.ready && kr.dw != nil {
				kr.features(xc, nb, ws.z, nil, ws.znorm)
				if kr.boundRows(p.bd, r0+b0, ws.z, ws.znorm, nb, lb, ws.entries) {
					continue
				}
				toFloat32(ws.z[:nb*kr.m], ws.z32)
			} else {
				kr.features(xc, nb, ws.z, ws.z32, ws.znorm)
			}
			var ub []float32
			if p.bd != nil {
				ub = p.bd.ub[(r0+b0)*k : (r0+b0+nb)*k]
			}
			kr.screen(ws.z, ws.z32, ws.znorm, nb, ws.l32, lb, ub, p.bd, ws.entries)
			continue
		}
		// Exact path: every entry the bounds cannot exclude in float64.
		if kr.fm == fmSquare {
			kr.loadSquare(p.x, r0+b0, nb, xc, ws.z, chk)
		} else {
			kr.load(p.x, r0+b0, nb, xc, chk)
			kr.features(xc, nb, ws.z, nil, nil)
		}
		if p.bd == nil {
			kr.scores(ws.z, nb, lb)
			continue
		}
		zn := p.bd.zn[r0+b0 : r0+b0+nb]
		if !p.bd.ready {
			kr.znorms(xc, nb, zn)
		}
		if p.bd.ready && kr.dw != nil && kr.boundRows(p.bd, r0+b0, ws.z, zn, nb, lb, ws.entries) {
			continue
		}
		kr.scores(ws.z, nb, lb)
		ub := p.bd.ub[(r0+b0)*k : (r0+b0+nb)*k]
		for i := range nb {
			for c := range k {
				ub[i*k+c] = p.bd.store(lb[i*k+c], zn[i], c)
			}
		}
	}
	for i := range rows {
		l := ws.l[i*k : (i+1)*k]
		x := ws.xc[i*d : (i+1)*d]
		n := r0 + i
		best, mx := 0, l[0]
		for c, v := range l {
			if v > mx {
				best, mx = c, v
			}
		}
		if p.bd != nil {
			p.bd.best[n] = int32(best)
		}
		bad := ws.chk[i] != 0 || math.IsNaN(mx) || math.IsInf(mx, 0)
		if bad {
			acc.bad++
			acc.ll += math.NaN()
			clear(l)
			if p.logLik != nil {
				p.logLik[n] = math.NaN()
			}
			if p.labels != nil {
				p.labels[n] = -1
			}
			if p.post != nil {
				p.post[n] = 0
			}
			if p.proba != nil {
				clear(p.proba[n*k : (n+1)*k])
			}
			continue
		}
		if p.hard {
			var x2 float64
			for _, v := range x {
				x2 += v * v
			}
			acc.ll += max(0, x2-2*mx)
			clear(l)
			l[best] = 1
			if p.labels != nil {
				p.labels[n] = best
			}
			continue
		}
		var s float64
		for c, v := range l {
			if dv := v - mx; dv > -pruneLog {
				e := math.Exp(dv)
				l[c] = e
				s += e
			} else {
				l[c] = 0
			}
		}
		inv := 1 / s
		for c := range l {
			l[c] *= inv
		}
		lse := mx + math.Log(s)
		acc.ll += lse
		if lse < acc.minLL {
			acc.minLL, acc.minRow = lse, n
		}
		if p.logLik != nil {
			p.logLik[n] = lse
		}
		if p.labels != nil {
			p.labels[n] = best
		}
		if p.post != nil {
			p.post[n] = l[best]
		}
		if p.proba != nil {
			copy(p.proba[n*k:(n+1)*k], l)
		}
	}
	if p.stats {
		p.moments(ws, rows, acc)
	}
}

// moments accumulates N_k, S1_k = Σ r(x−c_k) and S2_k for the chunk's rows,
// visiting only rows with a non-zero responsibility for k. For full
// covariances the rows √r(x−c_k) are gathered and folded with Dsyrk.
func (p *pass) moments(ws *workspace, rows int, acc *stats) {
	kr := p.kr
	k, d := kr.k, kr.d
	if acc.mode == s2Diag {
		// Row-major: a row's deviations update the (small) statistics of the
		// components that explain it.
		for i := range rows {
			x := ws.xc[i*d : (i+1)*d]
			for c, r := range ws.l[i*k : (i+1)*k] {
				if r == 0 {
					continue
				}
				acc.nk[c] += r
				momentsRow(x, kr.centers[c*d:(c+1)*d], acc.s1[c*d:(c+1)*d], acc.s2[c*d:(c+1)*d], r, d)
			}
		}
		return
	}
	impl := blas64.Implementation()
	for c := range k {
		ctr := kr.centers[c*d : (c+1)*d]
		s1 := acc.s1[c*d : (c+1)*d]
		var nk float64
		gn := 0
		for i := range rows {
			r := ws.l[i*k+c]
			if r == 0 {
				continue
			}
			nk += r
			x := ws.xc[i*d : (i+1)*d]
			switch acc.mode {
			case s2Full:
				// Gathered transposed (D×gatherRows): Dsyrk then forms
				// G Gᵀ from dot products, which gonum runs ~3× faster than
				// the Gᵀ G of the row layout.
				sr := math.Sqrt(r)
				for j, v := range x {
					dv := v - ctr[j]
					s1[j] += r * dv
					ws.g[j*gatherRows+gn] = sr * dv
				}
				gn++
				if gn == gatherRows {
					impl.Dsyrk(blas.Upper, blas.NoTrans, d, gn, 1, ws.g, gatherRows, 1, acc.s2[c*d*d:(c+1)*d*d], d)
					gn = 0
				}
			default:
				for j, v := range x {
					s1[j] += r * (v - ctr[j])
				}
			}
		}
		if gn > 0 {
			impl.Dsyrk(blas.Upper, blas.NoTrans, d, gn, 1, ws.g, gatherRows, 1, acc.s2[c*d*d:(c+1)*d*d], d)
		}
		acc.nk[c] += nk
	}
}

// fused reports whether the pass takes chunkFused: an EM pass (bounds,
// diagonal statistics, no per-row outputs) of an exact kernel.
func (p *pass) fused() bool {
	return p.bd != nil && p.kr.w32 == nil && !p.hard && p.stats && p.mode == s2Diag &&
		p.logLik == nil && p.labels == nil && p.post == nil && p.proba == nil
}

// chunkFused is chunk for EM passes of diagonal and spherical mixtures: each
// block of rows goes through load, bounds, exact terms, log-sum-exp and
// moments while it is in cache (the rows of X are read once), and rows whose
// bounds exclude most components carry only the entries that remain,
// instead of K of them, through every step. Rows, and each row's components,
// are visited in the same order as in chunk with the same operations, so
// the results are the same bits.
func (p *pass) chunkFused(ws *workspace, r0, r1 int, acc *stats) {
	kr, bd := p.kr, p.bd
	k, d := kr.k, kr.d
	for b0 := r0; b0 < r1; b0 += kr.nb {
		nb := min(kr.nb, r1-b0)
		xc, l, chk := ws.xc[:nb*d], ws.l[:nb*k], ws.chk[:nb]
		if kr.fm == fmSquare {
			kr.loadSquare(p.x, b0, nb, xc, ws.z, chk)
		} else {
			kr.load(p.x, b0, nb, xc, chk)
			kr.features(xc, nb, ws.z, nil, nil)
		}
		zn := bd.zn[b0 : b0+nb]
		rs := ws.rowStart[:nb+1]
		var ents []int32
		ok := false
		if bd.ready && kr.dw != nil {
			ents, ok = kr.boundList(bd, b0, ws.z, zn, nb, l, ws.entries, ws.rowEnts, rs)
		}
		if !ok {
			if !bd.ready {
				kr.znorms(xc, nb, zn)
			}
			kr.scores(ws.z, nb, l)
			ub := bd.ub[b0*k : (b0+nb)*k]
			ents = ws.rowEnts[:0]
			for i := range nb {
				rs[i] = int32(len(ents))
				row := l[i*k : (i+1)*k]
				mx := row[0]
				for c, v := range row {
					ub[i*k+c] = bd.store(v, zn[i], c)
					if v > mx { // chunk's maximum (NaN entries after l[0] skipped)
						mx = v
					}
				}
				if math.IsNaN(mx) || math.IsInf(mx, 0) {
					// finishRows finds the row bad as chunk does.
					for c := range k {
						ents = append(ents, int32(i*k+c))
					}
					continue
				}
				// Only the entries the pruning keeps (the maximum among
				// them, so finishRows's argmax is chunk's).
				for c, v := range row {
					if v-mx > -pruneLog {
						ents = append(ents, int32(i*k+c))
					}
				}
			}
			rs[nb] = int32(len(ents))
		}
		p.finishRows(ws, b0, nb, ents, rs, acc)
	}
}

// finishRows is chunk's per-row log-sum-exp and moments for the entries
// ents[rs[i]:rs[i+1]] of each row i of a block (all others are −Inf, i.e.
// excluded), in the order and with the operations of chunk and moments.
func (p *pass) finishRows(ws *workspace, r0, nb int, ents, rs []int32, acc *stats) {
	kr := p.kr
	k, d := kr.k, kr.d
	l := ws.l
	for i := range nb {
		n := r0 + i
		row := ents[rs[i]:rs[i+1]]
		base := int32(i * k)
		// As chunk's argmax, which starts from l[0] (−Inf unless listed).
		best, mx := 0, math.Inf(-1)
		if len(row) > 0 && row[0] == base {
			mx = l[base]
		}
		for _, e := range row {
			if v := l[e]; v > mx {
				best, mx = int(e-base), v
			}
		}
		p.bd.best[n] = int32(best)
		if ws.chk[i] != 0 || math.IsNaN(mx) || math.IsInf(mx, 0) {
			acc.bad++
			acc.ll += math.NaN()
			continue
		}
		var s float64
		for _, e := range row {
			// exp(0) = 1 exactly: the row's maximum needs no call.
			switch dv := l[e] - mx; {
			case dv == 0:
				l[e] = 1
				s++
			case dv > -pruneLog:
				ev := math.Exp(dv)
				l[e] = ev
				s += ev
			default:
				l[e] = 0
			}
		}
		inv := 1 / s
		var ls float64 // log 1 = 0 exactly
		if s != 1 {
			ls = math.Log(s)
		}
		lse := mx + ls
		acc.ll += lse
		if lse < acc.minLL {
			acc.minLL, acc.minRow = lse, n
		}
		x := ws.xc[i*d : (i+1)*d]
		for _, e := range row {
			r := l[e] * inv
			if r == 0 {
				continue
			}
			c := int(e - base)
			acc.nk[c] += r
			momentsRow(x, kr.centers[c*d:(c+1)*d], acc.s1[c*d:(c+1)*d], acc.s2[c*d:(c+1)*d], r, d)
		}
	}
}
