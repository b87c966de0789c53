package gemm

import (
	"sync"

	"gonum.org/v1/gonum/blas"
)

// Cache blocking. A KC x NR micro-panel of B (32 KiB for the 8x32 kernel)
// stays in L1 while the MR-row panels of an MC x KC block of A (192 KiB)
// stream from L2; the KC x NC block of B (3 MiB) lives in L3. MC and NC are
// multiples of every kernel's MR and NR.
const (
	blockK = 256
	blockM = 192
	blockN = 3072
)

// kernel is a register-blocked micro-kernel: micro sets the mr x nr tile c
// (row stride ldc) to sum_p a[p*mr+i] * b[p*nr+j] over p < k, added to the
// tile's contents if load. a and b hold k*mr and k*nr elements.
type kernel struct {
	name   string
	mr, nr int
	micro  func(k int, a, b, c []float32, ldc int, load bool)
}

// active is the fastest kernel this CPU runs.
var active = kernels()[0]

// Kernel names the micro-kernel in use, e.g. "AVX-512" or "AVX2+FMA".
func Kernel() string { return active.name }

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major A, B and C,
// op(X) = X or its transpose, op(A) m x k, op(B) k x n, on one goroutine.
// It panics on bad sizes as gonum's Sgemm does.
func Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(active, 1, tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func check(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("gemm: negative dimension")
	}
	rowA, colA := m, k
	if tA {
		rowA, colA = k, m
	}
	rowB, colB := k, n
	if tB {
		rowB, colB = n, k
	}
	if lda < max(1, colA) || ldb < max(1, colB) || ldc < max(1, n) {
		panic("gemm: bad leading dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	if (k > 0 && (len(a) < lda*(rowA-1)+colA || len(b) < ldb*(rowB-1)+colB)) || len(c) < ldc*(m-1)+n {
		panic("gemm: short slice")
	}
}

// minParallelFlops is the smallest product worth splitting over goroutines:
// below it the start-up and the repacking of the shared operand cost more
// than they save.
const minParallelFlops = 1 << 22

func sgemm(kn *kernel, threads int, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	check(tA, tB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	overwrite := beta == 0 && k > 0 && alpha != 0 // the first K block stores instead of adding
	if beta != 1 && !overwrite {
		for i := range m {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	if threads > 1 && 2*m*n*k >= minParallelFlops {
		parallel(kn, threads, tA, tB, m, n, k, alpha, a, lda, b, ldb, c, ldc, overwrite)
		return
	}
	serial(kn, tA, tB, m, n, k, alpha, a, lda, b, ldb, c, ldc, overwrite)
}

// parallel splits C into column (or, if it is taller than wide, row) strips
// of whole micro-tiles, one per goroutine; each packs its own panels.
func parallel(kn *kernel, threads int, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, overwrite bool) {
	byRows := m > n
	size, unit := n, kn.nr
	if byRows {
		size, unit = m, kn.mr
	}
	tiles := (size + unit - 1) / unit
	threads = min(threads, tiles)
	var wg sync.WaitGroup
	for t := range threads {
		lo, hi := t*tiles/threads*unit, min(size, (t+1)*tiles/threads*unit)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if byRows {
				offA := lo * lda
				if tA {
					offA = lo
				}
				serial(kn, tA, tB, hi-lo, n, k, alpha, a[offA:], lda, b, ldb, c[lo*ldc:], ldc, overwrite)
				return
			}
			offB := lo
			if tB {
				offB = lo * ldb
			}
			serial(kn, tA, tB, m, hi-lo, k, alpha, a, lda, b[offB:], ldb, c[lo:], ldc, overwrite)
		}()
	}
	wg.Wait()
}

// packs recycles packing buffers (up to 3 MiB each): a network calls GEMM
// thousands of times a second. Not a sync.Pool, which every GC empties:
// reallocating and zeroing them after each GC cost 6% of training.
var packs = make(chan *[]float32, 32)

func getPack(n int) *[]float32 {
	var p *[]float32
	select {
	case p = <-packs:
	default:
		p = new([]float32)
	}
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

func putPack(p *[]float32) {
	select {
	case packs <- p:
	default:
	}
}

// serial accumulates alpha*op(A)*op(B) into C, or if overwrite stores it
// there (C is then not read).
func serial(kn *kernel, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, overwrite bool) {
	mr, nr := kn.mr, kn.nr
	ncMax := min(blockN, roundUp(n, nr))
	mcMax := min(blockM, roundUp(m, mr))
	kcMax := min(blockK, k)
	pb := getPack(ncMax * kcMax)
	pa := getPack(mcMax * kcMax)
	defer putPack(pb)
	defer putPack(pa)
	bp, ap := *pb, *pa
	var tmp [8 * 32]float32
	for jc := 0; jc < n; jc += blockN {
		nc := min(blockN, n-jc)
		for pc := 0; pc < k; pc += blockK {
			kc := min(blockK, k-pc)
			packB(tB, b, ldb, pc, kc, jc, nc, nr, bp)
			load := pc > 0 || !overwrite
			for ic := 0; ic < m; ic += blockM {
				mc := min(blockM, m-ic)
				packA(tA, a, lda, ic, mc, pc, kc, mr, alpha, ap)
				for jr := 0; jr < nc; jr += nr {
					nn := min(nr, nc-jr)
					bpan := bp[jr*kc : (jr+nr)*kc]
					for ir := 0; ir < mc; ir += mr {
						mm := min(mr, mc-ir)
						apan := ap[ir*kc : (ir+mr)*kc]
						off := (ic+ir)*ldc + jc + jr
						if mm == mr && nn == nr {
							kn.micro(kc, apan, bpan, c[off:off+(mr-1)*ldc+nr], ldc, load)
							continue
						}
						t := tmp[:mr*nr]
						kn.micro(kc, apan, bpan, t, nr, false)
						for i := range mm {
							dst := c[off+i*ldc : off+i*ldc+nn]
							src := t[i*nr : i*nr+nn]
							if !load {
								copy(dst, src)
								continue
							}
							for j, v := range src {
								dst[j] += v
							}
						}
					}
				}
			}
		}
	}
}

func roundUp(n, u int) int { return (n + u - 1) / u * u }

// packA writes alpha * op(A)[i0:i0+mc, p0:p0+kc] as MR-row micro-panels,
// each kc x mr with dst[p*mr+i], the last one zero-padded.
func packA(tA bool, a []float32, lda, i0, mc, p0, kc, mr int, alpha float32, dst []float32) {
	for ir := 0; ir < mc; ir += mr {
		pan := dst[ir*kc : (ir+mr)*kc]
		rows := min(mr, mc-ir)
		if rows < mr {
			clear(pan)
		}
		if tA {
			// op(A)[i, p] = a[p*lda+i]: each p's mr values are contiguous.
			for p := range kc {
				src := a[(p0+p)*lda+i0+ir:][:rows]
				d := pan[p*mr : p*mr+rows]
				for i, v := range src {
					d[i] = alpha * v
				}
			}
			continue
		}
		p8 := 0
		if hasTranspose8 && alpha == 1 && rows == mr && mr%8 == 0 {
			for ; p8+8 <= kc; p8 += 8 {
				for i := 0; i < mr; i += 8 {
					transpose8(a[(i0+ir+i)*lda+p0+p8:], lda, pan[p8*mr+i:], mr)
				}
			}
		}
		for i := range rows {
			src := a[(i0+ir+i)*lda+p0:][p8:kc]
			for p, v := range src {
				pan[(p8+p)*mr+i] = alpha * v
			}
		}
	}
}

// packB writes op(B)[p0:p0+kc, j0:j0+nc] as NR-column micro-panels, each
// kc x nr with dst[p*nr+j], the last one zero-padded.
func packB(tB bool, b []float32, ldb, p0, kc, j0, nc, nr int, dst []float32) {
	for jr := 0; jr < nc; jr += nr {
		pan := dst[jr*kc : (jr+nr)*kc]
		cols := min(nr, nc-jr)
		if cols < nr {
			clear(pan)
		}
		if !tB {
			src := b[p0*ldb+j0+jr:]
			if cols == nr && copyRows(pan, src, ldb, kc, nr) {
				continue
			}
			for p := range kc {
				copy(pan[p*nr:p*nr+cols], src[p*ldb:][:cols])
			}
			continue
		}
		// op(B)[p, j] = b[j*ldb+p]
		p8 := 0
		if hasTranspose8 && cols == nr && nr%8 == 0 {
			for ; p8+8 <= kc; p8 += 8 {
				for j := 0; j < nr; j += 8 {
					transpose8(b[(j0+jr+j)*ldb+p0+p8:], ldb, pan[p8*nr+j:], nr)
				}
			}
		}
		for j := range cols {
			src := b[(j0+jr+j)*ldb+p0:][p8:kc]
			for p, v := range src {
				pan[(p8+p)*nr+j] = v
			}
		}
	}
}

// copyRows copies kc rows of nr contiguous floats, row stride ld, into dst:
// in YMM moves where the CPU has AVX, else as whole arrays. Either beats
// copy, which calls runtime.memmove once per 96- or 128-byte row (10% of
// inference in a profile).
func copyRows(dst, src []float32, ld, kc, nr int) bool {
	if copyRowsAVX(dst, src, ld, kc, nr) {
		return true
	}
	switch nr {
	case 32:
		for p := range kc {
			*(*[32]float32)(dst[p*32:]) = *(*[32]float32)(src[p*ld:])
		}
	case 24:
		for p := range kc {
			*(*[24]float32)(dst[p*24:]) = *(*[24]float32)(src[p*ld:])
		}
	case 4:
		for p := range kc {
			*(*[4]float32)(dst[p*4:]) = *(*[4]float32)(src[p*ld:])
		}
	default:
		return false
	}
	return true
}
