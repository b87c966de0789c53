package cluster

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// scene draws rows from Gaussian clusters with the given centres, shares and
// per-cluster spreads (isotropic), offset by shift; it returns the rows and
// their true cluster.
func scene(n int, centres [][]float64, shares []float64, spread float64, shift []float64, seed uint64) (*mat.Dense, []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	d := len(centres[0])
	x := mat.NewDense(n, d, nil)
	y := make([]int, n)
	cum := make([]float64, len(shares))
	var s float64
	for i, v := range shares {
		s += v
		cum[i] = s
	}
	for i := range n {
		u := rng.Float64() * s
		c := 0
		for c < len(cum)-1 && u > cum[c] {
			c++
		}
		y[i] = c
		for j := range d {
			v := centres[c][j] + spread*rng.NormFloat64()
			if shift != nil {
				v += shift[j]
			}
			x.Set(i, j, v)
		}
	}
	return x, y
}

var adaptCentres = [][]float64{{0, 0, 0}, {8, 0, 0}, {0, 8, 0}, {0, 0, 8}}

func fitSource(t *testing.T, typ CovarianceType) (*GMM, *mat.Dense) {
	t.Helper()
	x, _ := scene(4000, adaptCentres, []float64{1, 1, 1, 1}, 1, nil, 1)
	g, _, ok := Fit(x, Settings{K: 4, Covariance: typ}, rand.NewPCG(1, 2))
	if !ok {
		t.Fatal("source fit failed")
	}
	return g, x
}

// nearest returns the index of the centre (plus shift) closest to m.
func nearest(m []float64, shift []float64) int {
	best, bd := -1, math.Inf(1)
	for c, ctr := range adaptCentres {
		var s float64
		for j := range m {
			v := m[j] - ctr[j] - shift[j]
			s += v * v
		}
		if s < bd {
			best, bd = c, s
		}
	}
	return best
}

func TestAdaptZeroRelevanceIsEM(t *testing.T) {
	for _, typ := range []CovarianceType{Full, Diag, Spherical, Tied} {
		t.Run(typ.String(), func(t *testing.T) {
			src, _ := fitSource(t, typ)
			x, _ := scene(3000, adaptCentres, []float64{2, 1, 1, 1}, 1.3, []float64{1, -1, 0.5}, 2)
			const iters = 4
			got, info, ok, err := Adapt(context.Background(), src, x, AdaptSettings{Relevance: -1, Tol: -1, MaxIter: iters})
			if err != nil || !ok {
				t.Fatalf("Adapt: ok %v err %v", ok, err)
			}
			if info.Iterations != iters {
				t.Fatalf("%d iterations, want %d", info.Iterations, iters)
			}
			want, _, ok := Fit(x, Settings{Init: src, Tol: -1, MaxIter: iters}, rand.NewPCG(3, 4))
			if !ok {
				t.Fatal("EM from the source failed")
			}
			gm, wm := got.Means(), want.Means()
			if !mat.EqualApprox(gm, wm, 1e-7) {
				t.Errorf("means\n%v\nwant EM's\n%v", mat.Formatted(gm), mat.Formatted(wm))
			}
			gc, wc := got.Covariances(), want.Covariances()
			for c := range gc {
				if !mat.EqualApprox(gc[c], wc[c], 1e-7) {
					t.Errorf("covariance %d\n%v\nwant EM's\n%v", c, mat.Formatted(gc[c]), mat.Formatted(wc[c]))
				}
			}
			for c, w := range got.Weights() {
				if math.Abs(w-want.Weights()[c]) > 1e-9 {
					t.Errorf("weight %d = %v, want EM's %v", c, w, want.Weights()[c])
				}
			}
		})
	}
}

func TestAdaptHugeRelevanceKeepsSource(t *testing.T) {
	src, _ := fitSource(t, Full)
	x, _ := scene(2000, adaptCentres, []float64{1, 1, 1, 1}, 1, []float64{3, 3, 3}, 3)
	got, info, ok, err := Adapt(context.Background(), src, x, AdaptSettings{Relevance: 1e15})
	if err != nil || !ok {
		t.Fatalf("Adapt: ok %v err %v", ok, err)
	}
	if !mat.EqualApprox(got.Means(), src.Means(), 1e-9) {
		t.Errorf("means moved under an overwhelming prior:\n%v\nsource\n%v", mat.Formatted(got.Means()), mat.Formatted(src.Means()))
	}
	for c, a := range info.Alpha {
		if a > 1e-9 {
			t.Errorf("alpha[%d] = %v, want about 0", c, a)
		}
	}
}

