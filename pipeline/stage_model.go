package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"path"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pseudolabel"
)

// Model files under OUT_DIR/model/.
const (
	normalizerFile = "model/normalizer.safetensors"
	gmmFile        = "model/gmm.json"
	legendFile     = "model/legend.png"
	modelItem      = "model" // cache item name of the global cluster stage
)

// clusterParams are the parameters that enter the cluster key.
type clusterParams struct {
	Concepts   string  `json:"concepts"`
	ConceptMin int     `json:"concepts_min,omitempty"`
	ConceptMax int     `json:"concepts_max,omitempty"`
	Covariance string  `json:"covariance"`
	Balance    string  `json:"balance"`
	Seed       uint64  `json:"seed"`
	MaxSamples int     `json:"max_samples"`
	NInit      int     `json:"n_init"`
	PCA        int     `json:"pca"`
	HandWeight float64 `json:"hand_weight,omitempty"` // handcrafted+swav and handcrafted+deepcluster only
	// Init is empty for the default k-means start, so that the keys of
	// earlier runs stay valid.
	Init string `json:"init,omitempty"`
	// GMMData is empty for the sample fit (earlier keys stay valid), "all"
	// for its refinement over every superpixel.
	GMMData string `json:"gmm_data,omitempty"`
}

func (c Config) clusterParams() clusterParams {
	p := clusterParams{Concepts: c.Concepts.String(), Covariance: c.Covariance, Balance: c.Balance, Seed: c.Seed,
		MaxSamples: c.MaxSamples, NInit: c.NInit, PCA: c.PCA}
	if c.Concepts.Auto {
		p.ConceptMin, p.ConceptMax = c.ConceptMin, c.ConceptMax
	}
	if e, _ := parseEncoder(c.Encoder); e.hand && e.conv() {
		p.HandWeight = c.HandWeight
	}
	if m, _ := cluster.ParseInitMethod(c.Init); m != cluster.InitKMeans {
		p.Init = m.String()
	}
	if c.GMMData == GMMDataAll {
		p.GMMData = GMMDataAll
	}
	return p
}

// pseudolabelParams are the parameters that enter the pseudo-label key.
type pseudolabelParams struct {
	MinConfidence float64 `json:"min_confidence"`
}

func pseudolabelPath(rel string) string { return path.Join("pseudolabels", rel+".png") }
func confidencePath(rel string) string  { return path.Join("pseudolabels", rel+".conf.png") }

