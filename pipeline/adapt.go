package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/superpixel"

	"github.com/segdiscover/segdiscover/cluster"
	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/segnet"
)

// Adapt carries the concepts of a trained run (the source, OUT) to a new
// folder of images (the target, IN2), keeping their ids, names and colours
// (segdiscover adapt, issue 13):
//
//  1. the per-image stages run on IN2 with OUT's settings, and the features
//     go through OUT's encoder and normaliser as stored;
//  2. the mixture is re-estimated on IN2's features by cluster.Adapt, MAP EM
//     started from OUT's mixture with OUT's mixture as the prior, so that
//     component k stays concept k;
//  3. IN2's pseudo-labels are rectified — per concept, the most confident
//     share Keep of its pixels (pseudolabel.Thresholds, class-balanced as in
//     CBST), and, for the concepts the source network still recognises, only
//     the pixels it agrees on — and the network is fine-tuned on them from
//     OUT's weights;
//  4. masks, overlays and the report go to OUT2, with a drift account
//     (OUT2/run.json "adapt", model/drift.json, the summary).
//
// Nothing is written into OUT. OUT2 is a run folder like OUT (predict
// --model OUT2 works); it is cached and resumable like Run.

// Versions of adapt's own global stages (the per-image stages are Run's).
const (
	adaptClusterVersion = "adapt-cluster/1"
	adaptTrainVersion   = "adapt-train/1"
)

// Files adapt adds to OUT2/model.
const (
	driftFile   = "model/drift.json"
	rectifyFile = "model/rectify.json"
)

// Defaults of AdaptSettings.
const (
	// DefaultAdaptKeep is the share of each concept's pseudo-labelled
	// pixels kept for fine-tuning: the final portion of CBST (Zou et al.
	// 2018, who grow it from 20% to 50%).
	DefaultAdaptKeep = 0.5
	// DefaultNoveltyQuantile q: a target superpixel is novel when its
	// density under the source mixture is below that of all but a share q
	// of the source's own superpixels (cluster.NoveltyThreshold).
	DefaultNoveltyQuantile = 0.05
)

// sourceSample bounds the source files read for the novelty threshold, the
// source pixel shares and image sizes: evenly spaced over the folder, so
// the figures hold whatever its size.
const sourceSample = 2000

// AdaptSettings are adapt's own parameters; the zero value means the
// documented defaults.
type AdaptSettings struct {
	Keep        float64 `json:"keep,omitempty"`         // share of each concept's pixels kept; 0 = DefaultAdaptKeep
	NoAgreement bool    `json:"no_agreement,omitempty"` // do not require the source network's agreement
	Relevance   float64 `json:"relevance,omitempty"`    // MAP relevance factor; 0 = cluster.DefaultRelevance, negative = none
	Quantile    float64 `json:"novelty_quantile,omitempty"`
}

func (s AdaptSettings) resolved() AdaptSettings {
	if s.Keep == 0 {
		s.Keep = DefaultAdaptKeep
	}
	if s.Relevance == 0 {
		s.Relevance = cluster.DefaultRelevance
	}
	if s.Quantile == 0 {
		s.Quantile = DefaultNoveltyQuantile
	}
	return s
}

func (s AdaptSettings) validate() error {
	if !(s.Keep > 0 && s.Keep <= 1) {
		return fmt.Errorf("keep: %g is not in (0, 1]", s.Keep)
	}
	if math.IsNaN(s.Relevance) || math.IsInf(s.Relevance, 0) {
		return fmt.Errorf("relevance: %g, want a number (negative: none, plain EM from the model)", s.Relevance)
	}
	if !(s.Quantile > 0 && s.Quantile < 1) {
		return fmt.Errorf("novelty quantile: %g is not in (0, 1)", s.Quantile)
	}
	return nil
}

