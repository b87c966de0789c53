package artifact

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/segdiscover/segdiscover/cluster"
	"gonum.org/v1/gonum/mat"
)

// GMM model file (OUT_DIR/model/gmm.json), format "segdiscover-gmm" version 1:
//
//	{
//	  "format": "segdiscover-gmm", "version": 1,
//	  "covariance_type": "full" | "diag" | "spherical" | "tied",
//	  "k": K, "dim": D,
//	  "weights": [K],                      mixture weights, sum 1
//	  "means": [K][D],
//	  "covariances": full [K][D][D], tied [D][D], diag [K][D], spherical [K]
//	                                       (scikit-learn's covariances_ shapes,
//	                                       reg_covar included)
//	  "normaliser": {"file": "...", "sha256": "..."},   optional: the feature
//	                                       normaliser the features were
//	                                       standardised with, relative to model/
//	  "seed": S,
//	  "fit": {"iterations", "converged", "lower_bound", "curve", "restart",
//	          "rows", "fit_rows", "sampled", "reseeded"},
//	  "k_curve": [{"k", "bic", "aic", "log_lik", "iterations", "converged", "ok"}]
//	                                       optional: BIC model selection
//	}
//
// Numbers are written in Go's shortest round-trip form, so a decoded model
// is bit-identical to the encoded one. Readers ignore unknown fields.
const (
	gmmFormat  = "segdiscover-gmm"
	gmmVersion = 1
	// maxGMMValues bounds K·D·D so a hostile file cannot make us build a
	// model far larger than any real one.
	maxGMMValues = 1 << 26
)

// GMMFile is the content of a GMM model file.
type GMMFile struct {
	Model      *cluster.GMM
	Normaliser NormaliserRef // zero if the features were not normalised
	Seed       uint64
	Info       cluster.FitInfo
	KCurve     []cluster.KScore // nil unless K was chosen by BIC
}

// NormaliserRef names the feature normaliser file a model was fitted after.
type NormaliserRef struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

type gmmJSON struct {
	Format         string          `json:"format"`
	Version        int             `json:"version"`
	CovarianceType string          `json:"covariance_type"`
	K              int             `json:"k"`
	Dim            int             `json:"dim"`
	Weights        []float64       `json:"weights"`
	Means          [][]float64     `json:"means"`
	Covariances    json.RawMessage `json:"covariances"`
	Normaliser     *NormaliserRef  `json:"normaliser,omitempty"`
	Seed           uint64          `json:"seed"`
	Fit            fitJSON         `json:"fit"`
	KCurve         []kScoreJSON    `json:"k_curve,omitempty"`
}

type fitJSON struct {
	Iterations int       `json:"iterations"`
	Converged  bool      `json:"converged"`
	LowerBound float64   `json:"lower_bound"`
	Curve      []float64 `json:"curve"`
	Restart    int       `json:"restart"`
	Rows       int       `json:"rows"`
	FitRows    int       `json:"fit_rows"`
	Sampled    bool      `json:"sampled"`
	Reseeded   int       `json:"reseeded"`
}

type kScoreJSON struct {
	K          int     `json:"k"`
	BIC        float64 `json:"bic"`
	AIC        float64 `json:"aic"`
	LogLik     float64 `json:"log_lik"`
	Iterations int     `json:"iterations"`
	Converged  bool    `json:"converged"`
	OK         bool    `json:"ok"`
}

