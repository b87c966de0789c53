package cluster

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/sourcegraph/conc/stream"
	"gonum.org/v1/gonum/mat"
)

// GroupRows passes the rows of group i of a dataset (0 ≤ i < the number of
// groups) to yield as in-memory blocks, and returns yield's first error or
// its own. Every call for a group must yield the same blocks, with the same
// rows, in the same order: EM visits the data once per iteration. It is
// called for different groups at once (up to Settings.Workers calls), and
// yield only reads a block while it runs, so the source may reuse it after.
type GroupRows func(ctx context.Context, i int, yield func(*mat.Dense) error) error

// RefineContext runs EM from init over every row of a dataset held outside
// memory, as groups of row blocks that rows yields (a distributed EM in the
// manner of Spark MLlib's GaussianMixture): each iteration streams every
// group once, computes the group's E-step sufficient statistics
// (responsibility sums, weighted sums and weighted second moments about the
// current means) block by block in block order, sums the groups' statistics
// in group order, and takes the M-step on the sums. Only one block per
// worker and the statistics of a few groups are held, whatever the size of
// the dataset.
//
// It is the EM of Fit (same M-step, RegCovar, re-seeding of degenerate
// components, Tol on the mean log-likelihood per row, MaxIter) with K and
// the covariance form of init; the other Settings fields (K, Covariance,
// NInit, Init, InitMethod, KMeansIter, MaxSamples) are ignored. Groups may
// be computed by Settings.Workers goroutines: the sums, and so the model,
// are the same bits for any number of workers, since each group is summed
// on its own and the groups are added in a fixed order. They depend on how
// the rows are split into groups and blocks only through rounding (the
// same rows grouped differently give the same model within about 1e-12
// relative). FitInfo reports Rows = FitRows = the rows seen, Sampled
// false. Degenerate components are re-seeded on rows fetched by one more
// pass over the groups; src is used only for that.
//
// ok is false when the fit fails numerically (a row holds NaN or ±Inf,
// there are fewer rows than components, or a covariance cannot be
// repaired); err is ctx.Err() when ctx is done, or an error of rows. It
// panics if init or rows is nil, groups < 1, or a block's width differs
// from init's dimension.
func RefineContext(ctx context.Context, init *GMM, groups int, rows GroupRows, s Settings, src rand.Source) (*GMM, FitInfo, bool, error) {
	if init == nil || rows == nil || src == nil {
		panic("cluster: Refine with nil init, rows or src")
	}
	if groups < 1 {
		panic(fmt.Sprintf("cluster: Refine over %d groups", groups))
	}
	s.Init = init
	s = s.resolved()
	g := init
	rng := rand.New(src)
	var info FitInfo
	var ri runInfo
	lb := math.Inf(-1)
	budget := 3 * g.k
	// A fixed offset, the initial mixture mean (the data mean when init was
	// fitted on these rows, near it when on a sample of them), centres
	// every iteration's rows for the expanded quadratic form, as Fit's EM
	// centres them on the column means.
	offset := make([]float64, g.d)
	for c := range g.k {
		for j := range g.d {
			offset[j] += g.weights[c] * g.means[c*g.d+j]
		}
	}
	for it := 1; it <= s.MaxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, info, false, err
		}
		prev := lb
		kr := g.kernelAt(offset)
		st, n, err := sumGroups(ctx, kr, g.typ.s2(), groups, rows, s.Workers)
		if err != nil {
			return nil, info, false, err
		}
		info.Rows, info.FitRows = n, n
		if n < g.k {
			return nil, info, false, nil
		}
		lb = st.ll / float64(n)
		if math.IsNaN(lb) || math.IsInf(lb, 0) {
			return nil, info, false, nil
		}
		fetch := func(idx []int) ([]float64, error) { return fetchRows(ctx, groups, rows, idx, g.d) }
		ng, reseeded, ok, err := mstep(fetch, n, g.typ, kr, st, s.RegCovar, rng, &budget)
		if err != nil {
			return nil, info, false, err
		}
		if !ok {
			return nil, info, false, nil
		}
		g = ng
		if ri.iterated(ctx, s, it, lb, prev, reseeded, "gmm: EM iteration over all rows", "rows", n) {
			break
		}
	}
	info.Iterations, info.Converged, info.LowerBound = ri.Iterations, ri.Converged, ri.LowerBound
	info.Curve, info.Reseeded = ri.Curve, ri.Reseeded
	return g, info, true, nil
}