// One update on clusters so far apart that every posterior is 0 or 1 has a
// closed form: μ_k = α x̄_k + (1 − α) μ⁰_k with α = n_k / (n_k + r).
func TestAdaptOneStepKnownAnswer(t *testing.T) {
	src, _ := fitSource(t, Full)
	shift := []float64{0.7, -0.4, 0.2}
	x, y := scene(400, adaptCentres, []float64{4, 2, 1, 1}, 0.5, shift, 4)
	const r = 16
	got, info, ok, err := Adapt(context.Background(), src, x, AdaptSettings{Relevance: r, MaxIter: 1})
	if err != nil || !ok {
		t.Fatalf("Adapt: ok %v err %v", ok, err)
	}
	mu0 := src.Means()
	// Source component of each true cluster.
	comp := make([]int, len(adaptCentres))
	for c := range comp {
		comp[c] = -1
	}
	for k := range src.K() {
		comp[nearest(mu0.RawRowView(k), []float64{0, 0, 0})] = k
	}
	sum := make([][]float64, len(adaptCentres))
	cnt := make([]float64, len(adaptCentres))
	for i, c := range y {
		if sum[c] == nil {
			sum[c] = make([]float64, 3)
		}
		for j := range 3 {
			sum[c][j] += x.At(i, j)
		}
		cnt[c]++
	}
	for c, k := range comp {
		if k < 0 {
			t.Fatalf("no source component near centre %d", c)
		}
		a := cnt[c] / (cnt[c] + r)
		// The posteriors are 1 to about 1e-8, not exactly.
		if math.Abs(info.Alpha[k]-a) > 1e-7 || math.Abs(info.Counts[k]-cnt[c]) > 1e-4 {
			t.Errorf("component %d: alpha %v count %v, want %v %v", k, info.Alpha[k], info.Counts[k], a, cnt[c])
		}
		for j := range 3 {
			want := a*sum[c][j]/cnt[c] + (1-a)*mu0.At(k, j)
			if g := got.Means().At(k, j); math.Abs(g-want) > 1e-6 {
				t.Errorf("mean[%d][%d] = %v, want %v", k, j, g, want)
			}
		}
	}
}

// A shift of the whole data (as a change of white balance moves every
// colour) must move each concept without renaming it.
func TestAdaptKeepsIdentityUnderShift(t *testing.T) {
	src, _ := fitSource(t, Full)
	shift := []float64{3.5, -3.5, 2.5}
	x, y := scene(4000, adaptCentres, []float64{1, 2, 1, 3}, 1, shift, 5)
	got, info, ok, err := Adapt(context.Background(), src, x, AdaptSettings{})
	if err != nil || !ok {
		t.Fatalf("Adapt: ok %v err %v", ok, err)
	}
	if !info.Converged {
		t.Errorf("did not converge in %d iterations", info.Iterations)
	}
	srcMeans, m := src.Means(), got.Means()
	truth := make([]int, src.K()) // true cluster of each component
	for k := range src.K() {
		truth[k] = nearest(srcMeans.RawRowView(k), []float64{0, 0, 0})
		if c := nearest(m.RawRowView(k), shift); c != truth[k] {
			t.Errorf("component %d was cluster %d in the source, is nearest to %d after adaptation", k, truth[k], c)
		}
	}
	var agree int
	for i, l := range got.Predict(x, 0) {
		if truth[l] == y[i] {
			agree++
		}
	}
	if acc := float64(agree) / float64(len(y)); acc < 0.99 {
		t.Errorf("adapted model labels %.3f of the rows with their source concept, want >= 0.99", acc)
	}
	// The unadapted source mislabels many of them: the test would pass
	// without adaptation otherwise.
	agree = 0
	for i, l := range src.Predict(x, 0) {
		if truth[l] == y[i] {
			agree++
		}
	}
	if acc := float64(agree) / float64(len(y)); acc > 0.95 {
		t.Errorf("the source model alone already gets %.3f: the shift is too small to test adaptation", acc)
	}
}