// AdaptOptions say which trained run is carried to which images.
type AdaptOptions struct {
	ModelDir  string // OUT: a complete run with a trained network
	InDir     string // IN2: the new images
	OutDir    string // OUT2: a new run folder (not OUT, not inside it)
	Workers   int    // 0: number of CPUs
	MaxPixels int    // 0: artifact.DefaultMaxPixels
	Settings  AdaptSettings

	Logger      *slog.Logger
	Progress    ProgressMode
	ProgressOut io.Writer
	LogInterval time.Duration
}

// sourceModel is OUT as adapt reads it, checked against its cache records.
type sourceModel struct {
	dir        string // as given
	abs        string
	inDir      string // OUT's input folder, from run.json
	cfg        Config // OUT's effective configuration
	clusterKey string
	normData   []byte
	norm       *features.Normalizer
	gmm        *cluster.GMM
	netData    []byte
	netKey     string // SHA-256 of netData
	net        *segnet.Net
	encoderKey string
	encData    []byte
	concepts   []artifact.Concept
}

// openSource reads and checks the model folder: a complete run of this
// cache version whose network was trained on its current concepts, with
// every model file as its cache record has it.
func openSource(dir string) (*sourceModel, error) {
	if err := checkLocalPath("model folder", dir); err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("model: %s is not a folder (want the -o folder of `segdiscover run`)", dir)
	}
	p := filepath.Join(dir, "run.json")
	data, err := readSmallFile(p)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w (want the -o folder of a finished `segdiscover run`)", p, err)
	}
	var rec struct {
		Format       string          `json:"format"`
		CacheVersion int             `json:"cache_version"`
		InDir        string          `json:"in_dir"`
		Complete     bool            `json:"complete"`
		Config       json.RawMessage `json:"config"`
		Adapt        json.RawMessage `json:"adapt"`
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.Format != runFormat {
		return nil, fmt.Errorf("model: %s is not a segdiscover run record", p)
	}
	if rec.CacheVersion != cacheVersion {
		return nil, fmt.Errorf("model: %s was written with cache version %d, this segdiscover reads version %d: rerun `segdiscover run` into %s first",
			p, rec.CacheVersion, cacheVersion, dir)
	}
	if !rec.Complete {
		return nil, fmt.Errorf("model: the run in %s did not finish (%s says \"complete\": false): rerun it to the end first", dir, p)
	}
	s := &sourceModel{dir: dir, inDir: rec.InDir}
	if s.abs, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := decodeConfig(rec.Config, &s.cfg); err != nil {
		return nil, fmt.Errorf("model: %s: %w", p, err)
	}
	s.cfg = s.cfg.Defaults()
	if s.cfg.Until != "" && stageIndex(s.cfg.Until) < stageIndex(StageTrain) {
		return nil, fmt.Errorf("model: the run in %s stopped after --until %s and has no trained network: rerun it without --until", dir, s.cfg.Until)
	}
	c := newCache(dir)
	files, err := verifiedOutputs(c, StageCluster, modelItem, "the concepts")
	if err != nil {
		return nil, err
	}
	cm, _ := c.readManifest(StageCluster, modelItem)
	s.clusterKey = cm.Key
	s.normData, s.norm, err = decodeNormalizer(files[normalizerFile])
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", filepath.Join(dir, filepath.FromSlash(normalizerFile)), err)
	}
	gf, err := artifact.DecodeGMM(bytes.NewReader(files[gmmFile]))
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", filepath.Join(dir, filepath.FromSlash(gmmFile)), err)
	}
	s.gmm = gf.Model
	nets, err := verifiedOutputs(c, StageTrain, trainItem, "the network")
	if err != nil {
		return nil, err
	}
	s.netData = nets[segnetFile]
	if err := checkModelFresh(dir, s.netData); err != nil {
		return nil, err
	}
	s.netKey = hashBytes(s.netData)
	if s.net, err = decodeSegnet(filepath.Join(dir, filepath.FromSlash(segnetFile)), s.netData); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if s.net.Arch().Classes != s.gmm.K() {
		return nil, fmt.Errorf("model: the network in %s has %d classes, its mixture %d concepts", dir, s.net.Arch().Classes, s.gmm.K())
	}
	if spec, _ := parseEncoder(s.cfg.Encoder); spec.learned {
		enc, err := verifiedOutputs(c, StageEncoder, encoderItem, "the encoder")
		if err != nil {
			return nil, err
		}
		em, _ := c.readManifest(StageEncoder, encoderItem)
		s.encoderKey, s.encData = em.Key, enc[encoderFile]
	}
	if s.concepts, err = ReadConcepts(dir, s.gmm.K()); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return s, nil
}

