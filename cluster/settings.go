package cluster

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
)

// CovarianceType is the form of the component covariance matrices.
type CovarianceType int

const (
	// Full gives each component its own full covariance matrix (the default).
	Full CovarianceType = iota
	// Diag gives each component its own diagonal covariance matrix.
	Diag
	// Spherical gives each component a single variance.
	Spherical
	// Tied shares one full covariance matrix between all components.
	Tied
)

var covNames = [...]string{Full: "full", Diag: "diag", Spherical: "spherical", Tied: "tied"}

func (c CovarianceType) String() string {
	if c < 0 || int(c) >= len(covNames) {
		return fmt.Sprintf("CovarianceType(%d)", int(c))
	}
	return covNames[c]
}

func (c CovarianceType) valid() bool { return c >= Full && c <= Tied }

// ParseCovarianceType parses "full", "diag", "spherical" or "tied" (any case).
func ParseCovarianceType(s string) (CovarianceType, error) {
	for i, n := range covNames {
		if strings.EqualFold(s, n) {
			return CovarianceType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown covariance type %q (want full, diag, spherical or tied)", s)
}

// DefaultK is the number of components when Settings.K is zero: the
// number of concepts of a run when --concepts is not given.
const DefaultK = 8

// Settings configures Fit. The zero value means the documented defaults,
// which follow scikit-learn's GaussianMixture where it has one.
type Settings struct {
	// K is the number of components. Zero means 8.
	K int
	// Covariance is the covariance form. The zero value is Full.
	Covariance CovarianceType
	// RegCovar is added to the diagonal of every covariance matrix so that
	// they stay positive definite. Zero means 1e-6; negative means none.
	RegCovar float64
	// Tol stops EM when the mean log-likelihood per row changes by less than
	// Tol between iterations. Zero means 1e-3; negative means never: EM runs
	// MaxIter iterations.
	Tol float64
	// MaxIter is the maximum number of EM iterations. Zero means 100.
	MaxIter int
	// NInit is the number of k-means initialisations tried; the fit with the
	// highest final mean log-likelihood is kept. Zero means 1.
	NInit int
	// InitMethod chooses the starting mixture when Init is nil. The zero
	// value is InitKMeans.
	InitMethod InitMethod
	// KMeansIter is the number of Lloyd iterations after k-means++ seeding.
	// Zero means 10; negative means none (k-means++ centres only).
	KMeansIter int
	// MaxSamples, if positive and smaller than the number of rows, fits on a
	// uniform sample (without replacement) of MaxSamples rows. Zero means all
	// rows. FitInfo reports when sampling happened.
	MaxSamples int
	// Workers is the number of goroutines. Zero means GOMAXPROCS. Results do
	// not depend on it.
	Workers int
	// Init, if not nil, is the starting model (weights, means, covariances,
	// as scikit-learn's weights_init, means_init and precisions_init): the
	// k-means initialisation is skipped, NInit is ignored and K and
	// Covariance are taken from Init.
	Init *GMM
	// Logger receives progress: EM iterations at Debug level, sampling and
	// re-seeding at Info level. Nil means silent.
	Logger *slog.Logger
}

const (
	defaultRegCovar   = 1e-6
	defaultTol        = 1e-3
	defaultMaxIter    = 100
	defaultKMeansIter = 10
	// seedSampleRows caps the rows k-means++ seeding looks at: seeding costs
	// O(K log K · rows · D) in scalar code, Lloyd iterations (GEMM) then see
	// every fit row.
	seedSampleRows = 30000
)

// resolved returns s with defaults filled in. It panics on settings that are
// programmer errors.
func (s Settings) resolved() Settings {
	if s.Init != nil {
		s.K = s.Init.k
		s.Covariance = s.Init.typ
		s.NInit = 1
	}
	if s.K == 0 {
		s.K = DefaultK
	}
	if s.K < 0 {
		panic(fmt.Sprintf("cluster: negative K %d", s.K))
	}
	if !s.Covariance.valid() {
		panic(fmt.Sprintf("cluster: invalid covariance type %d", int(s.Covariance)))
	}
	switch {
	case s.RegCovar == 0:
		s.RegCovar = defaultRegCovar
	case s.RegCovar < 0:
		s.RegCovar = 0
	}
	switch {
	case s.Tol == 0:
		s.Tol = defaultTol
	case s.Tol < 0:
		s.Tol = -1
	}
	if s.MaxIter == 0 {
		s.MaxIter = defaultMaxIter
	}
	if s.MaxIter < 0 {
		panic(fmt.Sprintf("cluster: negative MaxIter %d", s.MaxIter))
	}
	if s.NInit == 0 {
		s.NInit = 1
	}
	if s.NInit < 0 {
		panic(fmt.Sprintf("cluster: negative NInit %d", s.NInit))
	}
	if s.KMeansIter == 0 {
		s.KMeansIter = defaultKMeansIter
	}
	if s.KMeansIter < 0 {
		s.KMeansIter = 0
	}
	if s.MaxSamples < 0 {
		panic(fmt.Sprintf("cluster: negative MaxSamples %d", s.MaxSamples))
	}
	s.Workers = resolveWorkers(s.Workers)
	return s
}

func resolveWorkers(w int) int {
	if w < 0 {
		panic(fmt.Sprintf("cluster: negative worker count %d", w))
	}
	if w == 0 {
		w = runtime.GOMAXPROCS(0)
	}
	return w
}

// FitInfo describes a fit.
type FitInfo struct {
	// Iterations is the number of EM iterations of the kept initialisation.
	Iterations int
	// Converged reports whether the change of mean log-likelihood fell below
	// Tol before MaxIter.
	Converged bool
	// LowerBound is the mean log-likelihood per fit row at the last E-step,
	// i.e. of the parameters before the last M-step (scikit-learn's
	// lower_bound_).
	LowerBound float64
	// Curve holds LowerBound after each EM iteration.
	Curve []float64
	// Restart is the index of the kept initialisation (0..NInit-1).
	Restart int
	// Rows is the number of rows of x; FitRows the number used to fit.
	Rows, FitRows int
	// Sampled is true when FitRows < Rows (Settings.MaxSamples).
	Sampled bool
	// Reseeded counts degenerate components re-seeded in the kept run.
	Reseeded int
}
