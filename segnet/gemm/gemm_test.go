package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// ref computes alpha*op(A)*op(B) + beta*C in float64 and, per element, the
// error bound of doc.go.
func ref(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, bound []float64) {
	want = make([]float64, m*n)
	bound = make([]float64, m*n)
	const u = 1.0 / (1 << 24)
	for i := range m {
		for j := range n {
			var s, abs float64
			for p := range k {
				var av, bv float32
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				t := float64(alpha) * float64(av) * float64(bv)
				s += t
				abs += math.Abs(t)
			}
			cb := 0.0
			if beta != 0 {
				cb = float64(beta) * float64(c[i*ldc+j])
			}
			want[i*n+j] = s + cb
			bound[i*n+j] = float64(k+2)*u*(abs+math.Abs(cb)) + 1e-30
		}
	}
	return want, bound
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// shape is one GEMM problem; lda etc. are padded beyond the minimum so that
// a kernel reading or writing past a row shows.
type shape struct {
	m, n, k     int
	tA, tB      bool
	alpha, beta float32
}

func shapes() []shape {
	dims := [][3]int{
		{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {3, 5, 1}, {4, 24, 16}, {8, 32, 4}, {7, 33, 17},
		{9, 23, 255}, {17, 65, 257}, {64, 455, 576}, {64, 576, 455}, {576, 100, 64},
		{8, 4800, 64}, {193, 31, 513}, {31, 3100, 5}, {2, 3073, 3},
	}
	var out []shape
	ab := [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {-1.5, 0}, {0, 3}}
	for i, d := range dims {
		for t := range 4 {
			s := ab[(i+t)%len(ab)]
			out = append(out, shape{d[0], d[1], d[2], t&1 != 0, t&2 != 0, s[0], s[1]})
		}
	}
	return out
}

// runShape checks every kernel, on one goroutine and split over three, on
// one random problem against its float64 reference.
func runShape(t *testing.T, s shape, rng *rand.Rand) {
	lda, ldb, ldc := s.k+3, s.n+1, s.n+5
	ra, rb := s.m, s.k
	if s.tA {
		lda, ra = s.m+2, s.k
	}
	if s.tB {
		ldb, rb = s.k+1, s.n
	}
	a := randSlice(rng, ra*lda)
	b := randSlice(rng, rb*ldb)
	c0 := randSlice(rng, s.m*ldc)
	if s.beta == 0 {
		for i := range c0 {
			c0[i] = float32(math.NaN()) // beta = 0 must not read C
		}
	}
	want, bound := ref(s.tA, s.tB, s.m, s.n, s.k, s.alpha, a, lda, b, ldb, s.beta, c0, ldc)
	for _, kn := range kernels() {
		for _, threads := range []int{1, 3} {
			c := append([]float32(nil), c0...)
			sgemm(kn, threads, s.tA, s.tB, s.m, s.n, s.k, s.alpha, a, lda, b, ldb, s.beta, c, ldc)
			bad := 0
			for i := range s.m {
				for j := range ldc {
					got := c[i*ldc+j]
					if j >= s.n {
						if math.Float32bits(got) != math.Float32bits(c0[i*ldc+j]) {
							t.Fatalf("%s threads=%d: C[%d,%d] beyond n written", kn.name, threads, i, j)
						}
						continue
					}
					w, bd := want[i*s.n+j], bound[i*s.n+j]
					if e := math.Abs(float64(got) - w); !(e <= bd) {
						if bad++; bad <= 3 {
							t.Errorf("%s threads=%d: C[%d,%d] = %g, want %g (err %.3g > bound %.3g)", kn.name, threads, i, j, got, w, e, bd)
						}
					}
				}
			}
		}
	}
}

func TestSgemmAgainstFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes() {
		name := fmt.Sprintf("%dx%dx%d/tA=%v,tB=%v,alpha=%g,beta=%g", s.m, s.n, s.k, s.tA, s.tB, s.alpha, s.beta)
		t.Run(name, func(t *testing.T) { runShape(t, s, rng) })
	}
}

// TestKernelsAgree checks every micro-kernel on random tiles with and
// without load against the pure-Go one's float64 sums.
func TestKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kn := range kernels() {
		for _, k := range []int{1, 2, 3, 4, 5, 8, 13, 256} {
			for _, load := range []bool{false, true} {
				a := randSlice(rng, kn.mr*k)
				b := randSlice(rng, kn.nr*k)
				ldc := kn.nr + 3
				c := randSlice(rng, kn.mr*ldc)
				orig := append([]float32(nil), c...)
				kn.micro(k, a, b, c, ldc, load)
				for i := range kn.mr {
					for j := range ldc {
						got := c[i*ldc+j]
						if j >= kn.nr {
							if got != orig[i*ldc+j] {
								t.Fatalf("%s: wrote past the tile", kn.name)
							}
							continue
						}
						var s, abs float64
						for p := range k {
							v := float64(a[p*kn.mr+i]) * float64(b[p*kn.nr+j])
							s += v
							abs += math.Abs(v)
						}
						if load {
							s += float64(orig[i*ldc+j])
							abs += math.Abs(float64(orig[i*ldc+j]))
						}
						if e := math.Abs(float64(got) - s); e > float64(k+2)*abs/(1<<24) {
							t.Fatalf("%s k=%d load=%v: c[%d,%d] = %g, want %g", kn.name, k, load, i, j, got, s)
						}
					}
				}
			}
		}
	}
}