// clusterStage fits the feature normaliser and the Gaussian mixture over the
// features of every image, unless the model in OUT_DIR was fitted on exactly
// these features with these parameters.
func (r *runner) clusterStage(ctx context.Context, st *StageStats) error {
	items := r.okItems()
	st.Items = len(items)
	if len(items) == 0 {
		return errNoOK
	}
	r.clusterKey = r.clusterKeyOf(items)
	if m, ok := r.cache.lookup(StageCluster, modelItem, r.clusterKey); ok {
		st.Cached = 1
		r.sum.Concepts = extraInt(m.Extra, "k")
		st.Note = "model reused"
		return r.conceptsAndLegend(r.sum.Concepts)
	}
	// Say why it refits: a first fit, changed parameters, or changed images.
	if old, err := r.cache.readManifest(StageCluster, modelItem); err == nil {
		prev := extraInt(old.Extra, "images")
		if prev != len(items) {
			st.Note = fmt.Sprintf("refit: %d images now, %d at the last fit", len(items), prev)
		} else {
			st.Note = "refit: parameters or features changed"
		}
	} else {
		st.Note = "first fit"
	}
	r.log.Info("cluster: "+st.Note, "images", len(items))
	if st.Note != "first fit" {
		// What was computed from the old concepts names concepts that
		// are about to change: remove it rather than leave it looking
		// current (a stage that runs later recomputes it).
		if err := r.removeStale(); err != nil {
			return err
		}
		st.Note += "; outputs of the old concepts removed"
	}

	// The features stream from their files, so memory is bounded by the
	// sample (--max-samples rows), not by the dataset: a header pass
	// counts the rows; the indices of the sample are drawn from them as
	// cluster.Fit would draw them from the whole matrix; one pass sums the
	// columns and a second accumulates the scatter about their mean
	// (features.TwoPassMoments: the floats of one Moments.Add over every
	// row) and keeps the sampled rows. The model is the one fitted on all
	// rows held at once, bit for bit.
	rows, cols, err := r.featureRows(items)
	if err != nil {
		return err
	}
	n := 0
	for _, k := range rows {
		n += k
	}
	src := rand.NewPCG(r.cfg.Seed, 0x5e9d15c0)
	idx := cluster.SampleIndex(n, r.cfg.MaxSamples, src)
	var mom features.TwoPassMoments
	if err := r.streamFeatures(ctx, items, rows, cols, func(x *mat.Dense) { mom.AddSum(x) }); err != nil {
		return err
	}
	m := n
	if idx != nil {
		m = len(idx)
	}
	sample := mat.NewDense(m, cols, nil)
	row, k := 0, 0
	if err := r.streamFeatures(ctx, items, rows, cols, func(x *mat.Dense) {
		mom.AddScatter(x)
		nx, _ := x.Dims()
		for i := range nx {
			if idx == nil || (k < len(idx) && idx[k] == row+i) {
				sample.SetRow(k, x.RawRowView(i))
				k++
			}
		}
		row += nx
	}); err != nil {
		return err
	}
	norm, ok := features.FitNormalizer(mom.Moments(), features.NormalizerSettings{Weights: r.columnWeights(cols), PCA: min(max(r.cfg.PCA, 0), cols)})
	if !ok {
		return fmt.Errorf("cluster: fitting the feature normaliser failed (PCA eigendecomposition)")
	}
	z := norm.Apply(sample)
	sample = nil

	ct, _ := cluster.ParseCovarianceType(r.cfg.Covariance)
	im, _ := cluster.ParseInitMethod(r.cfg.Init)
	s := cluster.Settings{Covariance: ct, MaxSamples: r.cfg.MaxSamples, NInit: r.cfg.NInit, InitMethod: im, Workers: r.cfg.Workers, Logger: r.log}
	kmin, kmax, _ := r.cfg.conceptRange()
	var g *cluster.GMM
	var info cluster.FitInfo
	var curve []cluster.KScore
	if r.cfg.Concepts.Auto {
		g, curve, info, ok, err = cluster.SelectKSampleContext(ctx, z, n, kmin, kmax, s, src)
	} else {
		s.K = kmin
		g, info, ok, err = cluster.FitSampleContext(ctx, z, n, s, src)
	}
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("cluster: the Gaussian mixture fit failed numerically (K=%s over %d superpixels)", r.cfg.Concepts, n)
	}
	for _, ks := range curve {
		r.log.Info("cluster: BIC curve", "k", ks.K, "bic", ks.BIC, "log_lik", ks.LogLik, "converged", ks.Converged, "ok", ks.OK)
	}
	if r.cfg.Concepts.Auto {
		st.Note += "; " + autoKNote(g.K(), kmin, kmax)
		if g.K() == kmin || g.K() == kmax {
			r.log.Warn("cluster: " + autoKNote(g.K(), kmin, kmax))
		}
	}
	if info.Sampled {
		r.log.Info("cluster: fitted on a sample", "rows", info.Rows, "fit_rows", info.FitRows)
	}
	if r.cfg.GMMData == GMMDataAll {
		g, info, err = r.refineAll(ctx, g, info, norm, items, rows, cols, s)
		if err != nil {
			return err
		}
		st.Note += "; refined by EM over every superpixel (--gmm-data all)"
	}
	extra := map[string]any{"k": g.K(), "images": len(items), "rows": info.Rows, "fit_rows": info.FitRows,
		"iterations": info.Iterations, "converged": info.Converged, "lower_bound": info.LowerBound}
	if r.cfg.GMMData == GMMDataAll {
		extra["gmm_data"] = GMMDataAll
	}

	params, meta := norm.Params()
	ts := artifact.FromParams(params)
	nrec, err := r.cache.writeOutputSync(normalizerFile, func(w io.Writer) error { return artifact.EncodeSafetensors(w, ts, meta) })
	if err != nil {
		return err
	}
	gf := &artifact.GMMFile{Model: g, Normaliser: artifact.NormaliserRef{File: path.Base(normalizerFile), SHA256: nrec.SHA256},
		Seed: r.cfg.Seed, Info: info, KCurve: curve}
	grec, err := r.cache.writeOutputSync(gmmFile, func(w io.Writer) error { return artifact.EncodeGMM(w, gf) })
	if err != nil {
		return err
	}
	r.sum.Concepts = g.K()
	st.Computed = 1
	if err := r.cache.commit(&manifest{Key: r.clusterKey, Stage: StageCluster, Item: modelItem,
		Outputs: []outputRecord{nrec, grec},
		Extra:   extra}); err != nil {
		return err
	}
	return r.conceptsAndLegend(g.K())
}

