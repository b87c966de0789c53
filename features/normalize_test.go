package features

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

func correlatedData(n int, seed uint64) *mat.Dense {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := mat.NewDense(n, 4, nil)
	for i := range n {
		a, b := rng.NormFloat64(), rng.NormFloat64()
		x.SetRow(i, []float64{1000 + 5*a, 2*a + 0.1*b, -3 + b, 7})
	}
	return x
}

func TestMomentsStreaming(t *testing.T) {
	x := correlatedData(1000, 1)
	var m Moments
	for start := 0; start < 1000; start += 137 {
		m.Add(x.Slice(start, min(start+137, 1000), 0, 4).(*mat.Dense))
	}
	if m.N() != 1000 {
		t.Fatalf("N = %d", m.N())
	}
	want := mat.NewSymDense(4, nil)
	stat.CovarianceMatrix(want, x, nil)
	want.ScaleSym(999.0/1000, want) // population covariance
	got := m.Covariance()
	for i := range 4 {
		if mean := stat.Mean(mat.Col(nil, i, x), nil); math.Abs(m.Mean()[i]-mean) > 1e-9 {
			t.Errorf("mean[%d] = %v, want %v", i, m.Mean()[i], mean)
		}
		for j := range 4 {
			if math.Abs(got.At(i, j)-want.At(i, j)) > 1e-9 {
				t.Errorf("cov[%d,%d] = %v, want %v", i, j, got.At(i, j), want.At(i, j))
			}
		}
	}
}

// TestTwoPassMomentsMatchOneAdd checks that streaming a dataset twice in
// batches of any sizes gives bit for bit the Moments of one Add over the
// whole dataset (the cluster stage relies on it to fit the normaliser it
// fitted when it held every feature row), and that the rows agree with
// the population covariance.
func TestTwoPassMomentsMatchOneAdd(t *testing.T) {
	x := correlatedData(1000, 3)
	// Large offsets make the rounding depend on the order of the sums.
	for i := range 1000 {
		x.Set(i, 0, x.At(i, 0)+1e6)
	}
	var whole Moments
	whole.Add(x)
	for _, sizes := range [][]int{{1000}, {1, 999}, {137}, {1, 2, 3, 500, 494}, {7}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			batches := func(f func(*mat.Dense)) {
				for start, b := 0, 0; start < 1000; b++ {
					n := sizes[min(b, len(sizes)-1)]
					f(x.Slice(start, min(start+n, 1000), 0, 4).(*mat.Dense))
					start += n
				}
			}
			var p TwoPassMoments
			batches(p.AddSum)
			batches(p.AddScatter)
			got := p.Moments()
			if got.N() != whole.N() || !slices.Equal(got.Mean(), whole.Mean()) {
				t.Fatalf("n %d mean %v, one Add: n %d mean %v", got.N(), got.Mean(), whole.N(), whole.Mean())
			}
			gc, wc := got.Covariance(), whole.Covariance()
			for i := range 4 {
				for j := range 4 {
					if math.Float64bits(gc.At(i, j)) != math.Float64bits(wc.At(i, j)) {
						t.Errorf("cov[%d,%d] = %v, one Add %v", i, j, gc.At(i, j), wc.At(i, j))
					}
				}
			}
		})
	}
	want := mat.NewSymDense(4, nil)
	stat.CovarianceMatrix(want, x, nil)
	want.ScaleSym(999.0/1000, want)
	for i := range 4 {
		for j := range 4 {
			if d := whole.Covariance().At(i, j) - want.At(i, j); math.Abs(d) > 1e-6 {
				t.Errorf("cov[%d,%d] off by %v", i, j, d)
			}
		}
	}
}

