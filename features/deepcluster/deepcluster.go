package deepcluster

import (
	"context"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/segnet"
	"github.com/segdiscover/segdiscover/superpixel"
)

// Image is one training image at the working resolution (see
// Settings.Area), with its superpixel map at the same size and its
// hand-crafted descriptor (one row per superpixel id, the round-0
// features; computed at the image's full resolution).
type Image struct {
	Image  *image.NRGBA
	Labels *superpixel.Labels
	Hand   *mat.Dense
}

// Defaults of Settings.
const (
	// DefaultRounds: three trainings, two re-clusterings. The second round
	// is the first trained on labels of the network's own features; the
	// third lets them settle. Not tuned: no other count was measured
	// (bench/README.md, "DeepCluster encoder").
	DefaultRounds = 3
	// DefaultEpochs per round: DeepCluster re-clusters every epoch; two
	// keep the cost of three rounds within the five minutes on the
	// 715 Stanford images (six epochs at the 120x160 crop).
	DefaultEpochs = 2
	// MinRoundSteps: on small sets a round takes more epochs, at least
	// this many optimiser steps (as the segmentation stage's MinTrainSteps).
	MinRoundSteps = 50
	// DefaultClusters is the mixture size when none is given.
	DefaultClusters = 32
	// DefaultPCA: the rounds cluster the standardised encoder features
	// projected on their first 16 principal axes (DeepCluster reduces its
	// features by PCA before k-means too, to 256 of 4096 dimensions); the
	// full-covariance mixture on 64 dimensions costs 16x more per EM step.
	DefaultPCA = 16
	// DefaultMaxSamples bounds the superpixels each re-clustering fits on
	// (all are labelled): 100 000 rows are hundreds per component.
	DefaultMaxSamples = 100_000
	// DefaultArea is the working resolution in pixels: the training crop
	// (segnet's default 120 x 160), so features are computed at the scale
	// the network is trained at.
	DefaultArea = segnet.DefaultCropHeight * segnet.DefaultCropWidth
)

// Settings configures the rounds; the zero value means the defaults
// documented on each field. It is part of the pipeline's encoder key.
type Settings struct {
	Rounds int `json:"rounds"` // 0: DefaultRounds
	// Epochs per round; 0: DefaultEpochs, or more on small sets so that a
	// round takes at least MinRoundSteps optimiser steps.
	Epochs int `json:"epochs"`
	// Clusters is the number of mixture components of every round
	// (2..255, the FCN's classes); 0: DefaultClusters.
	Clusters int `json:"clusters"`
	// PCA: dimensions the rounds' encoder features are reduced to after
	// standardising; 0: DefaultPCA; < 0: none. Round 0's hand-crafted
	// features are only standardised (and weighted by HandWeights).
	PCA        int                    `json:"pca"`
	MaxSamples int                    `json:"max_samples"` // 0: DefaultMaxSamples
	Covariance cluster.CovarianceType `json:"covariance"`  // the mixture's; zero: full
	// HandWeights weight the standardised hand-crafted columns (the
	// descriptor's column weights, as the cluster stage uses); nil: 1.
	HandWeights []float64          `json:"hand_weights,omitempty"`
	Layers      []segnet.LayerSpec `json:"layers"` // the FCN body; nil: segnet.DefaultLayers
	// Train configures each round's training (crop, batch, learning rate,
	// augmentation); its Epochs and Workers are ignored.
	Train segnet.TrainSettings `json:"train"`
	Area  int                  `json:"area"` // working resolution in pixels; 0: DefaultArea
	// Workers bounds the goroutines; 0: GOMAXPROCS. Results do not depend
	// on it.
	Workers int `json:"-"`
}

// Resolved returns s with every default filled in for a set of images
// images (the default Epochs depends on it).
func (s Settings) Resolved(images int) Settings {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.Rounds, DefaultRounds)
	if s.Epochs == 0 {
		b := s.Train.Batch
		if b <= 0 {
			b = segnet.DefaultBatch
		}
		per := max(1, (images+b-1)/b)
		s.Epochs = max(DefaultEpochs, (MinRoundSteps+per-1)/per)
	}
	def(&s.Clusters, DefaultClusters)
	def(&s.PCA, DefaultPCA)
	def(&s.MaxSamples, DefaultMaxSamples)
	def(&s.Area, DefaultArea)
	if s.Layers == nil {
		s.Layers = slices.Clone(segnet.DefaultLayers)
	}
	if s.Workers <= 0 {
		s.Workers = runtime.GOMAXPROCS(0)
	}
	return s
}