// verifiedOutputs reads the files of the artifact (stage, item) of cache c,
// checking each against its record (size and SHA-256), keyed by their
// OUT-relative path. what names the artifact for people.
func verifiedOutputs(c *cache, stage, item, what string) (map[string][]byte, error) {
	m, err := c.readManifest(stage, item)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("model: %s has no record of %s (%s): the run did not get that far, or is from another segdiscover version",
			c.root(), what, filepath.Join(c.dir, stage, item+".json"))
	}
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	files := map[string][]byte{}
	for _, o := range m.Outputs {
		if o.Path == legendFile {
			continue
		}
		p := filepath.Join(c.root(), filepath.FromSlash(o.Path))
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("model: %s is missing (the run wrote it; was it moved or deleted?): rerun `segdiscover run` into %s", p, c.root())
		}
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		if int64(len(data)) != o.Size || hashBytes(data) != o.SHA256 {
			return nil, fmt.Errorf("model: %s changed since the run wrote it (its size or SHA-256 differs from the cache record): rerun `segdiscover run` into %s", p, c.root())
		}
		files[o.Path] = data
	}
	return files, nil
}

func decodeNormalizer(data []byte) ([]byte, *features.Normalizer, error) {
	ts, meta, err := artifact.DecodeSafetensors(bytes.NewReader(data), 0)
	if err != nil {
		return nil, nil, err
	}
	ps, err := artifact.ToParams(ts)
	if err != nil {
		return nil, nil, err
	}
	n, err := features.LoadNormalizer(ps, meta)
	return data, n, err
}

// checkAdaptFolders refuses an OUT2 that is OUT, inside it, or holds it:
// adapt must not write into the model's folder (nor clean temporary files
// in it).
func checkAdaptFolders(model, out string) error {
	m, err := realAbs(model)
	if err != nil {
		return err
	}
	o, err := realAbs(out)
	if err != nil {
		return err
	}
	switch {
	case m == o:
		return fmt.Errorf("output folder %s is the model folder: adapt never writes into the model's folder; choose another -o", out)
	case within(m, o):
		return fmt.Errorf("output folder %s is inside the model folder %s: adapt never writes into the model's folder; choose another -o", out, model)
	case within(o, m):
		return fmt.Errorf("output folder %s holds the model folder %s: adapt would clean and lock it; choose another -o", out, model)
	}
	return nil
}

// realAbs is the absolute path of p with symbolic links resolved as far as
// it exists (OUT2 may not exist yet).
func realAbs(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for d := a; ; d = filepath.Dir(d) {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		if filepath.Dir(d) == d {
			return a, nil
		}
		rest = append([]string{filepath.Base(d)}, rest...)
	}
}