func TestTwoPassMomentsMisuse(t *testing.T) {
	x := correlatedData(10, 1)
	for _, tc := range []struct {
		name string
		f    func(p *TwoPassMoments)
	}{
		{"sum after scatter", func(p *TwoPassMoments) { p.AddSum(x); p.AddScatter(x); p.AddSum(x) }},
		{"scatter over more rows", func(p *TwoPassMoments) { p.AddSum(x); p.AddScatter(x); p.AddScatter(x) }},
		{"moments before the second pass ends", func(p *TwoPassMoments) { p.AddSum(x); p.Moments() }},
		{"width changes", func(p *TwoPassMoments) { p.AddSum(x); p.AddSum(x.Slice(0, 10, 0, 2).(*mat.Dense)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f(&TwoPassMoments{})
		})
	}
}

func TestNormalizerStandardize(t *testing.T) {
	x := correlatedData(500, 2)
	var m Moments
	m.Add(x)
	n, ok := FitNormalizer(&m, NormalizerSettings{Weights: []float64{1, 2, 0.5, 1}})
	if !ok {
		t.Fatal("fit failed")
	}
	y := n.Apply(x)
	wantSD := []float64{1, 2, 0.5, 0} // constant column stays 0
	for j := range 4 {
		col := mat.Col(nil, j, y)
		mean, sd := stat.PopMeanStdDev(col, nil)
		if math.Abs(mean) > 1e-9 || math.Abs(sd-wantSD[j]) > 1e-9 {
			t.Errorf("column %d: mean %v sd %v, want 0 and %v", j, mean, sd, wantSD[j])
		}
	}
}

func TestNormalizerPCA(t *testing.T) {
	x := correlatedData(2000, 3)
	var m Moments
	m.Add(x)
	n, ok := FitNormalizer(&m, NormalizerSettings{PCA: 2})
	if !ok {
		t.Fatal("fit failed")
	}
	y := n.Apply(x)
	if _, c := y.Dims(); c != 2 || n.Dims() != 2 {
		t.Fatalf("%d columns", c)
	}
	// Projected columns are uncorrelated with the reported variances, in
	// decreasing order; the components are orthonormal.
	cov := mat.NewSymDense(2, nil)
	stat.CovarianceMatrix(cov, y, nil)
	cov.ScaleSym(1999.0/2000, cov)
	if math.Abs(cov.At(0, 1)) > 1e-9 || math.Abs(cov.At(0, 0)-n.Variances[0]) > 1e-9 || math.Abs(cov.At(1, 1)-n.Variances[1]) > 1e-9 {
		t.Errorf("projected covariance %v, variances %v", mat.Formatted(cov), n.Variances)
	}
	if !(n.Variances[0] >= n.Variances[1]) {
		t.Errorf("variances not decreasing: %v", n.Variances)
	}
	var g mat.Dense
	g.Mul(n.Components.T(), n.Components)
	if !mat.EqualApprox(&g, mat.NewDiagDense(2, []float64{1, 1}), 1e-12) {
		t.Errorf("components not orthonormal: %v", mat.Formatted(&g))
	}
	// Columns 0 and 1 are nearly collinear (standardised correlation
	// about 0.9995), so the first axis carries about 2 units of variance.
	if math.Abs(n.Variances[0]-2) > 0.05 {
		t.Errorf("first variance %v, want about 2", n.Variances[0])
	}
}

func TestNormalizerParamsRoundTrip(t *testing.T) {
	x := correlatedData(100, 4)
	var m Moments
	m.Add(x)
	for _, s := range []NormalizerSettings{{}, {PCA: 3, Weights: []float64{1, 1, 2, 1}}} {
		n, _ := FitNormalizer(&m, s)
		ps, meta := n.Params()
		l, err := LoadNormalizer(ps, meta)
		if err != nil {
			t.Fatal(err)
		}
		if !mat.Equal(l.Apply(x), n.Apply(x)) {
			t.Error("loaded normalizer differs")
		}
		ps[1].Data[0] = -1
		if _, err := LoadNormalizer(ps, meta); err == nil {
			t.Error("accepted a negative scale")
		}
	}
}

func TestConcat(t *testing.T) {
	a := mat.NewDense(2, 1, []float64{1, 2})
	b := mat.NewDense(2, 2, []float64{3, 4, 5, 6})
	want := mat.NewDense(2, 3, []float64{1, 3, 4, 2, 5, 6})
	if got := Concat(a, b); !mat.Equal(got, want) {
		t.Errorf("Concat = %v", mat.Formatted(got))
	}
}