// validate checks resolved settings; each error names the setting, its
// value and the range wanted.
func (s Settings) validate() error {
	switch {
	case s.Rounds < 1 || s.Rounds > 100:
		return fmt.Errorf("deepcluster: rounds %d, want 1..100 (0: %d)", s.Rounds, DefaultRounds)
	case s.Epochs < 1:
		return fmt.Errorf("deepcluster: epochs per round %d, want at least 1 (0: the default)", s.Epochs)
	case s.Clusters < 2 || s.Clusters > 255:
		return fmt.Errorf("deepcluster: clusters %d, want 2..255 (the network's classes; 0: %d)", s.Clusters, DefaultClusters)
	case s.MaxSamples < 0:
		return fmt.Errorf("deepcluster: max samples %d, want at least 1 (0: %d)", s.MaxSamples, DefaultMaxSamples)
	case s.Area < 1:
		return fmt.Errorf("deepcluster: area %d pixels, want at least 1 (0: %d)", s.Area, DefaultArea)
	case len(s.HandWeights) > 0 && slices.ContainsFunc(s.HandWeights, func(w float64) bool { return !(w >= 0) || math.IsInf(w, 1) }):
		return fmt.Errorf("deepcluster: hand-crafted column weights %v, want finite and non-negative", s.HandWeights)
	}
	if err := (segnet.Arch{Classes: s.Clusters, Layers: s.Layers}).Validate(); err != nil {
		return fmt.Errorf("deepcluster: layers: %w", err)
	}
	return nil
}

// ClusterStats reports one clustering.
type ClusterStats struct {
	Round      int // the round whose labels it made
	Rows       int // superpixels fitted (before MaxSamples sampling)
	Used       int // clusters that label at least one superpixel
	Iterations int
	Converged  bool
	Seconds    float64
}

// Trainer runs the rounds epoch by epoch and can be checkpointed between
// any two calls.
type Trainer struct {
	s      Settings
	seed   uint64
	data   []Image
	round  int
	labels [][]uint8 // per image, the current round's label of each superpixel
	tr     *segnet.Trainer
	onStep func()
}

func checkData(data []Image) error {
	if len(data) == 0 {
		return fmt.Errorf("deepcluster: no images")
	}
	for i, d := range data {
		if d.Image == nil || d.Labels == nil || d.Hand == nil {
			return fmt.Errorf("deepcluster: image %d: nil image, labels or features", i)
		}
		b := d.Image.Bounds()
		if b.Dx() != d.Labels.Width || b.Dy() != d.Labels.Height || b.Empty() {
			return fmt.Errorf("deepcluster: image %d is %v, its superpixel map %dx%d", i, b, d.Labels.Width, d.Labels.Height)
		}
		if r, _ := d.Hand.Dims(); r != d.Labels.N {
			return fmt.Errorf("deepcluster: image %d: %d feature rows for %d superpixels", i, r, d.Labels.N)
		}
	}
	return nil
}

// roundSeed is the training seed of round r: distinct rounds draw distinct
// heads, orders and augmentations.
func roundSeed(seed uint64, r int) uint64 { return seed + uint64(r)*0x9e3779b97f4a7c15 }

// New clusters the hand-crafted features (round 0's labels) and returns a
// trainer at the start of round 0. All randomness comes from seed.
func New(ctx context.Context, data []Image, s Settings, seed uint64) (*Trainer, ClusterStats, error) {
	s = s.Resolved(len(data))
	if err := s.validate(); err != nil {
		return nil, ClusterStats{}, err
	}
	if err := checkData(data); err != nil {
		return nil, ClusterStats{}, err
	}
	t := &Trainer{s: s, seed: seed, data: data}
	xs := make([]*mat.Dense, len(data))
	for i, d := range data {
		xs[i] = d.Hand
	}
	labels, cs, err := t.cluster(ctx, xs, s.HandWeights, 0, 0)
	if err != nil {
		return nil, cs, err
	}
	t.labels = labels
	if err := t.startRound(nil); err != nil {
		return nil, cs, err
	}
	return t, cs, nil
}