func TestImplementationPanics(t *testing.T) {
	impl := Implementation{}
	a := make([]float32, 6)
	for name, f := range map[string]func(){
		"short C":  func() { impl.Sgemm(blas.NoTrans, blas.NoTrans, 2, 3, 1, 1, a, 1, a, 3, 0, a[:5], 3) },
		"bad lda":  func() { impl.Sgemm(blas.NoTrans, blas.NoTrans, 2, 3, 2, 1, a, 1, a, 3, 0, a, 3) },
		"negative": func() { impl.Sgemm(blas.NoTrans, blas.NoTrans, -1, 3, 2, 1, a, 2, a, 3, 0, a, 3) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

// TestBlas32 checks that Implementation serves blas32.Gemm.
func TestBlas32(t *testing.T) {
	old := blas32.Implementation()
	blas32.Use(Implementation{})
	defer blas32.Use(old)
	a := blas32.General{Rows: 2, Cols: 3, Stride: 3, Data: []float32{1, 2, 3, 4, 5, 6}}
	b := blas32.General{Rows: 3, Cols: 1, Stride: 1, Data: []float32{1, 0, -1}}
	c := blas32.General{Rows: 2, Cols: 1, Stride: 1, Data: []float32{10, 20}}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 2, a, b, 1, c)
	if c.Data[0] != 6 || c.Data[1] != 16 {
		t.Errorf("got %v, want [6 16]", c.Data)
	}
}

// TestCopyRows checks the packing copy (YMM moves where the CPU has AVX)
// against element-by-element copying, for both vector panel widths, one
// and many rows and a stride that is not a multiple of the vector.
func TestCopyRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, nr := range []int{24, 32} {
		for _, kc := range []int{1, 7, 256} {
			ld := nr + 5
			src := randSlice(rng, kc*ld)
			dst := randSlice(rng, kc*nr+1)
			last := dst[kc*nr]
			if !copyRows(dst, src, ld, kc, nr) {
				t.Fatalf("nr=%d: copyRows declined", nr)
			}
			for p := range kc {
				for j := range nr {
					if dst[p*nr+j] != src[p*ld+j] {
						t.Fatalf("nr=%d kc=%d: dst[%d,%d] = %g, want %g", nr, kc, p, j, dst[p*nr+j], src[p*ld+j])
					}
				}
			}
			if dst[kc*nr] != last {
				t.Fatalf("nr=%d kc=%d: wrote past the panel", nr, kc)
			}
		}
	}
}