// groupImages is the number of images, consecutive in the run's order,
// whose E-step statistics --gmm-data all sums as one group. It is fixed,
// not the run's shard count, so that a sharded run (whose fit reads every
// shard's feature files in one process) gives the unsharded run's model
// bit for bit; it bounds what is summed in one float64 chain and is the
// unit of work of a worker.
var groupImages = 64 // a variable for the tests only

// refineAll refines the sample fit g by EM over the normalised features
// of every item (cluster.RefineContext): each iteration streams every
// feature file once, a group of groupImages images per worker, one file
// at a time, so memory does not grow with the dataset. The returned
// FitInfo is the refinement's (log-likelihood on every row). K selection
// (--concepts auto) stays on the sample.
func (r *runner) refineAll(ctx context.Context, g *cluster.GMM, sample cluster.FitInfo, norm *features.Normalizer, items []*item, rows []int, cols int, s cluster.Settings) (*cluster.GMM, cluster.FitInfo, error) {
	groups := (len(items) + groupImages - 1) / groupImages
	source := func(ctx context.Context, gi int, yield func(*mat.Dense) error) error {
		for i := gi * groupImages; i < min(len(items), (gi+1)*groupImages); i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			it := items[i]
			x, err := r.readFeatures(it.file.Rel)
			if err != nil {
				return err
			}
			if n, c := x.Dims(); n != rows[i] || c != cols {
				return fmt.Errorf("%s changed during the run", featurePath(it.file.Rel))
			}
			if err := yield(norm.Apply(x)); err != nil {
				return err
			}
		}
		return nil
	}
	r.log.Info("cluster: refining the sample fit by EM over every superpixel", "groups", groups, "sample_lower_bound", sample.LowerBound)
	ng, info, ok, err := cluster.RefineContext(ctx, g, groups, source, s, rand.NewPCG(r.cfg.Seed, 0x5e9d15c1))
	if err != nil {
		return nil, info, fmt.Errorf("cluster: EM over every superpixel: %w", err)
	}
	if !ok {
		return nil, info, fmt.Errorf("cluster: EM over every superpixel failed numerically (K=%d over %d superpixels)", g.K(), info.Rows)
	}
	info.Restart = sample.Restart
	r.log.Info("cluster: EM over every superpixel done", "rows", info.Rows, "iterations", info.Iterations,
		"converged", info.Converged, "lower_bound", info.LowerBound)
	return ng, info, nil
}

// conceptsAndLegend makes concepts.json describe the k concepts of the
// current mixture (keeping the user's names) and draws model/legend.png
// from it. The legend is a view of concepts.json, not part of the model's
// cache record: it is redrawn whenever the names change.
func (r *runner) conceptsAndLegend(k int) error {
	if err := r.ensureConcepts(k, r.clusterKey); err != nil {
		return fmt.Errorf("concepts: %w", err)
	}
	cs, err := r.readConcepts(k)
	if err != nil {
		return err
	}
	r.concepts = cs
	return r.writeLegend(cs)
}

// writeLegend draws the legend of cs into OUT_DIR/model/legend.png, unless
// it is there already with these names.
func (r *runner) writeLegend(cs []artifact.Concept) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, pseudolabel.DrawLegend(legendKeys(cs, nil), 0)); err != nil {
		return err
	}
	if old, err := r.cache.read(legendFile); err == nil && bytes.Equal(old, buf.Bytes()) {
		return nil
	}
	return r.cache.writeSync(legendFile, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
}

// columnWeights returns the weights of the standardised feature columns:
// the descriptor's block weights, 1 for learned code units.
func (r *runner) columnWeights(cols int) []float64 {
	spec, _ := parseEncoder(r.cfg.Encoder)
	if !spec.hand {
		return nil
	}
	w := r.cfg.featureSettings().ColumnWeights()
	nh := len(w)
	if spec.conv() && cols > nh {
		// Standardised columns have variance 1: scale the hand-crafted
		// ones so that their block's total variance is HandWeight times
		// the learned block's, whatever the two widths.
		f := math.Sqrt(r.cfg.HandWeight * float64(cols-nh) / float64(nh))
		for i := range w {
			w[i] *= f
		}
	}
	for len(w) < cols {
		w = append(w, 1)
	}
	return w
}

