package features

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/mat"
)

// Moments accumulates the count, mean and covariance of a stream of
// feature rows, batch by batch (Chan, Golub and LeVeque's pairwise
// update), so that a Normalizer can be fitted to a dataset that is never
// held in memory at once. The zero value is ready to use.
type Moments struct {
	n    int
	mean []float64
	m2   *mat.SymDense // Σ (x - mean)(x - mean)ᵀ
}

// Add accumulates the rows of x. It panics if x's width differs from that
// of earlier batches.
func (m *Moments) Add(x *mat.Dense) {
	r, _ := x.Dims()
	if r == 0 {
		return
	}
	var p TwoPassMoments
	p.AddSum(x)
	p.AddScatter(x)
	p.mergeInto(m)
}

// TwoPassMoments computes the moments of a dataset too large to hold at
// once, streamed twice in the same order of rows: the first pass sums
// each column (AddSum, row after row), the second accumulates the scatter
// Σ (x - mean)(x - mean)ᵀ about the mean of the first (AddScatter, the
// same rank-k update of one accumulator). The sums happen in the same
// order as those of one Moments.Add over the whole dataset, so Moments
// gives the very same floats as that Add, however the rows were split
// into batches. Both passes must see the same rows in the same order;
// nothing checks it. The zero value is ready to use.
type TwoPassMoments struct {
	n, scattered int
	sum, mean    []float64
	m2           *mat.SymDense
}

// AddSum adds the rows of x to the column sums (first pass). It panics if
// x's width differs from that of earlier batches or if the second pass
// has begun.
func (p *TwoPassMoments) AddSum(x *mat.Dense) {
	r, d := x.Dims()
	if p.mean != nil {
		panic("features: TwoPassMoments.AddSum after AddScatter")
	}
	if p.sum == nil {
		p.sum = make([]float64, d)
	}
	if len(p.sum) != d {
		panic(fmt.Sprintf("features: moments of %d columns, batch has %d", len(p.sum), d))
	}
	for i := range r {
		for j, v := range x.RawRowView(i) {
			p.sum[j] += v
		}
	}
	p.n += r
}

// AddScatter adds the centred outer products of x's rows (second pass).
// It panics if x's width differs from the first pass's or if the second
// pass sees more rows than the first.
func (p *TwoPassMoments) AddScatter(x *mat.Dense) {
	r, d := x.Dims()
	if len(p.sum) != d {
		panic(fmt.Sprintf("features: moments of %d columns, batch has %d", len(p.sum), d))
	}
	if p.scattered+r > p.n {
		panic(fmt.Sprintf("features: second pass over %d rows, the first had %d", p.scattered+r, p.n))
	}
	if r == 0 {
		return
	}
	if p.mean == nil {
		p.mean = make([]float64, d)
		for j, s := range p.sum {
			p.mean[j] = s / float64(p.n)
		}
		p.m2 = mat.NewSymDense(d, nil)
	}
	xc := mat.NewDense(r, d, nil)
	for i := range r {
		row, c := x.RawRowView(i), xc.RawRowView(i)
		for j := range row {
			c[j] = row[j] - p.mean[j]
		}
	}
	// One Syrk with beta = 1 per batch: every entry accumulates the rows
	// in order, as a single Syrk over all rows does.
	p.m2.SymRankK(p.m2, 1, xc.T())
	p.scattered += r
}

// Moments returns the moments of the rows streamed. It panics if the
// second pass has not seen every row of the first.
func (p *TwoPassMoments) Moments() *Moments {
	var m Moments
	if p.n > 0 {
		p.mergeInto(&m)
	}
	return &m
}

// mergeInto merges the batch p into m (Chan, Golub and LeVeque):
// M2 = M2a + M2b + δδᵀ·na·nb/n, mean = mean_a + δ·nb/n.
func (p *TwoPassMoments) mergeInto(m *Moments) {
	if p.scattered != p.n {
		panic(fmt.Sprintf("features: second pass over %d rows, the first had %d", p.scattered, p.n))
	}
	d := len(p.sum)
	if m.mean == nil {
		m.mean = make([]float64, d)
		m.m2 = mat.NewSymDense(d, nil)
	}
	if len(m.mean) != d {
		panic(fmt.Sprintf("features: moments of %d columns, batch has %d", len(m.mean), d))
	}
	na, nb := float64(m.n), float64(p.n)
	n := na + nb
	delta := mat.NewVecDense(d, nil)
	for j := range d {
		delta.SetVec(j, p.mean[j]-m.mean[j])
	}
	m.m2.AddSym(m.m2, p.m2)
	m.m2.SymRankOne(m.m2, na*nb/n, delta)
	for j := range d {
		m.mean[j] += delta.AtVec(j) * nb / n
	}
	m.n += p.n
}

