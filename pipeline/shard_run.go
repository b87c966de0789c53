package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/store"
)

// A sharded run (Options.Shard) does the per-image work of one shard of
// the images, in two phases separated by the global stages, which the fit
// command (Fit) runs once for every shard:
//
//  1. images: superpixels, and features unless a learned encoder makes
//     them, for the shard's images; then the shard's "images" record.
//  2. masks: if the global models in OUT_DIR (encoder, mixture, network)
//     are those a single-process run over every image would use (their
//     keys, recomputed from every shard's record, match), the shard's
//     masks and overlays; then its "masks" record.
//
// The same command is thus submitted twice, before and after fit: the
// first time it stops after phase 1 (the models are not there yet, or not
// current), saying so, with success; the second time phase 1 is all cache
// hits and phase 2 runs. The report, which needs every image, is left to
// `segdiscover report OUT_DIR` once every shard is done.

// shardStages runs the two phases of a shard.
func (r *runner) shardStages(ctx context.Context) error {
	// Before anything is written: a masks phase with another N than fit's.
	if err := r.otherCountCurrent(); err != nil {
		return err
	}
	if err := r.perImage(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	if err := r.writeShardRecord(PhaseImages); err != nil {
		return err
	}
	fit := fmt.Sprintf("`segdiscover fit %s`", r.o.OutDir)
	if !r.cfg.runs(StageCluster) && !r.cfg.runs(StageEncoder) {
		r.sum.Next = fmt.Sprintf("shard %s done (--until %s)", r.shard, r.cfg.Until)
		return nil
	}
	ok, why, err := r.adoptGlobal()
	if err != nil {
		return err
	}
	if !ok {
		r.skip("global: "+fit, StageEncoder, StageCluster, StagePseudolabels, StageTrain)
		r.skip("after fit", StageMasks, StageOverlays)
		if spec, _ := parseEncoder(r.cfg.Encoder); spec.learned {
			r.skip("after the encoder, in fit", StageFeatures)
		}
		r.skip("once every shard is done: `segdiscover report "+r.o.OutDir+"`", StageReport)
		r.sum.Next = fmt.Sprintf("shard %s: images phase done; the global stages come next (%s): run %s once every shard is done, then this command again for the masks",
			r.shard, why, fit)
		return nil
	}
	if r.cfg.runs(StageMasks) {
		if err := r.maskStage(ctx); err != nil || ctx.Err() != nil {
			return err
		}
	}
	if r.cfg.runs(StageOverlays) {
		if err := r.overlayStage(ctx); err != nil || ctx.Err() != nil {
			return err
		}
	}
	if err := r.writeShardRecord(PhaseMasks); err != nil {
		return err
	}
	r.skip("once every shard is done: `segdiscover report "+r.o.OutDir+"`", StageReport)
	r.sum.Next = fmt.Sprintf("shard %s: masks phase done; once every shard is, `segdiscover report %s` writes the report", r.shard, r.o.OutDir)
	return nil
}

// skip marks stages as not run by this command, saying where they run.
func (r *runner) skip(note string, stages ...string) {
	for _, s := range stages {
		if st := r.sum.stageStats(s); st != nil && st.Ran {
			st.Ran, st.Note = false, note
		}
	}
}

// adoptGlobal tells whether the global models in OUT_DIR are current for
// the whole run, as put together from every shard's "images" record: it
// recomputes their keys as the stages do and looks them up. When they are,
// it sets the run's keys (and its items' downstream keys) from them and
// returns true; else false with the reason. It holds the global locks
// shared from then on, so that no fit replaces the models under the masks
// phase.
func (r *runner) adoptGlobal() (bool, string, error) {
	if err := r.locks.lockGlobal(r.cache, false); err != nil {
		if errors.Is(err, ErrLocked) {
			return false, "fit is running", nil
		}
		return false, "", err
	}
	a, err := readAssembly(r.cache, r.shard.Count)
	if err != nil {
		return false, "", err
	}
	if err := a.cover(r.listed); err != nil {
		var inc *IncompleteError
		if !errors.As(err, &inc) {
			return false, "", err
		}
		return false, "not every shard has finished the images phase", nil
	}
	all := a.items
	if len(all) == 0 {
		return false, "", errNoOK
	}
	mine := make(map[string]*item, len(r.items))
	for _, it := range r.okItems() {
		mine[it.file.Rel] = it
	}
	// A copy of the run's state, for the key computations over every image.
	g := &runner{cfg: r.cfg}
	if spec, _ := parseEncoder(r.cfg.Encoder); spec.learned && r.cfg.runs(StageEncoder) {
		g.encoderKey = g.encoderKeyOf(all)
		if _, ok := r.cache.lookup(StageEncoder, encoderItem, g.encoderKey); !ok {
			return false, "the encoder is not trained on these images with these settings", nil
		}
		for _, it := range all {
			it.featKey = g.learnedFeatKey(it)
		}
		for _, it := range mine {
			it.featKey = g.learnedFeatKey(it)
			if _, ok := r.cache.lookup(StageFeatures, it.file.Rel, it.featKey); !ok {
				return false, "the learned features of " + it.file.Rel + " are missing", nil
			}
		}
		r.encoderKey = g.encoderKey
	}
	if !r.cfg.runs(StageCluster) {
		return false, "", nil
	}
	g.clusterKey = g.clusterKeyOf(all)
	m, ok := r.cache.lookup(StageCluster, modelItem, g.clusterKey)
	if !ok {
		return false, "the concepts are not fitted on these images with these settings", nil
	}
	r.clusterKey = g.clusterKey
	r.sum.Concepts = extraInt(m.Extra, "k")
	st := r.sum.stageStats(StageCluster)
	st.Items, st.Cached, st.Note = len(all), 1, "from fit"
	if !r.cfg.runs(StagePseudolabels) {
		return true, "", nil
	}
	for _, it := range all {
		it.plKey = g.plKeyOf(it)
	}
	pl := r.sum.stageStats(StagePseudolabels)
	pl.Items, pl.Note = len(mine), "from fit"
	for _, it := range mine {
		it.plKey = g.plKeyOf(it)
		if _, ok := r.cache.lookup(StagePseudolabels, it.file.Rel, it.plKey); !ok {
			return false, "the pseudo-labels of " + it.file.Rel + " are missing", nil
		}
		pl.Cached++
	}
	if r.cfg.runs(StageTrain) {
		g.trainKey, _ = g.trainKeyOf(all)
		if _, ok := r.cache.lookup(StageTrain, trainItem, g.trainKey); !ok {
			return false, "the network is not trained on these pseudo-labels with these settings", nil
		}
		r.trainKey = g.trainKey
		st := r.sum.stageStats(StageTrain)
		st.Items, st.Cached, st.Note = len(all), 1, "from fit"
	}
	if st := r.sum.stageStats(StageEncoder); st != nil && st.Ran {
		st.Items, st.Cached, st.Note = len(all), 1, "from fit"
	}
	cs, err := r.readConcepts(max(1, r.sum.Concepts))
	if err != nil {
		return false, "", err
	}
	r.concepts = cs
	return true, "", nil
}

// otherCountCurrent returns an error when the global models in OUT_DIR
// were fitted from the records of another number of shards than this
// run's: the phases of a sharded run must use the same N.
func (r *runner) otherCountCurrent() error {
	ns, err := shardCounts(r.cache, PhaseImages)
	if err != nil {
		return err
	}
	if spec, _ := parseEncoder(r.cfg.Encoder); spec.learned {
		return nil // the features' keys are not in the records
	}
	for _, n := range ns {
		if n == r.shard.Count {
			continue
		}
		a, err := readAssembly(r.cache, n)
		if err != nil || a.cover(r.listed) != nil || len(a.items) == 0 || configDiff(a.cfg, r.cfg) != "" {
			continue
		}
		g := &runner{cfg: r.cfg}
		if _, ok := r.cache.lookup(StageCluster, modelItem, g.clusterKeyOf(a.items)); ok {
			return fmt.Errorf("the global stages in %s were fitted from the records of %d shards, and this is shard %s: "+
				"every phase of a sharded run uses the same number of shards (--shard I/%d), or delete %s to start over with %d",
				r.o.OutDir, n, r.shard, n, r.cache.st.Location(shardRecordDir(PhaseImages, n)), r.shard.Count)
		}
	}
	return nil
}

// assembleInputs makes the run's items (for fit) every listed image, with
// the keys the shards' records hold.
func (r *runner) assembleInputs(files []ImageFile) error {
	a, err := readAssembly(r.cache, r.shard.Count)
	if err != nil {
		return err
	}
	if err := a.cover(files); err != nil {
		return err
	}
	if d := configDiff(a.cfg, r.cfg); d != "" {
		return fmt.Errorf("the shards ran with other settings than these (%s)", d)
	}
	r.items, r.failures = a.items, a.failures
	r.sum.Images = len(files)
	note := fmt.Sprintf("from the records of %d shards", a.count)
	for _, s := range []string{StageSuperpixels, StageFeatures} {
		if spec, _ := parseEncoder(r.cfg.Encoder); s == StageFeatures && spec.learned {
			continue
		}
		if st := r.sum.stageStats(s); st != nil && st.Ran {
			st.Items, st.Cached, st.Failed, st.Note = len(files), len(a.items), len(a.failures), note
		}
	}
	r.skip("in the masks phase of each shard", StageMasks, StageOverlays)
	r.skip("once every shard is done: `segdiscover report "+r.o.OutDir+"`", StageReport)
	return nil
}

// FitOptions say which sharded run fit continues.
type FitOptions struct {
	OutDir string
	// Count is the number of shards; 0: the only one OUT_DIR has records
	// for.
	Count   int
	Workers int // 0: the number of CPUs

	Logger      *slog.Logger
	Progress    ProgressMode
	ProgressOut io.Writer
	LogInterval time.Duration

	// tune edits the recorded settings before the run: in-package tests
	// use it for the private settings (tiny networks) that the JSON
	// records cannot carry.
	tune func(*Config)
	out  store.Store // as Options.out
}

// Fit runs the global stages of a sharded run in o.OutDir (the learned
// encoder and the features it makes, the mixture, the pseudo-labels, the
// network), once every shard has finished its images phase, with the input
// folder and settings the shards recorded. It returns an error wrapping
// ErrIncomplete (an *IncompleteError naming the missing shards and images)
// when some have not, before anything is written.
func Fit(ctx context.Context, o FitOptions) (*Summary, error) {
	st := o.out
	if st == nil {
		var err error
		if st, err = openOutput(ctx, o.OutDir, false); err != nil {
			return nil, err
		}
		defer st.Close() // run opens its own
	}
	c := newStoreCache(st)
	n, err := pickShardCount(c, o.Count)
	if err != nil {
		return nil, err
	}
	if err := (Shard{Count: n}).Check(); err != nil {
		return nil, fmt.Errorf("--shard-count: %w", err)
	}
	a, err := readAssembly(c, n)
	if err != nil {
		return nil, err
	}
	if a.inDir == "" {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return nil, &IncompleteError{Count: n, MissingShards: all}
	}
	cfg := a.cfg
	cfg.Workers = o.Workers
	if o.tune != nil {
		o.tune(&cfg)
	}
	return run(ctx, Options{InDir: a.inDir, OutDir: o.OutDir, Config: cfg, Shard: Shard{Count: n},
		Logger: o.Logger, Progress: o.Progress, ProgressOut: o.ProgressOut, LogInterval: o.LogInterval, out: o.out}, modeFit)
}