// loadFeatures reads and stacks the feature matrices of items, in order,
// into one matrix allocated once (sized from the file headers), so the
// stage holds a single copy. It holds every row: the stages that can
// stream (the cluster stage) use featureRows and streamFeatures instead.
func (r *runner) loadFeatures(ctx context.Context, items []*item) (*mat.Dense, error) {
	rows, cols, err := r.featureRows(items)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, k := range rows {
		n += k
	}
	all := mat.NewDense(n, cols, nil)
	row := 0
	if err := r.streamFeatures(ctx, items, rows, cols, func(x *mat.Dense) {
		k, _ := x.Dims()
		all.Slice(row, row+k, 0, cols).(*mat.Dense).Copy(x)
		row += k
	}); err != nil {
		return nil, err
	}
	return all, nil
}

// featureRows reads the header of every item's feature file: the rows of
// each, in order, and their common number of columns.
func (r *runner) featureRows(items []*item) (rows []int, cols int, err error) {
	rows, cols = make([]int, len(items)), -1
	for i, it := range items {
		fc, err := r.featureConfig(it.file.Rel)
		if err != nil {
			return nil, 0, err
		}
		if cols >= 0 && fc.Cols != cols {
			return nil, 0, fmt.Errorf("%s has %d feature columns, others %d", featurePath(it.file.Rel), fc.Cols, cols)
		}
		cols = fc.Cols
		rows[i] = fc.Rows
	}
	return rows, cols, nil
}

// streamFeatures reads the feature matrices of items one at a time, in
// order, and passes each to f; rows and cols are what featureRows read
// from their headers. The features were written by this run or verified
// by the cache a moment ago, so a read error here is a run error, not an
// input's.
func (r *runner) streamFeatures(ctx context.Context, items []*item, rows []int, cols int, f func(*mat.Dense)) error {
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		x, err := r.readFeatures(it.file.Rel)
		if err != nil {
			return err
		}
		if n, c := x.Dims(); n != rows[i] || c != cols {
			return fmt.Errorf("%s changed during the run", featurePath(it.file.Rel))
		}
		f(x)
	}
	return nil
}

func (r *runner) featureConfig(rel string) (artifact.FeatureConfig, error) {
	f, err := r.cache.open(featurePath(rel))
	if err != nil {
		return artifact.FeatureConfig{}, err
	}
	defer f.Close()
	fc, err := artifact.DecodeFeaturesConfig(f)
	if err != nil {
		return fc, fmt.Errorf("%s: %w", featurePath(rel), err)
	}
	return fc, nil
}

// model is the fitted model as read back from OUT_DIR/model.
type model struct {
	norm *features.Normalizer
	gmm  *cluster.GMM
	// global assignments (balanced): per item, concept ids and posteriors.
	labels map[string][]int
	post   map[string][]float64
}

// readModel reads the normaliser and mixture the cluster stage wrote. The
// pseudo-labels are always computed from the model as read from disk, so a
// resumed run computes exactly what an uninterrupted one does.
func (r *runner) readModel() (*model, error) {
	data, err := r.cache.read(normalizerFile)
	if err != nil {
		return nil, err
	}
	ts, meta, err := artifact.DecodeSafetensors(bytes.NewReader(data), 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", normalizerFile, err)
	}
	ps, err := artifact.ToParams(ts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", normalizerFile, err)
	}
	norm, err := features.LoadNormalizer(ps, meta)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", normalizerFile, err)
	}
	f, err := r.cache.open(gmmFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gf, err := artifact.DecodeGMM(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gmmFile, err)
	}
	return &model{norm: norm, gmm: gf.Model}, nil
}

// pseudolabelStage writes every image's concept mask and confidence map.
func (r *runner) pseudolabelStage(ctx context.Context) error {
	st := r.sum.stageStats(StagePseudolabels)
	items := r.okItems()
	st.Items = len(items)
	pp := pseudolabelParams{MinConfidence: r.cfg.MinConfidence}
	var todo []*item
	for _, it := range items {
		it.plKey = r.plKeyOf(it)
		if _, ok := r.cache.lookup(StagePseudolabels, it.file.Rel, it.plKey); !ok {
			todo = append(todo, it)
		}
	}
	st.Cached = len(items) - len(todo)
	bar := r.prog.stage(StagePseudolabels, len(items))
	defer bar.done()
	for range st.Cached {
		bar.add(true)
	}
	if len(todo) == 0 {
		return nil
	}
	m, err := r.readModel()
	if err != nil {
		return fmt.Errorf("pseudolabels: %w", err)
	}
	balance, _ := cluster.ParseBalance(r.cfg.Balance)
	if balance != cluster.BalanceNone {
		// Balanced assignment couples all superpixels of the dataset.
		if err := r.assignAll(ctx, m, items, balance); err != nil {
			return err
		}
	}
	var c counter
	start := time.Now()
	r.forEachOf(ctx, todo, func(_ int, it *item) {
		t0 := time.Now()
		r.finish(&c, bar, StagePseudolabels, it, t0, r.pseudolabel(it, m, it.plKey, pp))
	})
	c.into(st, time.Since(start))
	return r.cache.flush()
}

