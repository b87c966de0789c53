// Package cluster fits Gaussian mixture models by expectation-maximisation:
// the "concepts" of segdiscover are the components of a mixture over the
// feature vectors of every superpixel of a dataset.
//
// # Model and algorithm
//
// The mixture density is p(x) = Σ_k w_k N(x | μ_k, Σ_k) with full, diagonal,
// spherical or tied covariances. EM (Dempster, Laird and Rubin, "Maximum
// likelihood from incomplete data via the EM algorithm", JRSS B 39(1), 1977;
// Bishop, "Pattern Recognition and Machine Learning", 2006, ch. 9.2) alternates
//
//	E-step: r_nk = w_k N(x_n|μ_k,Σ_k) / Σ_j w_j N(x_n|μ_j,Σ_j), computed with
//	        log-sum-exp from log-densities,
//	M-step: N_k = Σ_n r_nk, w_k = N_k/N, μ_k = Σ_n r_nk x_n / N_k,
//	        Σ_k = Σ_n r_nk (x_n−μ_k)(x_n−μ_k)ᵀ / N_k + reg_covar·I,
//
// following scikit-learn's GaussianMixture formulation exactly (N_k + 10ε,
// reg_covar on the diagonal, convergence when the change of the mean
// log-likelihood of the E-step falls below tol, k-means initialisation, the
// same lower bound and BIC/AIC parameter counts), so that from the same
// initial weights, means and precisions and the same number of iterations
// the mean log-likelihood agrees with scikit-learn's score to rounding (the
// tests hold 1e−9 relative). Covariances are factored by Cholesky; the
// precision Λ = L⁻ᵀL⁻¹ comes from the triangular inverse of the factor (as
// scikit-learn's precisions_cholesky_), never from a general inverse, and a
// factorisation failure is reported, not turned into NaN.
//
// # Speed
//
// Each EM iteration is one pass over the rows, in blocks, with the E-step of
// the current parameters fused with the accumulation of the next M-step's
// statistics. The E-step is dense linear algebra: with the expansion
// z(x) = [xᵢxⱼ (i ≤ j), x, 1] the log-densities of all components for a block
// of rows are one GEMM, Z Wᵀ, where row k of W holds −½Λ_k (off-diagonal
// terms doubled), Λ_kμ_k and log w_k − ½(μ_kᵀΛ_kμ_k + log det Σ_k + D log 2π)
// (diagonal: z = [x², x, 1]). That is D²/2 multiply-adds per row and
// component, half of the triangular solves of (x−μ_k) against the Cholesky
// factor, in one well-shaped GEMM. Rows are centred on the mixture mean
// first to keep the expanded quadratic form from cancelling. Exact (float64)
// entries all come from one fixed arithmetic (dot.go: four fused
// multiply-add lanes, a fixed lane sum), run by AVX2+FMA kernels on amd64
// and by math.FMA elsewhere with the same bits, so that every path below
// gives the same results. For full covariances (m ≈ D²/2) the GEMM runs in
// float32 (twice gonum's float64 speed) only to screen: with a rigorous bound
// on its rounding error it finds the components whose responsibility is
// certainly below e⁻⁵⁰ of the row's largest, and every other entry is
// recomputed in float64, so results equal the all-float64 ones. For diagonal
// and spherical ones (m = 2D+1, D+2) the exact kernel, two rows by four
// components per call, is cheaper than the screen. Across EM
// iterations the rows are centred on a fixed offset, so z(x) is fixed and
// |Δ(z·w_k)| ≤ ‖z‖‖Δw_k‖: an upper bound per row and component (float32,
// rounded up) carried from one iteration to the next lets later iterations
// skip even the float32 GEMM for the components a row provably cannot use
// (as Elkan's bounds do for k-means, ICML 2003), falling back to the GEMM
// for a block when the bounds exclude too little. Results are bit-identical
// with and without the bounds (tested): the bounds only decide which
// entries are computed, never how. For diagonal and spherical mixtures each
// block of rows then goes through load, bound test (vectorised), exact
// terms, log-sum-exp and moments while it is in cache, carrying only the
// entries its bounds leave (about 3 of 27 on the benchmark data) instead of
// K per row.
//
// Responsibilities below e⁻⁵⁰ (2e−22) of a row's largest are zero (they
// change no log-likelihood digit and a component's statistics by less than
// N·2e−22 rows), so the M-step visits only the rows a component explains:
// for full covariances it gathers √r_nk (x_n − μ_k) rows and folds them with
// Dsyrk, centred on the current mean so the update does not cancel; for
// diagonal ones each row adds r(x−μ_k) and r(x−μ_k)² to the few components
// that explain it (about 2 of 27 on the benchmark data): a sparse form of
// scikit-learn's dense resp.T @ X and resp.T @ X², at about a twelfth of
// the work.
//
// Rows are processed in chunks whose size depends only on N; chunk
// statistics are reduced in chunk order, so results are identical for any
// number of workers. The float32 screen and Dsyrk go through gonum's
// blas32/blas64 interfaces, so blas32.Use / blas64.Use can swap in another
// implementation; the exact float64 products do not (their arithmetic is
// fixed, see above). Memory is
// O(workers·chunk·(D+K) + K·D²) plus the bounds, N×K float32 during a fit;
// no N×K×D intermediate is made, and no N×K float64 one except by
// PredictProba and balanced assignment.
//
// # Initialisation, restarts, scale, model selection
//
// k-means++ seeding (Arthur and Vassilvitskii, SODA 2007, greedy with
// 2+⌊ln K⌋ candidates as scikit-learn) on at most 30000 sampled rows, then
// Lloyd iterations over every fit row; the hard labels give the initial
// parameters by one M-step, as scikit-learn's init_params="kmeans".
// Settings.NInit restarts keep the best final lower bound; Settings.Init
// starts from a given model instead.
//
// Settings.InitMethod = InitConsensus trades the luck of one start for the
// most reproducible of several: ten restarts (k-means++, Lloyd, EM) on one
// uniform sample of 20000 rows (at least 50 per component), the hard
// partitions of the sample compared pairwise by the adjusted Rand index
// (Hubert and Arabie 1985), and the medoid — the restart that agrees most
// with the others, the solution EM reaches most often — starts the EM over
// all rows; a consensus choice in the sense of cluster ensembles (Strehl and
// Ghosh, JMLR 2002) that keeps a real mixture. The likelihood is not the
// criterion because it does not pick the better concepts: on Stanford
// Background the fits of higher likelihood were the worse ones. Measured
// (bench/stability, 5 seeds, K=8): the pseudo-label mIoU of the default
// ranges over 10.8 points (22.9-33.7%, mean 27.7%), that of InitConsensus
// over 1.8 (21.0-22.8%, mean 22.3%) — stable, but in the frequent mode, not
// the better one, so it is not the default.
//
// InitEntropy fits the same ten restarts and keeps the crispest, the least
// mean posterior entropy -Σ r log r on the sample (the entropy term of the
// classification likelihood, Celeux and Soromenho, J. Classification 1996):
// on a survey of ten restarts on Stanford Background it picked the one
// restart in the better mode, but over seeds 1-5 the full fits ranged over
// 10.6 points (19.4-30.0%, mean 25.8%), so it is not the default either.
// InitSplit makes no random choice: starting from one component, the one
// whose rows have the largest n·λ_max (λ_max the largest eigenvalue of
// their covariance) is cut by the hyperplane through its mean perpendicular
// to the principal axis, the two halves' moments start two components, and
// EM refits, until there are K (binary splitting, as the LBG quantiser,
// Linde, Buzo and Gray 1980, and Boley's principal direction divisive
// partitioning, 1998), on a systematic sample (every n/m-th row) of 20000
// rows. Its concepts do not depend on the seed at all (range 0), but it
// lands where it lands: 24.1% on Stanford Background (K=8, default mean
// 27.7%) and 4.34% on SIFT Flow (K=33, default 4.70%), so it is an option.
// Settings.MaxSamples fits on a uniform
// sample and the model then assigns every row. A caller that cannot hold
// every row draws the sample's indices with SampleIndex (from the row
// count alone), gathers those rows while streaming the data and fits them
// with FitSampleContext or SelectKSampleContext: the same model as Fit or
// SelectK on the whole matrix. RefineContext then continues EM from such a
// fit over every row of data it cannot hold, as groups of row blocks a
// callback yields: per-group E-step sufficient statistics summed in group
// order, the M-step on the sums (the distributed EM of Spark MLlib's
// GaussianMixture), the same bits for any number of workers. SelectK chooses K by BIC
// (Schwarz 1978) over a range and returns the curve. A component that
// explains less than one row or whose covariance is not positive definite is
// re-seeded on the worst-explained row (FitInfo.Reseeded counts them).
//
// # Adaptation to new data
//
// Adapt carries a fitted mixture to another folder's features without
// renaming its components: MAP EM with the source model as a conjugate
// prior (Gauvain and Lee 1994), in the relevance-factor form of Reynolds,
// Quatieri and Dunn (2000). Component k moves towards the new data by
// α_k = n_k/(n_k + r): a concept the new data hold plenty of is re-estimated
// on them, one they barely hold keeps its source parameters, and component k
// stays component k, so names and colours carry over. r = 0 is EM started
// from the source. MeasureDrift reports per concept its share before and
// after, its shift in units of its own spread, whether it vanished
// (α_k < ½), and the share of new rows below the source's own q-quantile of
// log-density, with a suggestion of a new concept when that excess is at
// least half an average concept (1/(2K)).
//
// # Cancellation
//
// FitContext and SelectKContext check their context before every k-means++
// centre, Lloyd and EM iteration, restart and BIC candidate, so an
// interrupted program waits at most about one pass over the rows; a
// cancelled fit reports ctx.Err(), a numerical failure ok = false.
//
// # Balanced assignment
//
// Assign with BalanceSinkhorn balances the posteriors by Sinkhorn-Knopp
// scaling of Q = exp(P/ε) to equal component mass (Cuturi, "Sinkhorn
// distances", NIPS 2013; Caron et al., "Unsupervised learning of visual
// features by contrasting cluster assignments" (SwAV), NeurIPS 2020, with
// their ε = 0.05 and 3 iterations), so that concepts do not collapse into a
// few giant ones.
package cluster
