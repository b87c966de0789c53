package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/segnet"
)

// Options say what a run works on and where it reports. The stage
// parameters are in Config.
type Options struct {
	InDir  string // input images
	OutDir string // outputs, cache and lock
	Config Config
	// Shard, when set, makes the run do only shard Shard.Index of
	// Shard.Count of the per-image work (see RunShard's doc in shard_run.go).
	Shard Shard

	Logger      *slog.Logger  // nil: discard
	Progress    ProgressMode  // bars, log lines or nothing
	ProgressOut io.Writer     // where bars go (a terminal); nil: os.Stderr
	LogInterval time.Duration // between progress log lines; 0: 10 s

	// out, when set, is the output store, instead of the one OutDir
	// names (OutDir then only names it): tests give one memblob to several
	// commands, as a sharded run's processes share one bucket.
	out store.Store
}

// StageStats is what one stage did in a run.
type StageStats struct {
	Name     string `json:"name"`
	Ran      bool   `json:"ran"`      // false when --until stopped the run before it
	Items    int    `json:"items"`    // items it considered
	Computed int    `json:"computed"` // items computed in this run
	Cached   int    `json:"cached"`   // items reused from the cache
	Failed   int    `json:"failed"`   // items that failed (see errors.json)
	// Seconds is the wall-clock time of the stage (the superpixel and
	// feature stages share one pass over the images, whose time they
	// split in proportion to their work); BusySeconds is the time
	// summed over workers, for per-image stages.
	Seconds     float64 `json:"seconds"`
	BusySeconds float64 `json:"busy_seconds,omitempty"`
	Note        string  `json:"note,omitempty"` // e.g. why a global stage refitted
}

// Summary is the outcome of a run.
type Summary struct {
	InDir, OutDir string
	Images        int // inputs listed
	Failures      []*FileError
	Stages        []*StageStats
	Concepts      int // K of the mixture; 0 if the cluster stage did not run
	Wall          time.Duration
	Interrupted   bool
	// Shard is the shard a sharded run did ("" unsharded), and Next, when
	// not empty, says where the run stopped and what comes next (a sharded
	// run stops before every global stage).
	Shard string
	Next  string
	Adapt *AdaptRecord // the drift account, from Adapt only

	present []string // the outputs in OUT_DIR at the end (noteOutputs); nil: not known
}

// stageStats returns the stats of stage name.
func (s *Summary) stageStats(name string) *StageStats {
	for _, st := range s.Stages {
		if st.Name == name {
			return st
		}
	}
	return nil
}

// item is one input image as it goes through the per-image stages.
type item struct {
	file     *ImageFile // in the run's list of inputs (a pointer: 40 bytes less per image)
	spKey    string     // key of its superpixels
	featKey  string     // key of its features
	plKey    string     // key of its pseudo-labels
	maskKey  string     // key of its refined mask
	segments int        // superpixels in its label map
	pixels   int64      // width x height from its header; 0: not read yet, -1: unreadable
	failed   bool
}

// counter accumulates a per-image stage's figures from many workers.
type counter struct {
	computed, cached, failed atomic.Int64
	busy                     atomic.Int64 // nanoseconds
}

// into adds c's counts to st, with wall, the stage's wall-clock time.
func (c *counter) into(st *StageStats, wall time.Duration) {
	st.Computed += int(c.computed.Load())
	st.Cached += int(c.cached.Load())
	st.Failed += int(c.failed.Load())
	st.Seconds += wall.Seconds()
	st.BusySeconds += time.Duration(c.busy.Load()).Seconds()
}

// finish records the outcome of one item of a per-image stage that started
// at t0: a non-nil err marks the item failed and reports it.
func (r *runner) finish(c *counter, bar stageProgress, stage string, it *item, t0 time.Time, err error) {
	if err != nil {
		c.failed.Add(1)
		it.failed = true
		r.fail(&FileError{Path: it.file.Path, Stage: stage, Err: err})
	} else {
		c.computed.Add(1)
	}
	c.busy.Add(int64(time.Since(t0)))
	bar.add(false)
}