// assignAll computes the balanced assignment of every superpixel at once.
func (r *runner) assignAll(ctx context.Context, m *model, items []*item, b cluster.Balance) error {
	x, err := r.loadFeatures(ctx, items)
	if err != nil {
		return err
	}
	z := m.norm.Apply(x)
	labels, post := m.gmm.Assign(z, cluster.AssignSettings{Balance: b, Workers: r.cfg.Workers})
	m.labels = make(map[string][]int, len(items))
	m.post = make(map[string][]float64, len(items))
	row := 0
	for _, it := range items {
		n := it.segments
		m.labels[it.file.Rel] = labels[row : row+n]
		m.post[it.file.Rel] = post[row : row+n]
		row += n
	}
	if row != len(labels) {
		return fmt.Errorf("pseudolabels: %d superpixels in the label maps, %d feature rows", row, len(labels))
	}
	return nil
}

// pseudolabel writes one image's mask and confidence map.
func (r *runner) pseudolabel(it *item, m *model, k string, pp pseudolabelParams) error {
	labels, err := r.readLabels(it.file.Rel)
	if err != nil {
		return err
	}
	concepts, post := m.labels[it.file.Rel], m.post[it.file.Rel]
	if concepts == nil {
		x, err := r.readFeatures(it.file.Rel)
		if err != nil {
			return err
		}
		concepts, post = m.gmm.Assign(m.norm.Apply(x), cluster.AssignSettings{Workers: 1})
	}
	if len(concepts) != labels.N {
		return fmt.Errorf("%s has %d superpixels but %d feature rows", superpixelPath(it.file.Rel), labels.N, len(concepts))
	}
	mask, conf := pseudolabel.Mask(labels, concepts, post, pseudolabel.Settings{MinConfidence: pp.MinConfidence})
	var recs []outputRecord
	rec, err := r.cache.writeOutput(pseudolabelPath(it.file.Rel), func(w io.Writer) error { return artifact.EncodeMask(w, mask) })
	if err != nil {
		return err
	}
	recs = append(recs, rec)
	if rec, err = r.cache.writeOutput(confidencePath(it.file.Rel), func(w io.Writer) error { return artifact.EncodeConfidence(w, conf) }); err != nil {
		return err
	}
	recs = append(recs, rec)
	return r.cache.commitLater(&manifest{Key: k, Stage: StagePseudolabels, Item: it.file.Rel, Outputs: recs})
}

// staleAfterRefit are the outputs (and their cache records) computed from
// the concepts: a refit of the mixture makes them stale.
var staleAfterRefit = []string{"pseudolabels", "masks", "overlays", segnetFile, "report", "report.html"}

// removeStale removes everything computed from the previous concepts.
func (r *runner) removeStale() error {
	for _, p := range staleAfterRefit {
		if err := store.RemoveTree(r.cache.ctx, r.cache.st, p); err != nil {
			return fmt.Errorf("remove stale %s: %w", p, err)
		}
	}
	for _, st := range []string{StagePseudolabels, StageTrain, StageMasks, StageOverlays, "train"} {
		if err := store.RemoveTree(r.cache.ctx, r.cache.st, r.cache.dir+"/"+st); err != nil {
			return fmt.Errorf("remove stale cache records: %w", err)
		}
	}
	// The masks records of the shards vouch for masks just removed.
	if err := removeShardRecords(r.cache, PhaseMasks); err != nil {
		return fmt.Errorf("remove stale shard records: %w", err)
	}
	r.log.Warn("cluster: concepts refitted; removed the pseudo-labels, network, masks and overlays of the old concepts")
	return nil
}

// autoKNote says which K the BIC chose, and when it is at the edge of the
// range tried, that the best K may lie beyond it.
func autoKNote(k, kmin, kmax int) string {
	s := fmt.Sprintf("K=%d chosen by BIC over %d..%d (curve in model/gmm.json)", k, kmin, kmax)
	switch {
	case k == kmax && kmax < 255:
		s += fmt.Sprintf("; K is the largest tried, a larger one may fit better: try --concepts-max %d", min(255, 2*kmax))
	case k == kmin && kmin > 1:
		s += fmt.Sprintf("; K is the smallest tried, a smaller one may fit better: try --concepts-min %d", max(1, kmin/2))
	}
	return s
}