// EncodeGMM writes f as JSON. It fails on a nil model or on non-finite
// numbers in the fit information.
func EncodeGMM(w io.Writer, f *GMMFile) error {
	if f == nil || f.Model == nil {
		return errors.New("gmm: nil model")
	}
	g := f.Model
	k, d := g.K(), g.Dim()
	j := gmmJSON{Format: gmmFormat, Version: gmmVersion, CovarianceType: g.CovarianceType().String(),
		K: k, Dim: d, Weights: g.Weights(), Seed: f.Seed,
		Fit: fitJSON{Iterations: f.Info.Iterations, Converged: f.Info.Converged, LowerBound: f.Info.LowerBound,
			Curve: f.Info.Curve, Restart: f.Info.Restart, Rows: f.Info.Rows, FitRows: f.Info.FitRows,
			Sampled: f.Info.Sampled, Reseeded: f.Info.Reseeded}}
	if f.Normaliser != (NormaliserRef{}) {
		n := f.Normaliser
		j.Normaliser = &n
	}
	means := g.Means()
	for i := range k {
		j.Means = append(j.Means, mat.Row(nil, i, means))
	}
	covs := g.Covariances()
	var cv any
	switch g.CovarianceType() {
	case cluster.Full:
		m := make([][][]float64, k)
		for c := range k {
			m[c] = symRows(covs[c])
		}
		cv = m
	case cluster.Tied:
		cv = symRows(covs[0])
	case cluster.Diag:
		m := make([][]float64, k)
		for c := range k {
			m[c] = make([]float64, d)
			for i := range d {
				m[c][i] = covs[c].At(i, i)
			}
		}
		cv = m
	case cluster.Spherical:
		m := make([]float64, k)
		for c := range k {
			m[c] = covs[c].At(0, 0)
		}
		cv = m
	}
	raw, err := json.Marshal(cv)
	if err != nil {
		return fmt.Errorf("gmm: %w", err)
	}
	j.Covariances = raw
	for _, s := range f.KCurve {
		j.KCurve = append(j.KCurve, kScoreJSON{K: s.K, BIC: s.BIC, AIC: s.AIC, LogLik: s.LogLik,
			Iterations: s.Iterations, Converged: s.Converged, OK: s.OK})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(&j); err != nil {
		return fmt.Errorf("gmm: %w", err)
	}
	return nil
}

func symRows(s *mat.SymDense) [][]float64 {
	n := s.SymmetricDim()
	out := make([][]float64, n)
	for i := range n {
		out[i] = make([]float64, n)
		for j := range n {
			out[i][j] = s.At(i, j)
		}
	}
	return out
}

// DecodeGMM reads a model file written by EncodeGMM. It checks the format
// and version, every shape against k and dim, that all numbers are finite,
// and that the covariances are positive definite.
func DecodeGMM(r io.Reader) (*GMMFile, error) {
	var j gmmJSON
	if err := json.NewDecoder(r).Decode(&j); err != nil {
		return nil, fmt.Errorf("gmm: %w", err)
	}
	if j.Format != gmmFormat {
		return nil, fmt.Errorf("gmm: format %q, want %q", j.Format, gmmFormat)
	}
	if j.Version != gmmVersion {
		return nil, fmt.Errorf("gmm: unsupported version %d (this build reads %d)", j.Version, gmmVersion)
	}
	typ, err := cluster.ParseCovarianceType(j.CovarianceType)
	if err != nil {
		return nil, fmt.Errorf("gmm: %w", err)
	}
	k, d := j.K, j.Dim
	if k < 1 || d < 1 || k > maxGMMValues || d > maxGMMValues || k*d > maxGMMValues ||
		(typ == cluster.Full && k*d > maxGMMValues/d) {
		return nil, fmt.Errorf("gmm: bad size k=%d dim=%d", k, d)
	}
	if len(j.Weights) != k {
		return nil, fmt.Errorf("gmm: %d weights for k=%d", len(j.Weights), k)
	}
	if len(j.Means) != k {
		return nil, fmt.Errorf("gmm: %d means for k=%d", len(j.Means), k)
	}
	means := mat.NewDense(k, d, nil)
	for i, row := range j.Means {
		if len(row) != d {
			return nil, fmt.Errorf("gmm: mean %d has %d values, want %d", i, len(row), d)
		}
		if err := allFinite(row); err != nil {
			return nil, fmt.Errorf("gmm: mean %d: %w", i, err)
		}
		means.SetRow(i, row)
	}
	if err := allFinite(j.Weights); err != nil {
		return nil, fmt.Errorf("gmm: weights: %w", err)
	}
	var wsum float64
	for _, w := range j.Weights {
		wsum += w
	}
	if math.Abs(wsum-1) > 1e-9 {
		return nil, fmt.Errorf("gmm: weights sum to %v, not 1", wsum)
	}
	var covs []*mat.SymDense
	switch typ {
	case cluster.Full:
		var m [][][]float64
		if err := json.Unmarshal(j.Covariances, &m); err != nil {
			return nil, fmt.Errorf("gmm: covariances: %w", err)
		}
		if len(m) != k {
			return nil, fmt.Errorf("gmm: %d covariances for k=%d", len(m), k)
		}
		for c := range m {
			s, err := symFromRows(m[c], d)
			if err != nil {
				return nil, fmt.Errorf("gmm: covariance %d: %w", c, err)
			}
			covs = append(covs, s)
		}
	case cluster.Tied:
		var m [][]float64
		if err := json.Unmarshal(j.Covariances, &m); err != nil {
			return nil, fmt.Errorf("gmm: covariances: %w", err)
		}
		s, err := symFromRows(m, d)
		if err != nil {
			return nil, fmt.Errorf("gmm: tied covariance: %w", err)
		}
		covs = []*mat.SymDense{s}
	case cluster.Diag:
		var m [][]float64
		if err := json.Unmarshal(j.Covariances, &m); err != nil {
			return nil, fmt.Errorf("gmm: covariances: %w", err)
		}
		if len(m) != k {
			return nil, fmt.Errorf("gmm: %d covariances for k=%d", len(m), k)
		}
		for c, row := range m {
			if len(row) != d {
				return nil, fmt.Errorf("gmm: covariance %d has %d values, want %d", c, len(row), d)
			}
			if err := allFinite(row); err != nil {
				return nil, fmt.Errorf("gmm: covariance %d: %w", c, err)
			}
			s := mat.NewSymDense(d, nil)
			for i, v := range row {
				s.SetSym(i, i, v)
			}
			covs = append(covs, s)
		}
	case cluster.Spherical:
		var m []float64
		if err := json.Unmarshal(j.Covariances, &m); err != nil {
			return nil, fmt.Errorf("gmm: covariances: %w", err)
		}
		if len(m) != k {
			return nil, fmt.Errorf("gmm: %d covariances for k=%d", len(m), k)
		}
		if err := allFinite(m); err != nil {
			return nil, fmt.Errorf("gmm: covariances: %w", err)
		}
		for _, v := range m {
			s := mat.NewSymDense(d, nil)
			for i := range d {
				s.SetSym(i, i, v)
			}
			covs = append(covs, s)
		}
	}
	g, ok := cluster.NewGMM(typ, j.Weights, means, covs)
	if !ok {
		return nil, errors.New("gmm: weights not positive or a covariance not positive definite")
	}
	f := &GMMFile{Model: g, Seed: j.Seed,
		Info: cluster.FitInfo{Iterations: j.Fit.Iterations, Converged: j.Fit.Converged, LowerBound: j.Fit.LowerBound,
			Curve: j.Fit.Curve, Restart: j.Fit.Restart, Rows: j.Fit.Rows, FitRows: j.Fit.FitRows,
			Sampled: j.Fit.Sampled, Reseeded: j.Fit.Reseeded}}
	if j.Normaliser != nil {
		f.Normaliser = *j.Normaliser
	}
	for _, s := range j.KCurve {
		f.KCurve = append(f.KCurve, cluster.KScore{K: s.K, BIC: s.BIC, AIC: s.AIC, LogLik: s.LogLik,
			Iterations: s.Iterations, Converged: s.Converged, OK: s.OK})
	}
	return f, nil
}

func symFromRows(m [][]float64, d int) (*mat.SymDense, error) {
	if len(m) != d {
		return nil, fmt.Errorf("%d rows, want %d", len(m), d)
	}
	s := mat.NewSymDense(d, nil)
	for i, row := range m {
		if len(row) != d {
			return nil, fmt.Errorf("row %d has %d values, want %d", i, len(row), d)
		}
		if err := allFinite(row); err != nil {
			return nil, err
		}
	}
	for i := range d {
		for j := i; j < d; j++ {
			a, b := m[i][j], m[j][i]
			if math.Abs(a-b) > 1e-12*math.Max(math.Abs(a), math.Abs(b)) {
				return nil, fmt.Errorf("not symmetric at (%d,%d)", i, j)
			}
			s.SetSym(i, j, a)
		}
	}
	return s, nil
}

func allFinite(v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("value %d is not finite", i)
		}
	}
	return nil
}