// runner holds the state of one run.
type runner struct {
	o      Options
	cfg    Config // with defaults
	log    *slog.Logger
	cache  *cache
	prog   progress
	sum    *Summary
	items  []*item
	mode   runMode
	shard  Shard
	relOf  map[string]string // input path -> rel of the inputs that failed when listed, for the shard records
	listed []ImageFile       // every input listed, whatever the shard
	locks  lockSet

	failMu   sync.Mutex
	failures []*FileError

	budget *pixelBudget // pixels of the images in flight

	vit        *ViTWeights // the transformer of --encoder vit
	encoderKey string
	encoder    features.PatchEncoder // the learned encoder, when there is one
	convEnc    *segnet.Encoder       // the SwAV or DeepCluster encoder, when there is one
	clusterKey string
	trainKey   string
	concepts   []artifact.Concept // names and colours (concepts.json), once clustered
	adapt      *AdaptRecord       // Adapt's account, nil in a run
}

// Run runs the stages of o.Config over the images of o.InDir into o.OutDir,
// reusing every artifact already in o.OutDir's cache whose inputs and
// parameters are unchanged, and returns what it did.
//
// Failures confined to input files are recorded (Summary.Failures,
// OUT_DIR/errors.json) and the run goes on; Run then returns a
// *PartialError. When ctx is cancelled, items being processed are finished
// and written, and Run returns an error wrapping ctx.Err(); a later run
// resumes. Another run holding OUT_DIR makes Run fail with ErrLocked.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.Shard.Sharded() {
		return run(ctx, o, modeShard)
	}
	return run(ctx, o, modeWhole)
}

// runMode is what a run does: everything (a single-process run), one
// shard's per-image work, or the global stages of a sharded run (fit).
type runMode int

const (
	modeWhole runMode = iota
	modeShard
	modeFit
)