// N returns the number of rows accumulated.
func (m *Moments) N() int { return m.n }

// Mean returns the mean of the rows accumulated (nil if none).
func (m *Moments) Mean() []float64 { return slices.Clone(m.mean) }

// Covariance returns the population covariance of the rows accumulated
// (nil if none).
func (m *Moments) Covariance() *mat.SymDense {
	if m.n == 0 {
		return nil
	}
	var c mat.SymDense
	c.ScaleSym(1/float64(m.n), m.m2)
	return &c
}

// NormalizerSettings configures the post-processing of feature matrices.
// The zero value means per-column standardisation only.
type NormalizerSettings struct {
	// Weights multiplies each standardised column (see
	// Settings.ColumnWeights); nil means all 1. Its length must be the
	// number of columns.
	Weights []float64
	// PCA, if > 0, projects the weighted standardised features on their
	// first PCA principal axes (at most the number of columns).
	PCA int
}

// Normalizer maps raw feature rows to the features the clustering sees:
// y = ((x - Mean) / Scale ⊙ Weights) · Components, the last step only with
// PCA. Components has one column per principal axis, in decreasing order
// of variance, each with its largest-magnitude entry positive.
type Normalizer struct {
	Mean, Scale, Weights []float64
	Components           *mat.Dense // nil without PCA
	Variances            []float64  // variance along each principal axis (nil without PCA)
}