// cluster standardises the rows of xs (one matrix per image; columns
// weighted by w, projected on pca principal axes when pca > 0), fits the
// mixture on the superpixels that have pixels at the working resolution
// and labels every superpixel by its arg-max component.
func (t *Trainer) cluster(ctx context.Context, xs []*mat.Dense, w []float64, pca, round int) ([][]uint8, ClusterStats, error) {
	t0 := time.Now()
	cs := ClusterStats{Round: round}
	_, cols := xs[0].Dims()
	var mom features.Moments
	var fit []float64
	for i, x := range xs {
		cnt := pixelCounts(t.data[i].Labels)
		for id := range cnt {
			if cnt[id] > 0 {
				fit = append(fit, x.RawRowView(id)...)
			}
		}
	}
	cs.Rows = len(fit) / cols
	if cs.Rows < t.s.Clusters {
		return nil, cs, fmt.Errorf("deepcluster: %d superpixels, fewer than the %d clusters", cs.Rows, t.s.Clusters)
	}
	fx := mat.NewDense(cs.Rows, cols, fit)
	mom.Add(fx)
	if w != nil && len(w) != cols {
		return nil, cs, fmt.Errorf("deepcluster: %d column weights for %d features", len(w), cols)
	}
	norm, ok := features.FitNormalizer(&mom, features.NormalizerSettings{Weights: w, PCA: min(max(pca, 0), cols)})
	if !ok {
		return nil, cs, fmt.Errorf("deepcluster: round %d: PCA of the features failed", round)
	}
	g, info, ok, err := cluster.FitContext(ctx, norm.Apply(fx), cluster.Settings{K: t.s.Clusters, Covariance: t.s.Covariance,
		MaxSamples: t.s.MaxSamples, Workers: t.s.Workers}, rand.NewPCG(t.seed, 0xdc1c0+uint64(round)))
	if err != nil {
		return nil, cs, err
	}
	if !ok {
		return nil, cs, fmt.Errorf("deepcluster: round %d: the Gaussian mixture fit failed numerically (%d clusters over %d superpixels)", round, t.s.Clusters, cs.Rows)
	}
	cs.Iterations, cs.Converged = info.Iterations, info.Converged
	labels := make([][]uint8, len(xs))
	used := make([]bool, t.s.Clusters)
	for i, x := range xs {
		p := g.Predict(norm.Apply(x), t.s.Workers)
		labels[i] = make([]uint8, len(p))
		for j, c := range p {
			labels[i][j] = uint8(c)
			used[c] = true
		}
	}
	for _, u := range used {
		if u {
			cs.Used++
		}
	}
	cs.Seconds = time.Since(t0).Seconds()
	return labels, cs, nil
}

func pixelCounts(l *superpixel.Labels) []int {
	cnt := make([]int, l.N)
	for _, id := range l.Pix {
		cnt[id]++
	}
	return cnt
}

// samples paints the current labels into per-pixel masks.
func (t *Trainer) samples() []segnet.Sample {
	out := make([]segnet.Sample, len(t.data))
	for i, d := range t.data {
		m := image.NewPaletted(image.Rect(0, 0, d.Labels.Width, d.Labels.Height), nil)
		lab := t.labels[i]
		for p, id := range d.Labels.Pix {
			m.Pix[p] = lab[id]
		}
		out[i] = segnet.Sample{Image: d.Image, Mask: m}
	}
	return out
}

func (t *Trainer) trainSettings() segnet.TrainSettings {
	ts := t.s.Train
	ts.Epochs, ts.Workers = t.s.Epochs, t.s.Workers
	return ts
}

// startRound starts the current round's training: a fresh network with
// the body of prev (if not nil) and a new head.
func (t *Trainer) startRound(prev *segnet.Net) error {
	tr, err := segnet.NewTrainer(segnet.Arch{Classes: t.s.Clusters, Layers: t.s.Layers}, t.samples(), t.trainSettings(), roundSeed(t.seed, t.round))
	if err != nil {
		return fmt.Errorf("deepcluster: %w", err)
	}
	if prev != nil {
		if err := tr.LoadBody(prev); err != nil {
			return fmt.Errorf("deepcluster: %w", err)
		}
	}
	t.tr = tr
	t.tr.OnStep(t.onStep)
	return nil
}

// Settings returns the resolved settings.
func (t *Trainer) Settings() Settings { return t.s }

// Round returns the current round (0-based).
func (t *Trainer) Round() int { return t.round }

// Labels returns the current round's label of every superpixel, per image
// (shared).
func (t *Trainer) Labels() [][]uint8 { return t.labels }

// OnStep, if set, is called after every optimiser step, for progress.
func (t *Trainer) OnStep(f func()) {
	t.onStep = f
	t.tr.OnStep(f)
}

// Steps returns the optimiser steps taken and those of all rounds.
func (t *Trainer) Steps() (done, total int) {
	d, n := t.tr.Steps()
	return t.round*n + d, t.s.Rounds * n
}

// NeedsCluster reports whether the current round's training is over and
// the next round's labels are to be computed (Cluster).
func (t *Trainer) NeedsCluster() bool { return t.tr.Done() && t.round+1 < t.s.Rounds }

// Done reports whether the last round is trained.
func (t *Trainer) Done() bool { return t.tr.Done() && t.round+1 >= t.s.Rounds }

// Epoch trains one epoch of the current round (segnet.Trainer.Epoch).
func (t *Trainer) Epoch(ctx context.Context) (segnet.EpochStats, error) {
	if t.tr.Done() {
		return segnet.EpochStats{}, fmt.Errorf("deepcluster: round %d is trained", t.round)
	}
	return t.tr.Epoch(ctx)
}