// Adapt runs the adaptation of o.ModelDir to the images of o.InDir into
// o.OutDir and returns what it did; errors as Run's.
func Adapt(ctx context.Context, o AdaptOptions) (*Summary, error) {
	if err := checkLocalPaths("model folder", o.ModelDir, "input folder", o.InDir, "output folder", o.OutDir); err != nil {
		return nil, err
	}
	start := time.Now()
	as := o.Settings.resolved()
	if err := as.validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProgressOut == nil {
		o.ProgressOut = os.Stderr
	}
	src, err := openSource(o.ModelDir)
	if err != nil {
		return nil, err
	}
	if err := checkAdaptFolders(o.ModelDir, o.OutDir); err != nil {
		return nil, err
	}
	cfg := src.cfg
	cfg.Workers, cfg.MaxPixels, cfg.Until = resolveWorkers(o.Workers), o.MaxPixels, ""
	if cfg.MaxPixels <= 0 {
		cfg.MaxPixels = artifact.DefaultMaxPixels
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model: %s/run.json: %w", o.ModelDir, err)
	}
	out, files, err := prepareFolders(o.InDir, o.OutDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	lock, err := lockDir(out)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	if err := removeTempFiles(out); err != nil {
		return nil, fmt.Errorf("clean temporary files: %w", err)
	}
	r := &runner{
		o:   Options{InDir: o.InDir, OutDir: o.OutDir, Config: cfg, Logger: o.Logger, Progress: o.Progress, ProgressOut: o.ProgressOut, LogInterval: o.LogInterval},
		cfg: cfg, log: o.Logger, cache: newCache(out),
		sum:      &Summary{InDir: o.InDir, OutDir: o.OutDir},
		concepts: src.concepts,
	}
	spec, _ := parseEncoder(cfg.Encoder)
	for _, s := range Stages {
		if s == StageEncoder && !spec.learned {
			continue
		}
		r.sum.Stages = append(r.sum.Stages, &StageStats{Name: s, Ran: true})
	}
	r.adapt = newAdaptRecord(src, as)
	r.sum.Adapt = r.adapt
	if spec.vit {
		if r.vit, err = LoadViT(cfg.Weights); err != nil {
			return nil, err
		}
	}
	r.addInputs(files)
	if err := writeRunJSON(r.cache, r.runRecord(start, false)); err != nil {
		return nil, err
	}
	r.log.Info("adapt", "model", o.ModelDir, "images", r.sum.Images, "concepts", src.gmm.K())
	r.prog = newProgress(ctx, o.Progress, o.ProgressOut, r.log, o.LogInterval)
	err = r.adaptStages(ctx, src, as)
	r.prog.wait()

	r.sum.Wall = time.Since(start)
	r.sum.Failures = r.failures
	r.sum.Interrupted = ctx.Err() != nil
	if werr := writeErrorsJSON(r.cache, r.failures); werr != nil && err == nil {
		err = werr
	}
	if werr := writeRunJSON(r.cache, r.runRecord(start, err == nil && ctx.Err() == nil)); werr != nil && err == nil {
		err = werr
	}
	if errors.Is(err, errNoOK) {
		if hint := sameCauseHint(r.failures); hint != "" {
			err = fmt.Errorf("%w; %s", err, hint)
		}
	}
	switch {
	case err != nil:
		return r.sum, err
	case ctx.Err() != nil:
		return r.sum, fmt.Errorf("adapt stopped; completed work is kept and a rerun resumes: %w", ctx.Err())
	case len(r.failures) > 0:
		return r.sum, &PartialError{Failures: r.failures, Total: r.sum.Images}
	}
	return r.sum, nil
}

// adaptStages runs the stages of Adapt in order.
func (r *runner) adaptStages(ctx context.Context, src *sourceModel, as AdaptSettings) error {
	if err := r.perImage(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	if spec, _ := parseEncoder(r.cfg.Encoder); spec.learned {
		st := r.sum.stageStats(StageEncoder)
		st.Items, st.Cached, st.Note = 1, 1, "the model's, as stored"
		if err := r.useSourceEncoder(src, spec); err != nil {
			return err
		}
		if err := r.learnedFeatures(ctx); err != nil || ctx.Err() != nil {
			return err
		}
	}
	timed := func(name string, f func(*StageStats) error) error {
		st := r.sum.stageStats(name)
		t0 := time.Now()
		err := f(st)
		st.Seconds = time.Since(t0).Seconds()
		if err == nil {
			err = ctx.Err()
		}
		return err
	}
	if err := timed(StageCluster, func(st *StageStats) error { return r.adaptCluster(ctx, st, src, as) }); err != nil {
		return err
	}
	if err := r.pseudolabelStage(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	if err := timed(StageTrain, func(st *StageStats) error { return r.adaptTrain(ctx, st, src, as) }); err != nil {
		return err
	}
	if err := r.maskStage(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	if err := r.targetPixelShares(ctx); err != nil {
		return err
	}
	if err := r.overlayStage(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	return r.reportStage(ctx)
}

// useSourceEncoder makes the model's learned encoder the run's, with its key
// (so IN2's features are keyed by the encoder they came from).
func (r *runner) useSourceEncoder(src *sourceModel, spec encoderSpec) error {
	p := filepath.Join(src.dir, filepath.FromSlash(encoderFile))
	ts, meta, err := artifact.DecodeSafetensors(bytes.NewReader(src.encData), 0)
	if err != nil {
		return fmt.Errorf("model: %s: %w", p, err)
	}
	r.encoderKey = src.encoderKey
	if spec.conv() {
		e, _, err := convFromTensors(ts, meta)
		if err != nil {
			return fmt.Errorf("model: %s: %w", p, err)
		}
		r.convEnc = e
		return nil
	}
	ps, err := artifact.ToParams(ts)
	if err != nil {
		return fmt.Errorf("model: %s: %w", p, err)
	}
	if r.encoder, err = features.LoadPatchEncoder(ps, meta); err != nil {
		return fmt.Errorf("model: %s: %w", p, err)
	}
	return nil
}

// adaptClusterParams enter the key of the adapted mixture.
type adaptClusterParams struct {
	Relevance float64 `json:"relevance"`
	Quantile  float64 `json:"quantile"`
	Balance   string  `json:"balance"`
}

// adaptCluster re-estimates the source mixture on IN2's features (same
// normaliser, same ids), measures the drift, and writes OUT2/model/
// (normaliser as the source's, the adapted gmm.json, drift.json) and
// concepts.json with the source's names and colours.
func (r *runner) adaptCluster(ctx context.Context, st *StageStats, src *sourceModel, as AdaptSettings) error {
	items := r.okItems()
	st.Items = len(items)
	if len(items) == 0 {
		return errNoOK
	}
	inputs := make([]string, 0, len(items)+3)
	for _, it := range items {
		inputs = append(inputs, it.file.Rel+"\x00"+it.featKey)
	}
	inputs = append(inputs, src.clusterKey, hashBytes(src.normData), src.netKey)
	r.clusterKey = key(adaptClusterVersion, adaptClusterParams{as.Relevance, as.Quantile, r.cfg.Balance}, inputs...)
	k := src.gmm.K()
	if m, ok := r.cache.lookup(StageCluster, modelItem, r.clusterKey); ok {
		if d, err := readDrift(r.outPath(driftFile)); err == nil {
			st.Cached = 1
			st.Note = "adapted model reused"
			r.sum.Concepts = extraInt(m.Extra, "k")
			r.adapt.setDrift(d)
			return r.adaptConcepts(src)
		}
	}
	if _, err := r.cache.readManifest(StageCluster, modelItem); err == nil {
		if err := r.removeStale(); err != nil {
			return err
		}
		st.Note = "re-adapted (images, model or settings changed); outputs of the old adaptation removed; "
	}
	x, err := r.loadFeatures(ctx, items)
	if err != nil {
		return err
	}
	if _, d := x.Dims(); d != len(src.norm.Mean) {
		return fmt.Errorf("cluster: IN2's features have %d columns, the model's normaliser takes %d", d, len(src.norm.Mean))
	}
	z := src.norm.Apply(x)
	x = nil
	init, err := r.sourcePosteriors(ctx, items, src, z.RawMatrix().Rows)
	if err != nil {
		return err
	}
	g, info, ok, err := cluster.Adapt(ctx, src.gmm, z, cluster.AdaptSettings{Relevance: as.Relevance, Workers: r.cfg.Workers, Init: init})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("cluster: adapting the model's mixture to IN2 failed numerically (%d superpixels)", z.RawMatrix().Rows)
	}
	sz, err := r.sourceFeatures(ctx, src)
	if err != nil {
		return err
	}
	thr := cluster.NoveltyThreshold(src.gmm, sz, as.Quantile, r.cfg.Workers)
	dr := cluster.MeasureDrift(src.gmm, g, info, z, thr, as.Quantile, r.cfg.Workers)
	// Novel: unlikely under every concept as adapted (a colour cast of
	// the whole target, which every concept follows, is no new concept),
	// against the level all but q of the model's own superpixels reach.
	nov := cluster.MeasureDrift(g, g, info, z, thr, as.Quantile, r.cfg.Workers)
	d := &driftRecord{Iterations: info.Iterations, Converged: info.Converged, LogLik: info.LogLik,
		NovelShare: nov.NovelShare, NovelShareSource: dr.NovelShare, Expected: dr.Expected, Threshold: dr.Threshold,
		SuggestNew: nov.SuggestNew, SourceRows: sz.RawMatrix().Rows, TargetRows: z.RawMatrix().Rows}
	srcShare, err := sourcePixelShares(ctx, src.dir, k, r.cfg.MaxPixels)
	if err != nil {
		return err
	}
	d.SourceImageSize = commonImageSize(src.dir)
	d.TargetImageSize = commonImageSize(r.cache.root())
	sm, am := src.gmm.Means(), g.Means()
	for c := range k {
		shift := 0.0
		for j := range sm.RawMatrix().Cols {
			v := am.At(c, j) - sm.At(c, j)
			shift += v * v
		}
		d.Concepts = append(d.Concepts, ConceptDrift{ID: c, SourcePixelShare: srcShare[c],
			SourceWeight: dr.SourceShare[c], TargetSuperpixelShare: dr.TargetShare[c],
			MeanShift: math.Sqrt(shift), MeanShiftSD: nanToNeg(dr.Shift[c]),
			Alpha: info.Alpha[c], Vanished: dr.Vanished[c]})
	}
	nrec, err := r.cache.writeOutputSync(normalizerFile, func(w io.Writer) error { _, err := w.Write(src.normData); return err })
	if err != nil {
		return err
	}
	gf := &artifact.GMMFile{Model: g, Normaliser: artifact.NormaliserRef{File: filepath.Base(normalizerFile), SHA256: nrec.SHA256},
		Seed: r.cfg.Seed, Info: cluster.FitInfo{Iterations: info.Iterations, Converged: info.Converged, LowerBound: info.LogLik,
			Curve: info.Curve, Rows: z.RawMatrix().Rows, FitRows: z.RawMatrix().Rows}}
	grec, err := r.cache.writeOutputSync(gmmFile, func(w io.Writer) error { return artifact.EncodeGMM(w, gf) })
	if err != nil {
		return err
	}
	drec, err := r.cache.writeOutputSync(driftFile, func(w io.Writer) error { return encodeIndented(w, d) })
	if err != nil {
		return err
	}
	r.sum.Concepts = k
	st.Computed = 1
	st.Note += fmt.Sprintf("adapted from %s in %d iterations", src.dir, info.Iterations)
	if err := r.cache.commit(&manifest{Key: r.clusterKey, Stage: StageCluster, Item: modelItem,
		Outputs: []outputRecord{nrec, grec, drec},
		Extra:   map[string]any{"k": k, "images": len(items), "rows": z.RawMatrix().Rows, "iterations": info.Iterations, "converged": info.Converged}}); err != nil {
		return err
	}
	r.adapt.setDrift(d)
	return r.adaptConcepts(src)
}

func nanToNeg(v float64) float64 {
	if math.IsNaN(v) {
		return -1
	}
	return v
}

// adaptConcepts writes OUT2/concepts.json: the model's names and colours,
// for the adapted mixture (refreshed from the model at every adapt, so
// names given in OUT reach OUT2), and the legend.
func (r *runner) adaptConcepts(src *sourceModel) error {
	f := &artifact.ConceptsFile{Format: artifact.ConceptsFormat, Version: 1, Model: r.clusterKey, Concepts: src.concepts}
	var buf bytes.Buffer
	if err := artifact.EncodeConcepts(&buf, f); err != nil {
		return err
	}
	p := filepath.Join(r.cache.root(), conceptsFileName)
	if old, err := os.ReadFile(p); err != nil || !bytes.Equal(old, buf.Bytes()) {
		if err := WriteFileAtomic(p, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
			return fmt.Errorf("concepts: %w", err)
		}
	}
	r.concepts = src.concepts
	return r.writeLegend(src.concepts)
}

// evenly returns at most n of xs, evenly spaced, in order.
func evenly[T any](xs []T, n int) []T {
	if len(xs) <= n {
		return xs
	}
	out := make([]T, n)
	for i := range n {
		out[i] = xs[i*len(xs)/n]
	}
	return out
}

// filesUnder lists the files under dir/sub whose name ends in ext and not
// in any of except, sorted; none when the folder is absent.
func filesUnder(dir, sub, ext string, except ...string) ([]string, error) {
	var ps []string
	err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		n := d.Name()
		if d.IsDir() || !strings.HasSuffix(n, ext) || strings.HasPrefix(n, ".") {
			return nil
		}
		for _, e := range except {
			if strings.HasSuffix(n, e) {
				return nil
			}
		}
		ps = append(ps, p)
		return nil
	})
	slices.Sort(ps)
	return ps, err
}

// sourceFeatures reads the model's own superpixel features (an even sample
// of its images), standardised by its normaliser: the rows the novelty
// threshold is the quantile of.
func (r *runner) sourceFeatures(ctx context.Context, src *sourceModel) (*mat.Dense, error) {
	ps, err := filesUnder(src.dir, "features", ".f32")
	if err != nil {
		return nil, fmt.Errorf("model features: %w", err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("model: %s has no features/ (the novelty threshold needs them): rerun `segdiscover run` into it", src.dir)
	}
	var blocks []*mat.Dense
	for _, p := range evenly(ps, sourceSample) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("model features: %w", err)
		}
		x, err := artifact.DecodeFeatures(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("model: %s: %w", p, err)
		}
		if _, c := x.Dims(); c != len(src.norm.Mean) {
			return nil, fmt.Errorf("model: %s has %d columns, the normaliser takes %d", p, c, len(src.norm.Mean))
		}
		blocks = append(blocks, x)
	}
	return src.norm.Apply(stackRows(blocks)), nil
}

func stackRows(bs []*mat.Dense) *mat.Dense {
	rows, cols := 0, 0
	for _, b := range bs {
		n, c := b.Dims()
		rows, cols = rows+n, c
	}
	all := mat.NewDense(max(rows, 1), max(cols, 1), nil)
	row := 0
	for _, b := range bs {
		n, _ := b.Dims()
		all.Slice(row, row+n, 0, cols).(*mat.Dense).Copy(b)
		row += n
	}
	if rows == 0 {
		return &mat.Dense{}
	}
	return all
}

// sourcePixelShares returns each concept's share of the pixels of the
// model's masks (masks/, else pseudolabels/), over an even sample of them.
func sourcePixelShares(ctx context.Context, dir string, k, maxPixels int) ([]float64, error) {
	ps, err := filesUnder(dir, "masks", ".png", ".conf.png")
	if err == nil && len(ps) == 0 {
		ps, err = filesUnder(dir, "pseudolabels", ".png", ".conf.png")
	}
	if err != nil {
		return nil, fmt.Errorf("model masks: %w", err)
	}
	counts := make([]float64, 256)
	var total float64
	for _, p := range evenly(ps, sourceSample) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("model masks: %w", err)
		}
		m, err := artifact.DecodeMask(f, maxPixels)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("model: %s: %w", p, err)
		}
		for _, v := range m.Pix {
			counts[v]++
		}
		total += float64(len(m.Pix))
	}
	share := make([]float64, k)
	for c := range share {
		if total > 0 {
			share[c] = counts[c] / total
		}
	}
	return share, nil
}

