package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// splitGroups cuts x's rows into groups contiguous groups of about equal
// size, each yielded as blocks of at most block rows (views of x, so the
// test also sees that strides are honoured).
func splitGroups(x *mat.Dense, groups, block int) GroupRows {
	n, d := x.Dims()
	return func(ctx context.Context, i int, yield func(*mat.Dense) error) error {
		r0, r1 := i*n/groups, (i+1)*n/groups
		for b := r0; b < r1; b += block {
			if err := yield(x.Slice(b, min(r1, b+block), 0, d).(*mat.Dense)); err != nil {
				return err
			}
		}
		return nil
	}
}

// maxDiff is the largest absolute difference between two models'
// weights, means and covariances.
func maxDiff(a, b *GMM) float64 {
	var m float64
	for _, p := range [][2][]float64{{a.weights, b.weights}, {a.means, b.means}, {a.cov, b.cov}} {
		for i := range p[0] {
			m = max(m, math.Abs(p[0][i]-p[1][i]))
		}
	}
	return m
}

func sameBits(a, b *GMM) bool {
	return slices.Equal(a.weights, b.weights) && slices.Equal(a.means, b.means) && slices.Equal(a.cov, b.cov)
}

// TestRefineMatchesInMemoryEM checks that EM by summed group statistics
// (RefineContext) gives the model and log-likelihood curve of the
// in-memory EM (Fit from the same Init) over the concatenated rows, for 1,
// 3 and 7 groups, and the same bits for 1, 2 and 5 workers.
func TestRefineMatchesInMemoryEM(t *testing.T) {
	x, _ := blobs(2100, 4, 3, 11)
	n, _ := x.Dims()
	for _, typ := range []CovarianceType{Full, Diag, Spherical, Tied} {
		// The start: a fit on a sample of 150 rows, as the pipeline's.
		init, _, ok := Fit(x, Settings{K: 4, Covariance: typ, MaxSamples: 150, MaxIter: 5}, rand.NewPCG(3, 4))
		if !ok {
			t.Fatalf("%v: sample fit failed", typ)
		}
		// Tol < 0: all 30 iterations, so that rounding differences would
		// have iterations to grow.
		s := Settings{Tol: -1, MaxIter: 30}
		want, wantInfo, ok := Fit(x, Settings{Init: init, Tol: s.Tol, MaxIter: s.MaxIter}, rand.NewPCG(5, 6))
		if !ok {
			t.Fatalf("%v: in-memory EM failed", typ)
		}
		for _, groups := range []int{1, 3, 7} {
			var ref *GMM
			for _, workers := range []int{1, 2, 5} {
				t.Run(fmt.Sprintf("%v/%d groups/%d workers", typ, groups, workers), func(t *testing.T) {
					s.Workers = workers
					g, info, ok, err := RefineContext(context.Background(), init, groups, splitGroups(x, groups, 97), s, rand.NewPCG(5, 6))
					if err != nil || !ok {
						t.Fatalf("%d groups, %d workers: ok %v, err %v", groups, workers, ok, err)
					}
					if info.Rows != n || info.FitRows != n || info.Sampled {
						t.Errorf("info rows %d/%d sampled %v, want %d", info.Rows, info.FitRows, info.Sampled, n)
					}
					if info.Iterations != wantInfo.Iterations || info.Converged != wantInfo.Converged {
						t.Errorf("%d groups: %d iterations (converged %v), in memory %d (%v)",
							groups, info.Iterations, info.Converged, wantInfo.Iterations, wantInfo.Converged)
					}
					if d := math.Abs(info.LowerBound - wantInfo.LowerBound); d > 1e-9 {
						t.Errorf("%d groups: lower bound %v, in memory %v", groups, info.LowerBound, wantInfo.LowerBound)
					}
					if d := maxDiff(g, want); d > 1e-9 {
						t.Errorf("%d groups: parameters differ from the in-memory EM's by %g", groups, d)
					}
					if ref == nil {
						ref = g
					} else if !sameBits(g, ref) {
						t.Errorf("%d groups: %d workers give other bits than 1", groups, workers)
					}
				})
			}
		}
	}
}

// TestRefineReseeds checks the re-seeding of a component that explains no
// row: on the worst-explained row, fetched from the groups, as the
// in-memory EM re-seeds it.
func TestRefineReseeds(t *testing.T) {
	x, _ := blobs(600, 3, 2, 6)
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
	want, wantInfo, ok := Fit(x, Settings{Init: init, MaxIter: 50}, rand.NewPCG(1, 1))
	if !ok || wantInfo.Reseeded == 0 {
		t.Fatalf("in-memory reference: ok %v, reseeded %d", ok, wantInfo.Reseeded)
	}
	g, info, ok, err := RefineContext(context.Background(), init, 3, splitGroups(x, 3, 50), Settings{MaxIter: 50, Workers: 2}, rand.NewPCG(1, 1))
	if err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	if info.Reseeded != wantInfo.Reseeded || info.Iterations != wantInfo.Iterations {
		t.Errorf("reseeded %d in %d iterations, in memory %d in %d", info.Reseeded, info.Iterations, wantInfo.Reseeded, wantInfo.Iterations)
	}
	if d := maxDiff(g, want); d > 1e-9 {
		t.Errorf("parameters differ from the in-memory EM's by %g", d)
	}
}

func TestRefineFailures(t *testing.T) {
	x, _ := blobs(300, 3, 2, 2)
	init, _, ok := Fit(x, Settings{K: 3}, rand.NewPCG(1, 2))
	if !ok {
		t.Fatal("fit")
	}
	t.Run("source error", func(t *testing.T) {
		boom := errors.New("boom")
		rows := func(ctx context.Context, i int, yield func(*mat.Dense) error) error {
			if i == 2 {
				return boom
			}
			return splitGroups(x, 4, 64)(ctx, i, yield)
		}
		for _, w := range []int{1, 3} {
			if _, _, ok, err := RefineContext(context.Background(), init, 4, rows, Settings{Workers: w}, rand.NewPCG(1, 1)); ok || !errors.Is(err, boom) {
				t.Errorf("workers %d: ok %v, err %v, want boom", w, ok, err)
			}
		}
	})
	t.Run("NaN row", func(t *testing.T) {
		y := mat.DenseCopyOf(x)
		y.Set(123, 1, math.NaN())
		if _, _, ok, err := RefineContext(context.Background(), init, 2, splitGroups(y, 2, 64), Settings{}, rand.NewPCG(1, 1)); ok || err != nil {
			t.Errorf("ok %v, err %v, want a numerical failure", ok, err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, ok, err := RefineContext(ctx, init, 2, splitGroups(x, 2, 64), Settings{}, rand.NewPCG(1, 1)); ok || !errors.Is(err, context.Canceled) {
			t.Errorf("ok %v, err %v", ok, err)
		}
	})
}