// Cluster computes the next round's labels from the pooled features of
// the trained body and starts that round. Cancelled, it leaves the trainer
// as it was.
func (t *Trainer) Cluster(ctx context.Context) (ClusterStats, error) {
	if !t.NeedsCluster() {
		return ClusterStats{}, fmt.Errorf("deepcluster: nothing to cluster (round %d of %d)", t.round, t.s.Rounds)
	}
	xs, err := t.features(ctx)
	if err != nil {
		return ClusterStats{}, err
	}
	labels, cs, err := t.cluster(ctx, xs, nil, t.s.PCA, t.round+1)
	if err != nil {
		return cs, err
	}
	prev, prevLabels := t.tr, t.labels
	t.labels = labels
	t.round++
	if err := t.startRound(prev.Net()); err != nil {
		t.round--
		t.tr, t.labels = prev, prevLabels
		return cs, err
	}
	return cs, nil
}

// Encoder returns a copy of the current body as a feature encoder: the
// output of its last layer on images resized to about Area pixels.
func (t *Trainer) Encoder() *segnet.Encoder {
	return (&segnet.Encoder{Net: t.tr.Net(), FeatureLayer: len(t.s.Layers), Area: t.s.Area}).Clone()
}

// features returns the pooled encoder features of every image, computed
// on s.Workers goroutines, each with its own copy of the network.
func (t *Trainer) features(ctx context.Context) ([]*mat.Dense, error) {
	enc := t.Encoder()
	xs := make([]*mat.Dense, len(t.data))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range min(t.s.Workers, len(t.data)) {
		e := enc
		if w > 0 {
			e = enc.Clone()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d := t.data[i]
				f, c, fh, fw := e.DenseFeatures(d.Image)
				xs[i] = features.PoolDense(f, c, fh, fw, d.Labels)
			}
		}()
	}
	var err error
feed:
	for i := range t.data {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return xs, err
}

// Checkpoint returns the trainer's state: the current round's
// segnet.Trainer checkpoint plus metadata "deepcluster.round" and the
// tensor "deepcluster.labels" (every superpixel's label, images in order).
func (t *Trainer) Checkpoint() segnet.Checkpoint {
	ck := t.tr.Checkpoint()
	var n int
	for _, l := range t.labels {
		n += len(l)
	}
	lab := make([]float32, 0, n)
	for _, l := range t.labels {
		for _, v := range l {
			lab = append(lab, float32(v))
		}
	}
	ck.Tensors = append(ck.Tensors, segnet.Tensor{Name: "deepcluster.labels", Shape: []int{n}, Data: lab})
	ck.Meta["deepcluster.round"] = strconv.Itoa(t.round)
	return ck
}

// Resume rebuilds a trainer from a Checkpoint, the same images in the same
// order and the same settings and seed (the caller's key ties them to the
// checkpoint); any worker count continues bit for bit.
func Resume(ck segnet.Checkpoint, data []Image, s Settings, seed uint64) (*Trainer, error) {
	s = s.Resolved(len(data))
	if err := s.validate(); err != nil {
		return nil, err
	}
	if err := checkData(data); err != nil {
		return nil, err
	}
	round, err := strconv.Atoi(ck.Meta["deepcluster.round"])
	if err != nil || round < 0 || round >= s.Rounds {
		return nil, fmt.Errorf("deepcluster: checkpoint round %q invalid", ck.Meta["deepcluster.round"])
	}
	t := &Trainer{s: s, seed: seed, data: data, round: round}
	var rest []segnet.Tensor
	var lab []float32
	for _, x := range ck.Tensors {
		switch {
		case x.Name == "deepcluster.labels":
			lab = x.Data
		case strings.HasPrefix(x.Name, "deepcluster."):
			return nil, fmt.Errorf("deepcluster: checkpoint: unexpected tensor %q", x.Name)
		default:
			rest = append(rest, x)
		}
	}
	for _, d := range data {
		if len(lab) < d.Labels.N {
			return nil, fmt.Errorf("deepcluster: checkpoint: labels missing or too few")
		}
		l := make([]uint8, d.Labels.N)
		for j, v := range lab[:d.Labels.N] {
			if !(v >= 0 && v < float32(s.Clusters)) || v != float32(math.Trunc(float64(v))) {
				return nil, fmt.Errorf("deepcluster: checkpoint: label %g not in 0..%d", v, s.Clusters-1)
			}
			l[j] = uint8(v)
		}
		t.labels = append(t.labels, l)
		lab = lab[d.Labels.N:]
	}
	if len(lab) != 0 {
		return nil, fmt.Errorf("deepcluster: checkpoint: %d labels too many", len(lab))
	}
	if t.tr, err = segnet.ResumeTrainer(segnet.Checkpoint{Tensors: rest, Meta: ck.Meta}, t.samples(), s.Workers); err != nil {
		return nil, fmt.Errorf("deepcluster: %w", err)
	}
	return t, nil
}