// commonImageSize returns the most common "WxH" among the superpixel
// records of the run in dir (an even sample), or "" if it has none.
func commonImageSize(dir string) string {
	ps, _ := filesUnder(filepath.Join(dir, filepath.FromSlash(cacheDir())), StageSuperpixels, ".json")
	n := map[string]int{}
	best := ""
	for _, p := range evenly(ps, sourceSample) {
		data, err := readSmallFile(p)
		if err != nil {
			continue
		}
		var m manifest
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		s := fmt.Sprintf("%dx%d", extraInt(m.Extra, "width"), extraInt(m.Extra, "height"))
		n[s]++
		if n[s] > n[best] || (n[s] == n[best] && s < best) {
			best = s
		}
	}
	return best
}

func encodeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func readDrift(p string) (*driftRecord, error) {
	data, err := readSmallFile(p)
	if err != nil {
		return nil, err
	}
	var d driftRecord
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &d, nil
}

// targetPixelShares counts each concept's share of the pixels of OUT2's
// masks, for the drift account.
func (r *runner) targetPixelShares(ctx context.Context) error {
	k := r.sum.Concepts
	counts := make([]float64, 256)
	var total float64
	for _, it := range r.okItems() {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := r.readMask(maskPath(it.file.Rel))
		if err != nil {
			return fmt.Errorf("drift: %w", err)
		}
		for _, v := range m.Pix {
			counts[v]++
		}
		total += float64(len(m.Pix))
	}
	for c := range min(k, len(r.adapt.Concepts)) {
		if total > 0 {
			r.adapt.Concepts[c].TargetPixelShare = counts[c] / total
		}
	}
	return nil
}

