package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

// blobs draws n rows from k well-separated Gaussian clusters in d dimensions
// (centres 12 apart on a scaled simplex-like layout, anisotropic unit-ish
// spread) and returns the rows and their true cluster.
func blobs(n, k, d int, seed uint64) (*mat.Dense, []int) {
	rng := rand.New(rand.NewPCG(seed, 99))
	centres := make([][]float64, k)
	for c := range centres {
		centres[c] = make([]float64, d)
		for j := range d {
			centres[c][j] = 30 * rng.Float64()
		}
		centres[c][c%d] += 40 * float64(c/d+1)
	}
	x := mat.NewDense(n, d, nil)
	y := make([]int, n)
	for i := range n {
		c := i % k
		y[i] = c
		for j := range d {
			scale := 0.5 + float64((j+c)%3)*0.5
			x.Set(i, j, centres[c][j]+scale*rng.NormFloat64())
		}
	}
	return x, y
}

// samePartition reports whether labels equal truth up to a permutation.
func samePartition(labels, truth []int) bool {
	fwd, back := map[int]int{}, map[int]int{}
	for i, l := range labels {
		if m, ok := fwd[l]; ok && m != truth[i] {
			return false
		}
		if m, ok := back[truth[i]]; ok && m != l {
			return false
		}
		fwd[l], back[truth[i]] = truth[i], l
	}
	return true
}