// FitNormalizer fits a Normalizer to the moments of a dataset. Columns of
// zero variance get Scale 1. ok is false if the eigendecomposition for
// PCA fails. It panics if m is empty or the settings do not fit its width.
func FitNormalizer(m *Moments, s NormalizerSettings) (n *Normalizer, ok bool) {
	if m.n == 0 {
		panic("features: fitting a normalizer to no rows")
	}
	d := len(m.mean)
	w := s.Weights
	if w == nil {
		w = make([]float64, d)
		for i := range w {
			w[i] = 1
		}
	}
	if len(w) != d {
		panic(fmt.Sprintf("features: %d weights for %d columns", len(w), d))
	}
	if s.PCA > d {
		panic(fmt.Sprintf("features: PCA to %d dimensions of %d", s.PCA, d))
	}
	cov := m.Covariance()
	n = &Normalizer{Mean: slices.Clone(m.mean), Scale: make([]float64, d), Weights: slices.Clone(w)}
	for j := range d {
		sd := math.Sqrt(cov.At(j, j))
		if !(sd > 1e-12) {
			sd = 1
		}
		n.Scale[j] = sd
	}
	if s.PCA <= 0 {
		return n, true
	}
	// Covariance of the weighted standardised features: G C G with
	// G = diag(w / scale).
	g := make([]float64, d)
	for j := range g {
		g[j] = w[j] / n.Scale[j]
	}
	cs := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			cs.SetSym(i, j, g[i]*cov.At(i, j)*g[j])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(cs, true) {
		return nil, false
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	k := s.PCA
	n.Components = mat.NewDense(d, k, nil)
	n.Variances = make([]float64, k)
	for c := range k {
		src := d - 1 - c
		n.Variances[c] = max(vals[src], 0)
		big := 0.0
		for i := range d {
			if v := vecs.At(i, src); math.Abs(v) > math.Abs(big) {
				big = v
			}
		}
		sign := 1.0
		if big < 0 {
			sign = -1
		}
		for i := range d {
			n.Components.Set(i, c, sign*vecs.At(i, src))
		}
	}
	return n, true
}

// Dims returns the number of columns Apply returns.
func (n *Normalizer) Dims() int {
	if n.Components != nil {
		_, k := n.Components.Dims()
		return k
	}
	return len(n.Mean)
}

// Apply returns the normalised rows of x in a new matrix. It panics if x
// does not have len(n.Mean) columns.
func (n *Normalizer) Apply(x *mat.Dense) *mat.Dense {
	r, d := x.Dims()
	if d != len(n.Mean) {
		panic(fmt.Sprintf("features: normalizer for %d columns, matrix has %d", len(n.Mean), d))
	}
	y := mat.NewDense(r, d, nil)
	for i := range r {
		src, dst := x.RawRowView(i), y.RawRowView(i)
		for j := range src {
			dst[j] = (src[j] - n.Mean[j]) / n.Scale[j] * n.Weights[j]
		}
	}
	if n.Components == nil {
		return y
	}
	var p mat.Dense
	p.Mul(y, n.Components)
	return &p
}

// Params returns the normalizer as named parameter arrays ("mean",
// "scale", "weights", and with PCA "components", D x k, and "variances")
// and metadata; LoadNormalizer restores it.
func (n *Normalizer) Params() ([]Param, map[string]string) {
	d := len(n.Mean)
	ps := []Param{
		{"mean", []int{d}, slices.Clone(n.Mean)},
		{"scale", []int{d}, slices.Clone(n.Scale)},
		{"weights", []int{d}, slices.Clone(n.Weights)},
	}
	meta := map[string]string{"segdiscover.normalizer": "standardize", "segdiscover.pca": "0"}
	if n.Components != nil {
		_, k := n.Components.Dims()
		ps = append(ps,
			Param{"components", []int{d, k}, slices.Clone(n.Components.RawMatrix().Data)},
			Param{"variances", []int{k}, slices.Clone(n.Variances)})
		meta["segdiscover.pca"] = strconv.Itoa(k)
	}
	return ps, meta
}

// LoadNormalizer rebuilds a Normalizer from the output of Params. It fails
// on missing or misshapen parameters, non-finite values or a scale that is
// not positive.
func LoadNormalizer(ps []Param, meta map[string]string) (*Normalizer, error) {
	if meta["segdiscover.normalizer"] != "standardize" {
		return nil, fmt.Errorf("metadata does not describe a normalizer")
	}
	k, err := strconv.Atoi(meta["segdiscover.pca"])
	if err != nil || k < 0 {
		return nil, fmt.Errorf("metadata segdiscover.pca = %q", meta["segdiscover.pca"])
	}
	get := func(name string, shape ...int) ([]float64, error) {
		for _, p := range ps {
			if p.Name != name {
				continue
			}
			if !slices.Equal(p.Shape, shape) || len(p.Data) != prod(shape) {
				return nil, fmt.Errorf("parameter %s has shape %v, want %v", name, p.Shape, shape)
			}
			for _, v := range p.Data {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("parameter %s has a non-finite value", name)
				}
			}
			return slices.Clone(p.Data), nil
		}
		return nil, fmt.Errorf("parameter %s missing", name)
	}
	var d int
	for _, p := range ps {
		if p.Name == "mean" && len(p.Shape) == 1 {
			d = p.Shape[0]
		}
	}
	if d < 1 {
		return nil, fmt.Errorf("parameter mean missing or misshapen")
	}
	n := &Normalizer{}
	if n.Mean, err = get("mean", d); err != nil {
		return nil, err
	}
	if n.Scale, err = get("scale", d); err != nil {
		return nil, err
	}
	if n.Weights, err = get("weights", d); err != nil {
		return nil, err
	}
	for _, s := range n.Scale {
		if !(s > 0) {
			return nil, fmt.Errorf("parameter scale has a value %v <= 0", s)
		}
	}
	if k > 0 {
		if k > d {
			return nil, fmt.Errorf("PCA to %d of %d dimensions", k, d)
		}
		c, err := get("components", d, k)
		if err != nil {
			return nil, err
		}
		n.Components = mat.NewDense(d, k, c)
		if n.Variances, err = get("variances", k); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func prod(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// Concat returns the horizontal concatenation of matrices with the same
// number of rows (descriptor blocks, or hand-crafted and learned features).
// It panics if the row counts differ or no matrix is given.
func Concat(blocks ...*mat.Dense) *mat.Dense {
	if len(blocks) == 0 {
		panic("features: Concat of nothing")
	}
	r, _ := blocks[0].Dims()
	total := 0
	for _, b := range blocks {
		br, bc := b.Dims()
		if br != r {
			panic(fmt.Sprintf("features: Concat of %d and %d rows", r, br))
		}
		total += bc
	}
	out := mat.NewDense(r, total, nil)
	for i := range r {
		dst := out.RawRowView(i)
		k := 0
		for _, b := range blocks {
			k += copy(dst[k:], b.RawRowView(i))
		}
	}
	return out
}