// sourcePosteriors labels every superpixel of items (in the row order of
// loadFeatures) with the model's network: its posteriors averaged over the
// superpixel's pixels, the responsibilities of adapt's first M-step
// (cluster.AdaptSettings.Init). The network sees pixels, normalised per
// channel, through many layers; it degrades under a shift of camera or
// light far less than the mixture over hand-crafted descriptors, whose
// tight components the shifted superpixels all miss (on the white-balance
// test scenes, predict keeps mIoU 0.75 where the source mixture gives
// every target superpixel to one concept).
func (r *runner) sourcePosteriors(ctx context.Context, items []*item, src *sourceModel, rows int) (*mat.Dense, error) {
	k := src.gmm.K()
	nets := make(chan *segnet.Net, r.cfg.Workers)
	for range r.cfg.Workers {
		n, err := decodeSegnet(src.dir, src.netData)
		if err != nil {
			return nil, err
		}
		n.Workers = threadsPerWorker(r.cfg.Workers)
		nets <- n
	}
	offsets := make([]int, len(items)+1)
	for i, it := range items {
		offsets[i+1] = offsets[i] + it.segments
	}
	if offsets[len(items)] != rows {
		return nil, fmt.Errorf("cluster: %d superpixels in the label maps, %d feature rows", offsets[len(items)], rows)
	}
	post := mat.NewDense(rows, k, nil)
	raw := post.RawMatrix()
	err := r.forEachLabelled(ctx, items, "source network", "cluster: the model's network on", func(i int, it *item, img *image.NRGBA, l *superpixel.Labels) error {
		if l.N != it.segments {
			return fmt.Errorf("%s has %d superpixels, its record %d", superpixelPath(it.file.Rel), l.N, it.segments)
		}
		n := <-nets
		p := n.PredictRegions(img, l.Pix, l.N)
		nets <- n
		copy(raw.Data[offsets[i]*k:offsets[i+1]*k], p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return post, nil
}

// refuseAdapted stops a run (or a stage command) in a folder written by
// adapt: it would refit the concepts from scratch, with new ids, and
// remove the adapted ones. It reads run.json only; a folder without one is
// no adapted folder.
func refuseAdapted(c *cache) error {
	out := c.root()
	data, err := c.read("run.json")
	if err != nil {
		return nil
	}
	var rec struct {
		Format string          `json:"format"`
		Adapt  json.RawMessage `json:"adapt"`
	}
	if json.Unmarshal(data, &rec) != nil || rec.Format != runFormat || len(rec.Adapt) == 0 || string(rec.Adapt) == "null" {
		return nil
	}
	return fmt.Errorf("%s was written by `segdiscover adapt`: a run there would refit its concepts from scratch (new ids) and remove the adapted ones; "+
		"rerun adapt to update it, or give run another -o", out)
}