func TestDrift(t *testing.T) {
	src, xs := fitSource(t, Full)
	const q = 0.01
	thr := NoveltyThreshold(src, xs, q, 0)
	t.Run("same distribution", func(t *testing.T) {
		x, _ := scene(4000, adaptCentres, []float64{1, 1, 1, 1}, 1, nil, 6)
		g, info, ok, _ := Adapt(context.Background(), src, x, AdaptSettings{})
		if !ok {
			t.Fatal("Adapt failed")
		}
		dr := MeasureDrift(src, g, info, x, thr, q, 0)
		if dr.SuggestNew || math.Abs(dr.NovelShare-q) > 0.01 {
			t.Errorf("novel share %.4f (suggest %v), want about %v and no suggestion", dr.NovelShare, dr.SuggestNew, q)
		}
		for c := range dr.Shift {
			if dr.Vanished[c] || dr.Shift[c] > 0.2 || math.Abs(dr.TargetShare[c]-0.25) > 0.03 {
				t.Errorf("component %d: vanished %v shift %.3f target share %.3f", c, dr.Vanished[c], dr.Shift[c], dr.TargetShare[c])
			}
		}
	})
	t.Run("one gone, one new", func(t *testing.T) {
		centres := append(append([][]float64(nil), adaptCentres...), []float64{-9, -9, -9})
		// Cluster 2 is absent; a fifth, far from all, holds 20%.
		x, _ := scene(5000, centres, []float64{1, 1, 0, 1, 0.75}, 1, nil, 7)
		g, info, ok, _ := Adapt(context.Background(), src, x, AdaptSettings{})
		if !ok {
			t.Fatal("Adapt failed")
		}
		dr := MeasureDrift(src, g, info, x, thr, q, 0)
		if !dr.SuggestNew || math.Abs(dr.NovelShare-0.2) > 0.03 {
			t.Errorf("novel share %.4f (suggest %v), want about 0.2 and a suggestion", dr.NovelShare, dr.SuggestNew)
		}
		gone := -1
		for k := range src.K() {
			if nearest(src.Means().RawRowView(k), []float64{0, 0, 0}) == 2 {
				gone = k
			}
		}
		for c, v := range dr.Vanished {
			if v != (c == gone) {
				t.Errorf("component %d: vanished %v (alpha %.3f), want %v", c, v, info.Alpha[c], c == gone)
			}
		}
	})
}

func TestAdaptFailures(t *testing.T) {
	src, _ := fitSource(t, Full)
	if _, _, ok, _ := Adapt(context.Background(), src, mat.NewDense(1, 3, []float64{math.NaN(), 0, 0}), AdaptSettings{}); ok {
		t.Error("NaN data adapted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	x, _ := scene(100, adaptCentres, []float64{1, 1, 1, 1}, 1, nil, 8)
	if _, _, _, err := Adapt(ctx, src, x, AdaptSettings{}); err == nil {
		t.Error("cancelled context: no error")
	}
	defer func() {
		if recover() == nil {
			t.Error("dimension mismatch did not panic")
		}
	}()
	Adapt(context.Background(), src, mat.NewDense(2, 2, nil), AdaptSettings{})
}

// With Init, the first M-step takes the given responsibilities: under a
// shift of three times the clusters' spacing every new row lies nearest to
// some other source component, and plain adaptation hands them to it; the
// true assignment as Init (what a shift-robust classifier gives) keeps each
// component on its own cluster, and so does one step with Init alone.
func TestAdaptInitKeepsIdentityUnderLargeShift(t *testing.T) {
	src, _ := fitSource(t, Full)
	shift := []float64{8, 0, 0} // cluster 0 lands on source component 1's place
	x, y := scene(2000, adaptCentres, []float64{1, 1, 1, 1}, 1, shift, 9)
	// Source components in the order of adaptCentres.
	order := make([]int, 4)
	sm := src.Means()
	for c := range 4 {
		order[nearest(sm.RawRowView(c), []float64{0, 0, 0})] = c
	}
	init := mat.NewDense(len(y), 4, nil)
	for i, c := range y {
		init.Set(i, order[c], 1)
	}
	got, _, ok, err := Adapt(context.Background(), src, x, AdaptSettings{Init: init})
	if err != nil || !ok {
		t.Fatalf("Adapt: ok %v err %v", ok, err)
	}
	for c := range 4 {
		if n := nearest(got.Means().RawRowView(order[c]), shift); n != c {
			t.Errorf("with Init, component of cluster %d ends on cluster %d", c, n)
		}
	}
	plain, _, ok, _ := Adapt(context.Background(), src, x, AdaptSettings{})
	if !ok {
		t.Fatal("plain Adapt failed")
	}
	wrong := 0
	for c := range 4 {
		if nearest(plain.Means().RawRowView(order[c]), shift) != c {
			wrong++
		}
	}
	if wrong == 0 {
		t.Errorf("plain adaptation kept every identity under this shift: the test shows nothing")
	}
}