// groupSums are the statistics of one group and its number of rows.
type groupSums struct {
	st  *stats
	n   int
	err error
}

// sumGroups is one E-step over every group: the statistics of each group
// (its blocks' passes added in block order), added in group order, and the
// number of rows. minRow is numbered over the whole dataset (groups in
// order, their blocks in order). The groups are computed by up to workers
// goroutines; each block's pass runs on one, so that no statistic depends
// on the number of workers.
func sumGroups(ctx context.Context, kr *kernel, mode s2Mode, groups int, rows GroupRows, workers int) (*stats, int, error) {
	total := newStats(kr.k, kr.d, mode)
	n := 0
	var firstErr error
	var failed atomic.Bool // firstErr is set: submit no more groups
	fold := func(gs groupSums) {
		if firstErr != nil {
			return
		}
		if gs.err != nil {
			firstErr = gs.err
			failed.Store(true)
			return
		}
		if gs.st.minRow >= 0 {
			gs.st.minRow += n
		}
		total.add(gs.st)
		n += gs.n
	}
	one := func(i int) groupSums {
		gs := groupSums{st: newStats(kr.k, kr.d, mode)}
		gs.err = rows(ctx, i, func(x *mat.Dense) error {
			raw := x.RawMatrix()
			if raw.Cols != kr.d {
				panic(fmt.Sprintf("cluster: a block of %d columns for a model of dimension %d", raw.Cols, kr.d))
			}
			if raw.Rows == 0 {
				return nil
			}
			b := (&pass{x: raw, kr: kr, mode: mode, stats: true, workers: 1}).run()
			if b.minRow >= 0 {
				b.minRow += gs.n
			}
			gs.st.add(b)
			gs.n += raw.Rows
			return ctx.Err()
		})
		return gs
	}
	workers = max(1, min(workers, groups))
	if workers == 1 {
		for i := range groups {
			fold(one(i))
			if firstErr != nil {
				break
			}
		}
		return total, n, firstErr
	}
	// The stream runs the groups on the workers and the callbacks, which
	// fold them, one at a time in submission (group) order.
	sm := stream.New().WithMaxGoroutines(workers)
	for i := range groups {
		if ctx.Err() != nil || failed.Load() {
			break
		}
		sm.Go(func() stream.Callback {
			gs := one(i)
			return func() { fold(gs) }
		})
	}
	sm.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return total, n, firstErr
}

// fetchRows returns the rows idx (numbered as sumGroups numbers them) of the
// dataset, len(idx)×d row-major in the order of idx, by one pass over the
// groups.
func fetchRows(ctx context.Context, groups int, rows GroupRows, idx []int, d int) ([]float64, error) {
	out := make([]float64, len(idx)*d)
	found := make([]bool, len(idx))
	n := 0
	for i := range groups {
		err := rows(ctx, i, func(x *mat.Dense) error {
			raw := x.RawMatrix()
			for j, r := range idx {
				if r >= n && r < n+raw.Rows {
					copy(out[j*d:(j+1)*d], raw.Data[(r-n)*raw.Stride:(r-n)*raw.Stride+d])
					found[j] = true
				}
			}
			n += raw.Rows
			return ctx.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	for j, ok := range found {
		if !ok {
			return nil, fmt.Errorf("cluster: row %d of %d rows not found: the groups yielded fewer rows than in the E-step", idx[j], n)
		}
	}
	return out, nil
}