func TestRecoversSeparatedClusters(t *testing.T) {
	x, y := blobs(3000, 6, 5, 1)
	for _, typ := range []CovarianceType{Full, Diag, Spherical, Tied} {
		t.Run(typ.String(), func(t *testing.T) {
			g, info, ok := Fit(x, Settings{K: 6, Covariance: typ, NInit: 2}, rand.NewPCG(7, 7))
			if !ok {
				t.Fatal("fit failed")
			}
			if !info.Converged {
				t.Errorf("not converged in %d iterations", info.Iterations)
			}
			labels := g.Predict(x, 0)
			if !samePartition(labels, y) {
				t.Errorf("labels are not the true clusters up to permutation")
			}
			w := g.Weights()
			for _, v := range w {
				if math.Abs(v-1.0/6) > 1e-9 {
					t.Errorf("weight %v, want 1/6", v)
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	x, _ := blobs(5000, 5, 4, 2)
	fit := func(workers int, seed uint64) (*GMM, FitInfo) {
		g, info, ok := Fit(x, Settings{K: 7, Workers: workers, NInit: 2}, rand.NewPCG(seed, 1))
		if !ok {
			t.Fatal("fit failed")
		}
		return g, info
	}
	g1, i1 := fit(1, 3)
	for _, w := range []int{2, 3, 8} {
		g, info := fit(w, 3)
		if !slices.Equal(g.means, g1.means) || !slices.Equal(g.weights, g1.weights) || !slices.Equal(g.cov, g1.cov) {
			t.Errorf("workers %d: parameters differ from workers 1", w)
		}
		if !slices.Equal(info.Curve, i1.Curve) {
			t.Errorf("workers %d: log-likelihood curve differs", w)
		}
		if !slices.Equal(g.Predict(x, w), g1.Predict(x, 1)) {
			t.Errorf("workers %d: labels differ", w)
		}
		if g.Score(x, w) != g1.Score(x, 1) {
			t.Errorf("workers %d: score differs", w)
		}
	}
	g2, _ := fit(1, 3)
	if !slices.Equal(g2.means, g1.means) {
		t.Error("same seed gave different means")
	}
}

func TestPosteriorConsistency(t *testing.T) {
	x, _ := blobs(1000, 3, 3, 3)
	// Overlapping model so posteriors are not all 0/1.
	g, _, ok := Fit(x, Settings{K: 5, Covariance: Diag, MaxIter: 3}, rand.NewPCG(1, 1))
	if !ok {
		t.Fatal("fit failed")
	}
	p := g.PredictProba(x, 2)
	labels := g.Predict(x, 2)
	l2, post := g.Assign(x, AssignSettings{})
	ll := g.ScoreSamples(x, 2)
	var mean float64
	for i := range 1000 {
		row := p.RawRowView(i)
		var s float64
		best := 0
		for c, v := range row {
			s += v
			if v > row[best] {
				best = c
			}
		}
		if math.Abs(s-1) > 1e-12 {
			t.Fatalf("row %d posteriors sum to %v", i, s)
		}
		if labels[i] != best || l2[i] != best || post[i] != row[best] {
			t.Fatalf("row %d: Predict %d Assign %d (%v), argmax %d (%v)", i, labels[i], l2[i], post[i], best, row[best])
		}
		mean += ll[i]
	}
	mean /= 1000
	if s := g.Score(x, 1); math.Abs(s-mean) > 1e-12*math.Abs(s) {
		t.Errorf("Score %v, mean of ScoreSamples %v", s, mean)
	}
	n := 1000.0
	if bic := g.BIC(x, 1); math.Abs(bic-(-2*n*mean+float64(g.NumParams())*math.Log(n))) > 1e-6 {
		t.Errorf("BIC %v", bic)
	}
	if aic := g.AIC(x, 1); math.Abs(aic-(-2*n*mean+2*float64(g.NumParams()))) > 1e-6 {
		t.Errorf("AIC %v", aic)
	}
}

func TestScoreSamplesDirect(t *testing.T) {
	// log p(x) from the GEMM-expanded kernel against a direct evaluation
	// with gonum's Cholesky, for every covariance type.
	x, _ := blobs(400, 3, 4, 4)
	for _, typ := range []CovarianceType{Full, Diag, Spherical, Tied} {
		t.Run(typ.String(), func(t *testing.T) {
			g, _, ok := Fit(x, Settings{K: 4, Covariance: typ, MaxIter: 5}, rand.NewPCG(2, 2))
			if !ok {
				t.Fatal("fit failed")
			}
			got := g.ScoreSamples(x, 1)
			covs := g.Covariances()
			w := g.Weights()
			means := g.Means()
			for i := range 400 {
				xi := mat.NewVecDense(4, mat.Row(nil, i, x))
				var terms []float64
				for c := range g.K() {
					var ch mat.Cholesky
					if !ch.Factorize(covs[c]) {
						t.Fatal("covariance not PD")
					}
					diff := mat.NewVecDense(4, nil)
					diff.SubVec(xi, means.RowView(c))
					var sol mat.VecDense
					if err := ch.SolveVecTo(&sol, diff); err != nil {
						t.Fatal(err)
					}
					maha := mat.Dot(diff, &sol)
					terms = append(terms, math.Log(w[c])-0.5*(maha+ch.LogDet()+4*math.Log(2*math.Pi)))
				}
				mx := slices.Max(terms)
				var s float64
				for _, v := range terms {
					s += math.Exp(v - mx)
				}
				want := mx + math.Log(s)
				if math.Abs(got[i]-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Fatalf("row %d: log p %v, direct %v", i, got[i], want)
				}
			}
		})
	}
}

func TestDegenerateNeverNaN(t *testing.T) {
	// 200 copies of one point, a few others, and a constant column: more
	// components than distinct points want.
	x := mat.NewDense(230, 3, nil)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range 230 {
		if i >= 200 {
			x.Set(i, 0, 10+rng.NormFloat64())
			x.Set(i, 1, rng.NormFloat64())
		} else {
			x.Set(i, 0, 1)
			x.Set(i, 1, 2)
		}
		x.Set(i, 2, 7) // constant
	}
	for _, typ := range []CovarianceType{Full, Diag, Spherical, Tied} {
		t.Run(typ.String(), func(t *testing.T) {
			g, info, ok := Fit(x, Settings{K: 6, Covariance: typ}, rand.NewPCG(1, 2))
			if !ok {
				t.Fatal("fit failed")
			}
			s := g.Score(x, 0)
			if math.IsNaN(s) || math.IsInf(s, 0) {
				t.Errorf("score %v", s)
			}
			for _, v := range g.Weights() {
				if math.IsNaN(v) || v < 0 {
					t.Errorf("weight %v", v)
				}
			}
			for _, v := range g.means {
				if math.IsNaN(v) {
					t.Error("NaN mean")
				}
			}
			t.Logf("iterations %d reseeded %d score %v", info.Iterations, info.Reseeded, s)
		})
	}
}

func TestReseedsEmptyComponent(t *testing.T) {
	x, _ := blobs(600, 3, 2, 6)
	// Start with one component far from all data and a tiny weight: it
	// explains no row and must be re-seeded, not left to produce NaN.
	means := mat.NewDense(3, 2, []float64{0, 0, 40, 40, 1e4, 1e4})
	covs := []*mat.SymDense{
		mat.NewSymDense(2, []float64{100, 0, 0, 100}),
		mat.NewSymDense(2, []float64{100, 0, 0, 100}),
		mat.NewSymDense(2, []float64{1, 0, 0, 1}),
	}
	init, ok := NewGMM(Full, []float64{0.5, 0.5, 1e-9}, means, covs)
	if !ok {
		t.Fatal("init rejected")
	}
	g, info, ok := Fit(x, Settings{Init: init, MaxIter: 50}, rand.NewPCG(1, 1))
	if !ok {
		t.Fatal("fit failed")
	}
	if info.Reseeded == 0 {
		t.Error("empty component was not re-seeded")
	}
	if w := g.Weights(); slices.Min(w) < 0.05 {
		t.Errorf("weights %v: re-seeded component still empty", w)
	}
}

func TestFailures(t *testing.T) {
	x, _ := blobs(50, 2, 2, 7)
	if _, _, ok := Fit(x, Settings{K: 51}, rand.NewPCG(1, 1)); ok {
		t.Error("K > rows: ok")
	}
	y := mat.DenseCopyOf(x)
	y.Set(3, 1, math.NaN())
	if _, _, ok := Fit(y, Settings{K: 2}, rand.NewPCG(1, 1)); ok {
		t.Error("NaN input: ok")
	}
	g, _, ok := Fit(x, Settings{K: 2}, rand.NewPCG(1, 1))
	if !ok {
		t.Fatal("fit failed")
	}
	labels, post := g.Assign(y, AssignSettings{})
	if labels[3] != -1 || post[3] != 0 || labels[4] < 0 {
		t.Errorf("NaN row: label %d post %v", labels[3], post[3])
	}
	if _, ok := NewGMM(Full, []float64{1}, mat.NewDense(1, 2, nil),
		[]*mat.SymDense{mat.NewSymDense(2, []float64{1, 2, 2, 1})}); ok {
		t.Error("indefinite covariance accepted")
	}
	if _, ok := NewGMM(Diag, []float64{0, 1}, mat.NewDense(2, 1, nil),
		[]*mat.SymDense{mat.NewSymDense(1, []float64{1}), mat.NewSymDense(1, []float64{1})}); ok {
		t.Error("zero weight accepted")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("dimension mismatch did not panic")
			}
		}()
		g.Predict(mat.NewDense(2, 3, nil), 1)
	}()
}

func TestSampling(t *testing.T) {
	x, y := blobs(20000, 4, 3, 8)
	g, info, ok := Fit(x, Settings{K: 4, MaxSamples: 1000, NInit: 2}, rand.NewPCG(3, 3))
	if !ok {
		t.Fatal("fit failed")
	}
	if !info.Sampled || info.FitRows != 1000 || info.Rows != 20000 {
		t.Errorf("info %+v", info)
	}
	if !samePartition(g.Predict(x, 0), y) {
		t.Error("sampled fit does not recover the clusters on all rows")
	}
	idx := sampleIndex(100, 30, rand.New(rand.NewPCG(1, 1)))
	if len(idx) != 30 || !slices.IsSorted(idx) || len(slices.Compact(slices.Clone(idx))) != 30 || idx[29] >= 100 {
		t.Errorf("sampleIndex %v", idx)
	}
}

func TestSelectK(t *testing.T) {
	x, _ := blobs(2000, 4, 3, 9)
	best, curve, _, ok := SelectK(x, 1, 7, Settings{Covariance: Diag, NInit: 2}, rand.NewPCG(4, 4))
	if !ok {
		t.Fatal("SelectK failed")
	}
	if best.K() != 4 {
		t.Errorf("chose K=%d, want 4; curve %+v", best.K(), curve)
	}
	if len(curve) != 7 || curve[0].K != 1 || curve[6].K != 7 {
		t.Fatalf("curve %+v", curve)
	}
	for _, c := range curve {
		if !c.OK {
			t.Errorf("K=%d failed", c.K)
		}
		if c.K != 4 && c.BIC <= curve[3].BIC {
			t.Errorf("BIC(K=%d)=%v not above BIC(4)=%v", c.K, c.BIC, curve[3].BIC)
		}
	}
}

func TestSinkhorn(t *testing.T) {
	// Posteriors skewed towards component 0.
	n, k := 1000, 3
	p := mat.NewDense(n, k, nil)
	rng := rand.New(rand.NewPCG(3, 3))
	before := make([]float64, k)
	for i := range n {
		p0 := 0.4 + 0.5*rng.Float64()
		u := rng.Float64()
		row := []float64{p0, (1 - p0) * u, (1 - p0) * (1 - u)}
		p.SetRow(i, row)
		for c, v := range row {
			before[c] += v
		}
	}
	Sinkhorn(p, 0.05, 3)
	mass := make([]float64, k)
	counts := make([]int, k)
	for i := range n {
		row := p.RawRowView(i)
		var s float64
		best := 0
		for c, v := range row {
			s += v
			mass[c] += v
			if v > row[best] {
				best = c
			}
		}
		counts[best]++
		if math.Abs(s-1) > 1e-12 {
			t.Fatalf("row %d sums to %v", i, s)
		}
	}
	spread := func(m []float64) float64 { return slices.Max(m) - slices.Min(m) }
	if spread(mass) > spread(before)/3 {
		t.Errorf("component masses %v (before %v): not balanced", mass, before)
	}
	for c, v := range counts {
		if v < n/5 {
			t.Errorf("component %d is the argmax of %d rows: %v", c, v, counts)
		}
	}
}

func TestAssignSinkhorn(t *testing.T) {
	// One big and two small clusters; the balanced assignment gives the
	// small ones more rows than the plain argmax.
	x := mat.NewDense(1200, 1, nil)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 1200 {
		v := rng.NormFloat64()
		switch {
		case i >= 1100:
			v += 4
		case i >= 1000:
			v -= 4
		}
		x.Set(i, 0, v)
	}
	g, _, ok := Fit(x, Settings{K: 3}, rand.NewPCG(2, 2))
	if !ok {
		t.Fatal("fit failed")
	}
	count := func(l []int) []int {
		c := make([]int, 3)
		for _, v := range l {
			c[v]++
		}
		slices.Sort(c)
		return c
	}
	plain, _ := g.Assign(x, AssignSettings{})
	bal, post := g.Assign(x, AssignSettings{Balance: BalanceSinkhorn})
	cp, cb := count(plain), count(bal)
	if cb[0] <= cp[0] || cb[2] >= cp[2] {
		t.Errorf("plain %v balanced %v: not more balanced", cp, cb)
	}
	for i, v := range post {
		if !(v > 0 && v <= 1) {
			t.Fatalf("post[%d] = %v", i, v)
		}
	}
}

func TestNumParams(t *testing.T) {
	// scikit-learn's _n_parameters for K=3, D=4.
	want := map[CovarianceType]int{Full: 44, Diag: 26, Tied: 24, Spherical: 17}
	for typ, w := range want {
		g := &GMM{typ: typ, k: 3, d: 4}
		if got := g.NumParams(); got != w {
			t.Errorf("%v: %d, want %d", typ, got, w)
		}
	}
}

func TestParse(t *testing.T) {
	for _, typ := range []CovarianceType{Full, Diag, Spherical, Tied} {
		got, err := ParseCovarianceType(typ.String())
		if err != nil || got != typ {
			t.Errorf("%v: %v %v", typ, got, err)
		}
	}
	if _, err := ParseCovarianceType("banana"); err == nil {
		t.Error("banana parsed")
	}
	for _, b := range []Balance{BalanceNone, BalanceSinkhorn} {
		got, err := ParseBalance(b.String())
		if err != nil || got != b {
			t.Errorf("%v: %v %v", b, got, err)
		}
	}
}

func ExampleFit() {
	// Two clusters on a line.
	x := mat.NewDense(8, 1, []float64{0.9, 1.0, 1.1, 1.0, 9.9, 10.0, 10.1, 10.0})
	g, info, ok := Fit(x, Settings{K: 2}, rand.NewPCG(1, 2))
	if !ok {
		fmt.Println("fit failed")
		return
	}
	labels, post := g.Assign(x, AssignSettings{})
	fmt.Println(info.Converged, labels[0] == labels[3], labels[0] != labels[4])
	fmt.Printf("%.3f %.3f\n", post[0], g.Weights()[0])
	// Output:
	// true true true
	// 1.000 0.500
}

// TestScreenMatchesExact checks the float32 screening of the E-step: every
// entry it keeps equals the float64 GEMM's bit for bit, and every entry it
// prunes is more than pruneLog below the row's maximum.
func TestScreenMatchesExact(t *testing.T) {
	x, _ := blobs(600, 5, 6, 10)
	// Rows far outside and at huge scale exercise the overflow guards.
	x.Set(0, 0, 1e6)
	x.Set(1, 2, -3e17)
	x.Set(2, 1, 1e25)
	for _, typ := range []CovarianceType{Full, Diag, Spherical} {
		t.Run(typ.String(), func(t *testing.T) {
			g, _, ok := Fit(x.Slice(3, 600, 0, 6).(*mat.Dense), Settings{K: 8, Covariance: typ, MaxIter: 3}, rand.NewPCG(5, 5))
			if !ok {
				t.Fatal("fit failed")
			}
			kr := g.kernel()
			if kr.w32 == nil {
				kr.useScreen()
			}
			raw := x.RawMatrix()
			nb := kr.nb
			xc := make([]float64, nb*6)
			z := make([]float64, nb*kr.m)
			z32 := make([]float32, nb*kr.m)
			zn := make([]float64, nb)
			l32 := make([]float32, nb*kr.k)
			got := make([]float64, nb*kr.k)
			want := make([]float64, nb*kr.k)
			pruned := 0
			for r0 := 0; r0 < raw.Rows; r0 += nb {
				n := min(nb, raw.Rows-r0)
				kr.load(raw, r0, n, xc, make([]float64, n))
				kr.features(xc, n, z, z32, zn)
				kr.screen(z, z32, zn, n, l32, got, nil, nil, make([]int32, 0, nb*kr.k))
				kr.scores(z, n, want)
				for i := range n {
					mx := slices.Max(want[i*kr.k : (i+1)*kr.k])
					for c := range kr.k {
						g, w := got[i*kr.k+c], want[i*kr.k+c]
						if math.IsInf(g, -1) {
							pruned++
							if !(w < mx-pruneLog) {
								t.Fatalf("row %d comp %d pruned: exact %v, max %v", r0+i, c, w, mx)
							}
						} else if g != w {
							t.Fatalf("row %d comp %d: screened %v, exact %v", r0+i, c, g, w)
						}
					}
				}
			}
			if pruned == 0 {
				t.Error("nothing pruned: screening not exercised")
			}
		})
	}
}

// TestBoundsExact runs EM with the cross-iteration bounds (Fit) and without
// them (a fresh float32 screen every iteration): the log-likelihood curves
// and the parameters must agree bit for bit.
func TestBoundsExact(t *testing.T) {
	x, _ := blobs(3000, 8, 5, 13)
	raw := x.RawMatrix()
	defer func(f func(k, m int) int) { boundMaxExact = f }(boundMaxExact)
	for _, tc := range []struct {
		typ    CovarianceType
		always bool // force the bounds path whatever its cost
		k      int
	}{{Full, false, 10}, {Full, true, 10}, {Diag, false, 10}, {Diag, true, 10}, {Spherical, true, 10},
		{Diag, true, 70}} { // K > 64: bound masks of several words
		typ := tc.typ
		boundMaxExact = func(k, m int) int { return k * m / (5*m/2 + 150) }
		if tc.always {
			boundMaxExact = func(k, m int) int { return k }
		}
		t.Run(fmt.Sprintf("%v/always=%v/K=%d", typ, tc.always, tc.k), func(t *testing.T) {
			init, _, ok := Fit(x, Settings{K: tc.k, Covariance: typ, MaxIter: 1}, rand.NewPCG(8, 8))
			if !ok {
				t.Fatal("init fit failed")
			}
			g, info, ok := Fit(x, Settings{Init: init, Tol: -1, MaxIter: 15, Workers: 2}, rand.NewPCG(1, 1))
			if !ok {
				t.Fatal("fit failed")
			}
			offset := columnMean(raw)
			h := init
			rng := rand.New(rand.NewPCG(1, 1))
			budget := 3 * h.k
			for it := range 15 {
				kr := h.kernelAt(offset)
				st := (&pass{x: raw, kr: kr, mode: typ.s2(), stats: true, workers: 1}).run()
				if lb := st.ll / 3000; lb != info.Curve[it] {
					t.Fatalf("iteration %d: lower bound %v with bounds, %v without", it+1, info.Curve[it], lb)
				}
				h, _, ok, _ = mstep(rowsOf(raw), raw.Rows, typ, kr, st, defaultRegCovar, rng, &budget)
				if !ok {
					t.Fatal("mstep failed")
				}
			}
			if !slices.Equal(h.means, g.means) || !slices.Equal(h.cov, g.cov) {
				t.Error("parameters differ")
			}
		})
	}
}

func TestUpper32(t *testing.T) {
	vs := []float64{0, 1e-50, -1e-50, 1e-45, -1e-45, 1e-39, -1e-39, 1, -1, 1.0000001, -1.0000001, math.Pi, -math.Pi, 1e38, 3.5e38, -3.5e38,
		-math.MaxFloat32, math.Inf(1), float64(math.MaxFloat32), -1e300}
	rng := rand.New(rand.NewPCG(6, 6))
	for range 100000 {
		vs = append(vs, rng.NormFloat64()*math.Exp(20*rng.NormFloat64()))
	}
	for _, v := range vs {
		got := upper32(v)
		if math.IsNaN(float64(got)) || float64(got) < v {
			t.Fatalf("upper32(%v) = %v, below", v, got)
		}
		if f := float32(v); !math.IsInf(float64(f), 0) {
			up := math.Nextafter32(math.Nextafter32(f, float32(math.Inf(1))), float32(math.Inf(1)))
			if got > up && math.Abs(v) > 1e-30 {
				t.Fatalf("upper32(%v) = %v, more than two steps above %v", v, got, f)
			}
		}
	}
	if got := upper32(math.Inf(-1)); !math.IsNaN(float64(got)) {
		t.Errorf("upper32(-Inf) = %v, want NaN", got)
	}
}

// TestSingleComponent: with K=1 EM's answer is known in closed form: the
// sample mean and the (biased) sample covariance plus RegCovar.
func TestSingleComponent(t *testing.T) {
	x, _ := blobs(500, 3, 4, 14)
	for _, typ := range []CovarianceType{Full, Diag, Spherical, Tied} {
		t.Run(typ.String(), func(t *testing.T) {
			g, info, ok := Fit(x, Settings{K: 1, Covariance: typ}, rand.NewPCG(1, 1))
			if !ok || !info.Converged {
				t.Fatalf("ok %v info %+v", ok, info)
			}
			mean := mat.NewVecDense(4, nil)
			cov := mat.NewSymDense(4, nil)
			for j := range 4 {
				mean.SetVec(j, mat.Sum(x.ColView(j))/500)
			}
			for i := range 4 {
				for j := i; j < 4; j++ {
					var s float64
					for r := range 500 {
						s += (x.At(r, i) - mean.AtVec(i)) * (x.At(r, j) - mean.AtVec(j))
					}
					cov.SetSym(i, j, s/500)
				}
			}
			got := g.Means()
			for j := range 4 {
				if math.Abs(got.At(0, j)-mean.AtVec(j)) > 1e-10*math.Max(1, math.Abs(mean.AtVec(j))) {
					t.Errorf("mean %d: %v, want %v", j, got.At(0, j), mean.AtVec(j))
				}
			}
			c := g.Covariances()[0]
			var tr float64
			for i := range 4 {
				tr += cov.At(i, i)
			}
			for i := range 4 {
				for j := range 4 {
					var want float64
					switch typ {
					case Full, Tied:
						want = cov.At(i, j)
					case Diag:
						if i == j {
							want = cov.At(i, i)
						}
					case Spherical:
						if i == j {
							want = tr / 4
						}
					}
					if i == j {
						want += defaultRegCovar
					}
					if math.Abs(c.At(i, j)-want) > 1e-9*math.Max(1, math.Abs(want)) {
						t.Errorf("cov(%d,%d) = %v, want %v", i, j, c.At(i, j), want)
					}
				}
			}
		})
	}
}

// TestFitContextCancel: a fit (and a BIC sweep) that would run for minutes
// stops soon after its context is cancelled, with context.Canceled and no
// model; a context already done stops it before any work.
func TestFitContextCancel(t *testing.T) {
	x, _ := blobs(20000, 16, 32, 15)
	long := Settings{K: 27, Tol: -1, MaxIter: 1 << 20, NInit: 1 << 10, Workers: 2}
	cases := []struct {
		name string
		fit  func(ctx context.Context) (bool, error)
	}{
		{"Fit", func(ctx context.Context) (bool, error) {
			g, _, ok, err := FitContext(ctx, x, long, rand.NewPCG(1, 1))
			return ok || g != nil, err
		}},
		{"Fit/diag", func(ctx context.Context) (bool, error) {
			s := long
			s.Covariance = Diag
			g, _, ok, err := FitContext(ctx, x, s, rand.NewPCG(1, 1))
			return ok || g != nil, err
		}},
		{"SelectK", func(ctx context.Context) (bool, error) {
			g, curve, _, ok, err := SelectKContext(ctx, x, 2, 40, long, rand.NewPCG(1, 1))
			return ok || g != nil || curve != nil, err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			t0 := time.Now()
			if got, err := tc.fit(ctx); got || !errors.Is(err, context.Canceled) {
				t.Fatalf("already cancelled: result %v, err %v", got, err)
			}
			if el := time.Since(t0); el > 100*time.Millisecond {
				t.Errorf("already cancelled: returned after %v", el)
			}

			ctx, cancel = context.WithCancel(context.Background())
			var cancelled time.Time
			timer := time.AfterFunc(200*time.Millisecond, func() {
				cancelled = time.Now()
				cancel()
			})
			defer timer.Stop()
			got, err := tc.fit(ctx)
			if got || !errors.Is(err, context.Canceled) {
				t.Fatalf("result %v, err %v, want context.Canceled", got, err)
			}
			// One pass over 20000 rows takes milliseconds; allow for a
			// loaded machine.
			el := time.Since(cancelled)
			t.Logf("returned %v after the cancellation", el)
			if el > time.Second {
				t.Errorf("returned %v after the cancellation", el)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, _, err := FitContext(ctx, x, long, rand.NewPCG(1, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: err %v, want context.DeadlineExceeded", err)
	}
	// An uncancelled context changes nothing.
	s := Settings{K: 4, Workers: 2}
	g1, i1, ok1 := Fit(x, s, rand.NewPCG(2, 2))
	g2, i2, ok2, err := FitContext(context.Background(), x, s, rand.NewPCG(2, 2))
	if err != nil || ok1 != ok2 || i1.LowerBound != i2.LowerBound || !slices.Equal(g1.Weights(), g2.Weights()) {
		t.Errorf("FitContext without cancellation differs from Fit: %v %v %v", err, i1.LowerBound, i2.LowerBound)
	}
}