func run(ctx context.Context, o Options, mode runMode) (*Summary, error) {
	start := time.Now()
	if err := o.Config.CheckValues(); err != nil {
		return nil, err
	}
	cfg := o.Config.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if mode == modeShard {
		if err := o.Shard.Check(); err != nil {
			return nil, fmt.Errorf("shard %s: %w", o.Shard, err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProgressOut == nil {
		o.ProgressOut = os.Stderr
	}
	out, files, inStore, err := prepareRun(ctx, o.InDir, o.OutDir)
	if err != nil {
		return nil, err
	}
	if inStore != nil {
		defer inStore.Close()
	}
	st := o.out
	if st == nil {
		if st, err = openOutput(ctx, out, true); err != nil {
			return nil, err
		}
		defer st.Close()
	}
	c := newStoreCache(st)
	if err := refuseAdapted(c); err != nil {
		return nil, err
	}
	if _, local := st.(*store.Local); local {
		// The lock files need the folder; a bucket has neither.
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, fmt.Errorf("output folder: %w", err)
		}
	}
	r := &runner{
		o: o, cfg: cfg, log: o.Logger, cache: c, mode: mode, shard: o.Shard,
		sum: &Summary{InDir: o.InDir, OutDir: o.OutDir}, listed: files,
	}
	defer r.sum.noteOutputs(c)
	if mode == modeShard {
		r.sum.Shard = o.Shard.String()
	}
	defer r.locks.unlock()
	switch mode {
	case modeWhole:
		if err := r.locks.lockIn(c, ".lock", true); err != nil {
			return nil, err
		}
		// Only a run holding the whole folder may remove temporary
		// files: under a sharded run they may be another shard's, being
		// written. (A bucket has none: an upload appears whole or not.)
		if l, ok := st.(*store.Local); ok {
			if err := removeTempFiles(l.Root()); err != nil {
				return nil, fmt.Errorf("clean temporary files: %w", err)
			}
		}
	case modeShard:
		if err := r.locks.lockIn(c, ".lock", false); err != nil {
			return nil, err
		}
		if err := r.locks.lockIn(c, locksDir+"/"+fmt.Sprintf("shard-%d-of-%d", o.Shard.Index, o.Shard.Count), true); err != nil {
			return nil, err
		}
	case modeFit:
		if err := r.locks.lockIn(c, ".lock", false); err != nil {
			return nil, err
		}
		if err := r.locks.lockGlobal(c, true); err != nil {
			return nil, err
		}
	}

	spec, _ := parseEncoder(cfg.Encoder)
	for _, s := range Stages {
		if s == StageEncoder && !spec.learned {
			continue
		}
		r.sum.Stages = append(r.sum.Stages, &StageStats{Name: s, Ran: cfg.runs(s)})
	}

	if spec.vit && cfg.runs(StageFeatures) && mode != modeFit {
		// A bad checkpoint fails the run before any image is touched.
		if r.vit, err = LoadViT(cfg.Weights); err != nil {
			return nil, err
		}
		r.log.Info("vit: "+r.vit.Model.Arch.String(), "weights", cfg.Weights, "sha256", r.vit.Key[:16])
	}
	switch mode {
	case modeFit:
		if err := r.assembleInputs(files); err != nil {
			return nil, err
		}
	case modeShard:
		mine := files[:0:0]
		for _, f := range files {
			if ShardOf(f.Rel, o.Shard.Count) == o.Shard.Index {
				mine = append(mine, f)
			}
		}
		r.addInputs(mine)
		r.log.Info("shard", "shard", o.Shard.String(), "images", len(mine), "of", len(files))
	default:
		r.addInputs(files)
	}
	// run.json describes the whole run: the shards, running side by
	// side, leave it to fit.
	if mode != modeShard {
		if err := writeRunJSON(c, r.runRecord(start, false)); err != nil {
			return nil, err
		}
	}
	r.log.Debug("run", "images", r.sum.Images, "workers", cfg.Workers, "out", out)

	r.prog = newProgress(ctx, o.Progress, o.ProgressOut, r.log, o.LogInterval)
	switch mode {
	case modeShard:
		err = r.shardStages(ctx)
	default:
		err = r.stages(ctx)
	}
	r.prog.wait()

	r.sum.Wall = time.Since(start)
	r.sum.Failures = r.failures
	r.sum.Interrupted = ctx.Err() != nil
	if mode != modeShard {
		if werr := writeErrorsJSON(c, r.failures); werr != nil && err == nil {
			err = werr
		}
		if werr := writeRunJSON(c, r.runRecord(start, mode == modeWhole && err == nil && ctx.Err() == nil)); werr != nil && err == nil {
			err = werr
		}
	}
	if errors.Is(err, errNoOK) {
		if hint := sameCauseHint(r.failures); hint != "" {
			err = fmt.Errorf("%w; %s", err, hint)
		}
	}
	if err != nil {
		return r.sum, err
	}
	if ctx.Err() != nil {
		return r.sum, fmt.Errorf("run stopped; completed work is kept and a rerun resumes: %w", ctx.Err())
	}
	if len(r.failures) > 0 {
		return r.sum, &PartialError{Failures: r.failures, Total: r.sum.Images}
	}
	return r.sum, nil
}

// stages runs the stages in order, stopping after cfg.Until or at the first
// error that is not confined to one input.
func (r *runner) stages(ctx context.Context) error {
	if r.mode != modeFit {
		// fit's items come with their superpixels and features from the
		// shards' records.
		if err := r.perImage(ctx); err != nil || ctx.Err() != nil {
			return err
		}
	}
	if r.cfg.runs(StageEncoder) {
		st := r.sum.stageStats(StageEncoder)
		t0 := time.Now()
		err := r.encoderStage(ctx, st)
		st.Seconds = time.Since(t0).Seconds()
		if err != nil || ctx.Err() != nil {
			return err
		}
		if r.cfg.runs(StageFeatures) {
			if err := r.learnedFeatures(ctx); err != nil || ctx.Err() != nil {
				return err
			}
		}
	}
	if !r.cfg.runs(StageCluster) {
		return nil
	}
	st := r.sum.stageStats(StageCluster)
	t0 := time.Now()
	err := r.clusterStage(ctx, st)
	st.Seconds = time.Since(t0).Seconds()
	if err != nil || ctx.Err() != nil || !r.cfg.runs(StagePseudolabels) {
		return err
	}
	if err := r.pseudolabelStage(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	if r.cfg.runs(StageTrain) {
		st := r.sum.stageStats(StageTrain)
		t0 := time.Now()
		err := r.trainStage(ctx, st)
		st.Seconds = time.Since(t0).Seconds()
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
	if r.mode == modeFit {
		r.sum.Next = "global stages done; next: the masks phase, `segdiscover run IN_DIR -o OUT_DIR --shard I/N` again for every shard"
		return nil
	}
	if r.cfg.runs(StageMasks) {
		if err := r.maskStage(ctx); err != nil || ctx.Err() != nil {
			return err
		}
	}
	if !r.cfg.runs(StageOverlays) {
		return nil
	}
	if err := r.overlayStage(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	return r.reportStage(ctx)
}

// fail records a failure confined to one input.
func (r *runner) fail(e *FileError) {
	r.failMu.Lock()
	r.failures = append(r.failures, e)
	r.failMu.Unlock()
	r.log.Warn("input failed", "file", e.Path, "stage", e.Stage, "err", e.Err)
}

// forEach runs fn over the items not failed so far; see forEachOf.
func (r *runner) forEach(ctx context.Context, fn func(*item)) {
	r.forEachOf(ctx, r.items, func(_ int, it *item) { fn(it) })
}

// forEachOf runs fn over those of items not failed so far on cfg.Workers
// goroutines, in order, streaming: at most Workers items are in flight,
// holding together at most cfg.MaxPixels pixels (an image alone may hold
// them all: a 50 MP photo is processed alone, two 24 MP ones together), so
// that memory is bounded whatever the images (see pixelBudget). It stops
// submitting when ctx is cancelled; items already started finish.
func (r *runner) forEachOf(ctx context.Context, items []*item, fn func(int, *item)) {
	if r.budget == nil {
		r.budget = newPixelBudget(int64(r.cfg.MaxPixels))
	}
	p := pool.New().WithMaxGoroutines(r.cfg.Workers)
	for i, it := range items {
		if ctx.Err() != nil {
			break
		}
		if it.failed {
			continue
		}
		if it.pixels == 0 {
			it.pixels = it.file.headerPixels()
		}
		w := r.budget.acquire(ctx, it.pixels)
		if ctx.Err() != nil {
			r.budget.release(w)
			break
		}
		p.Go(func() {
			defer r.budget.release(w)
			fn(i, it)
		})
	}
	p.Wait()
}

// pixelBudget is a weighted semaphore over the pixels of the images being
// processed. The per-image stages use a bounded number of bytes per pixel
// (about 28 in the superpixel stage, the largest), so bounding the pixels
// in flight bounds the memory of a run, whatever mix of images and
// --workers it has.
type pixelBudget struct {
	mu   sync.Mutex
	cond *sync.Cond
	cap  int64
	used int64
}

func newPixelBudget(capacity int64) *pixelBudget {
	b := &pixelBudget{cap: max(capacity, 1)}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until px pixels (at most the capacity: an image above it
// runs alone) fit in the budget, and returns the weight to release. It
// gives up waiting when ctx is done.
func (b *pixelBudget) acquire(ctx context.Context, px int64) int64 {
	w := min(max(px, 1), b.cap)
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used > 0 && b.used+w > b.cap && ctx.Err() == nil {
		b.cond.Wait()
	}
	b.used += w
	return w
}

func (b *pixelBudget) release(w int64) {
	b.mu.Lock()
	b.used -= w
	b.mu.Unlock()
	b.cond.Broadcast()
}

// headerPixels returns width x height from an image file's header, or -1
// when it cannot be read (the stage then reports why).
func (file ImageFile) headerPixels() int64 {
	f, err := file.open()
	if err != nil {
		return -1
	}
	defer f.Close()
	cfg, _, err := artifact.DecodeImageConfig(bufio.NewReader(f))
	if err != nil {
		return -1
	}
	return int64(cfg.Width) * int64(cfg.Height)
}

// okItems returns the items that have not failed, in input order.
func (r *runner) okItems() []*item {
	var ok []*item
	for _, it := range r.items {
		if !it.failed {
			ok = append(ok, it)
		}
	}
	return ok
}

func imageExtList() string { return strings.Join(imageExts, " ") }

var errNoOK = errors.New("no image made it through the earlier stages (see errors.json)")

// sameCauseHint says what to do when every failure has the same cause
// (typically: the folder holds no image we can read), or "" when the
// causes differ.
func sameCauseHint(fails []*FileError) string {
	if len(fails) == 0 {
		return ""
	}
	causes := []struct {
		err  error
		hint string
	}{
		{artifact.ErrFormat, "none of the files is an image we read (JPEG, PNG, GIF, BMP, TIFF, WebP): is IN_DIR the right folder?"},
		{artifact.ErrTooLarge, "every image is above --max-pixels: raise it (memory grows about 28 bytes per pixel)"},
		{artifact.ErrEmpty, "every file is empty: was the copy or download of the dataset finished?"},
		{artifact.ErrCorrupt, "every image is corrupt or truncated: was the copy or download of the dataset finished?"},
		{fs.ErrPermission, "no file can be read: check the permissions of IN_DIR and its files"},
		{fs.ErrNotExist, "no file can be opened: are they broken symbolic links, or is IN_DIR changing?"},
		{ErrSymlinkLoop, "every entry is a symbolic link loop"},
	}
	for _, c := range causes {
		all := true
		for _, f := range fails {
			if !errors.Is(f.Err, c.err) {
				all = false
				break
			}
		}
		if all {
			return "every input failed for the same reason: " + c.hint
		}
	}
	return ""
}

// listInputs lists the images of dir; a folder without a single image is
// an error.
func listInputs(dir string) ([]ImageFile, error) {
	files, err := ListImages(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no images in %s (looked for %s)", dir, imageExtList())
	}
	return files, nil
}

// addInputs makes files the run's items; unreadable entries (loops, name
// collisions) become failures of the "input" stage.
func (r *runner) addInputs(files []ImageFile) {
	r.relOf = map[string]string{}
	for i := range files {
		f := &files[i]
		if f.Err != nil {
			r.relOf[f.Path] = f.Rel
			r.fail(&FileError{Path: f.Path, Stage: "input", Err: f.Err})
			continue
		}
		r.items = append(r.items, &item{file: f})
	}
	r.sum.Images = len(files)
}

// prepareFolders checks an input and an output folder before anything is
// written: it returns the output folder's absolute path (or its URL) and
// the input images, or the reason the command cannot start. Listing the
// inputs before touching the output folder means that a command that
// cannot start (missing or empty input folder) leaves nothing behind.
func prepareFolders(inDir, outDir string) (out string, files []ImageFile, err error) {
	if err := checkLocalPath("input folder", inDir); err != nil {
		return "", nil, err
	}
	in, err := filepath.Abs(inDir)
	if err != nil {
		return "", nil, err
	}
	if _, url := store.URLScheme(outDir); url {
		// Checked by openOutput (scheme, bucket, credentials), before
		// anything is written.
		files, err = listInputs(inDir)
		return outDir, files, err
	}
	if out, err = filepath.Abs(outDir); err != nil {
		return "", nil, err
	}
	if within(in, out) {
		// Our own outputs would become inputs of the next run.
		return "", nil, fmt.Errorf("output folder %s is inside the input folder %s; choose another -o", outDir, inDir)
	}
	files, err = listInputs(inDir)
	if err != nil {
		return "", nil, err
	}
	return out, files, nil
}

// prepareRun is prepareFolders for a run, whose input folder may be a
// bucket URL too: it returns the store holding the listed images then
// (nil for a folder), to close once they are read.
func prepareRun(ctx context.Context, inDir, outDir string) (out string, files []ImageFile, in store.Store, err error) {
	if !isURL(inDir) {
		out, files, err = prepareFolders(inDir, outDir)
		return out, files, nil, err
	}
	out = outDir
	if !isURL(outDir) {
		if out, err = filepath.Abs(outDir); err != nil {
			return "", nil, nil, err
		}
	} else if u, o := urlBase(inDir), urlBase(outDir); o == u || strings.HasPrefix(o, u+"/") {
		// Our own outputs would become inputs of the next run.
		return "", nil, nil, fmt.Errorf("output folder %s is inside the input folder %s; choose another -o", outDir, inDir)
	}
	files, in, err = listInputsAt(ctx, inDir)
	return out, files, in, err
}

// urlBase is a URL without its query, and without a trailing slash.
func urlBase(u string) string {
	u, _, _ = strings.Cut(u, "?")
	return strings.TrimRight(u, "/")
}

// checkLocalPath refuses a folder given as a URL (s3://bucket, file:///x)
// where only local folders are read or written: taken as a path it would
// quietly become a folder named "s3:" or "file:" in the working directory.
func checkLocalPath(what, p string) error {
	scheme, ok := store.URLScheme(p)
	if !ok {
		return nil
	}
	return fmt.Errorf("%s %q is a URL (%s://); here it must be a local folder (a shared NFS/Lustre mount works; "+
		"run, fit, status and report take an output bucket URL): give a path, or copy the data to one first", what, p, scheme)
}

// checkLocalPaths is checkLocalPath of each (what, path) pair.
func checkLocalPaths(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := checkLocalPath(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}
