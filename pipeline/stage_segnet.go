package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/segnet"
	"github.com/segdiscover/segdiscover/superpixel"
)

const (
	segnetFile = "model/segnet.safetensors"
	trainItem  = "segnet"
	// Metadata keys we add to segnet files.
	metaKey     = "segdiscover.key"     // the train key a checkpoint belongs to
	metaFormat  = "segdiscover.format"  // "segnet"
	metaCluster = "segdiscover.cluster" // the cluster key of the concepts it was trained on
)

// trainParams are the parameters that enter the train key.
type trainParams struct {
	Epochs     int     `json:"epochs"`
	Batch      int     `json:"batch"`
	LR         float64 `json:"lr"`
	Height     int     `json:"height"`
	Width      int     `json:"width"`
	MinConf    float64 `json:"min_conf"`
	ConfWeight bool    `json:"conf_weight"`
	Seed       uint64  `json:"seed"`
}

func (c Config) trainParams() trainParams {
	return trainParams{Epochs: c.Epochs, Batch: c.Batch, LR: c.LR, Height: c.CropHeight, Width: c.CropWidth,
		MinConf: c.TrainMinConfidence, ConfWeight: c.ConfWeight, Seed: c.Seed}
}

// trainParamsFor is trainParams for a training set of n images, with the
// default epochs filled in.
func (c Config) trainParamsFor(n int) trainParams {
	tp := c.trainParams()
	if tp.Epochs == 0 {
		tp.Epochs = defaultEpochs(n, tp.Batch)
	}
	return tp
}

func (p trainParams) settings(workers int) segnet.TrainSettings {
	return segnet.TrainSettings{Epochs: p.Epochs, Batch: p.Batch, LR: p.LR, Height: p.Height, Width: p.Width,
		MinConf: p.MinConf, ConfWeight: p.ConfWeight, Workers: workers}
}

// MinTrainSteps is the fewest optimiser steps the default schedule takes.
// Five epochs are plenty on hundreds of images but only a handful of steps
// on a few: on the 7 synthetic scenes, 5 steps gave refined masks of mIoU
// 0.27 against 0.86 for their pseudo-labels, 60 steps 0.84 and 150 steps
// 0.85.
const MinTrainSteps = 150

// defaultEpochs is the number of epochs when none is set: 5, or more on
// small sets so that training takes at least MinTrainSteps steps.
func defaultEpochs(images, batch int) int {
	if batch <= 0 {
		batch = segnet.DefaultBatch
	}
	perEpoch := max(1, (images+batch-1)/batch)
	return max(segnet.DefaultEpochs, (MinTrainSteps+perEpoch-1)/perEpoch)
}

func maskPath(rel string) string     { return path.Join("masks", rel+".png") }
func maskConfPath(rel string) string { return path.Join("masks", rel+".conf.png") }

// checkpointKey is where training checkpoints go: cache bookkeeping, not
// an output.
func (r *runner) checkpointKey() string { return r.cache.dir + "/train/checkpoint.safetensors" }

// checkpointPath names the checkpoint's file in a local output folder (a
// URL in a bucket).
func (r *runner) checkpointPath() string { return r.cache.st.Location(r.checkpointKey()) }

// trainStage trains the segmentation network on the pseudo-labels of every
// image, checkpointing after each epoch so that a killed run resumes from
// the last completed epoch.
func (r *runner) trainStage(ctx context.Context, st *StageStats) error {
	items := r.okItems()
	st.Items = len(items)
	if len(items) == 0 {
		return errNoOK
	}
	var tp trainParams
	r.trainKey, tp = r.trainKeyOf(items)
	if _, ok := r.cache.lookup(StageTrain, trainItem, r.trainKey); ok {
		st.Cached = 1
		st.Note = "network reused"
		return nil
	}
	// Samples are read from the files batch by batch, not held: the
	// stage's memory is flat in the number of images.
	samples := &diskSamples{ctx: ctx, r: r, items: items, tp: tp}
	arch := segnet.Arch{Classes: r.sum.Concepts}
	if arch.Classes == 0 {
		arch.Classes = r.modelConcepts()
	}
	tr, err := r.trainer(st, samples, func() (*segnet.Trainer, error) {
		return segnet.NewStreamTrainer(arch, samples, tp.settings(r.cfg.Workers), tp.Seed)
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return err
	}
	return r.trainAndWrite(ctx, st, tr, tp.Epochs, len(items), nil)
}

// diskSamples is the train stage's training set read from the files:
// sample i is items[i]'s image, pseudo-label mask and confidence, read
// afresh on every call (loadSample), so that training over it is bit for bit
// training over the same samples held in memory, as the stage did before. Once ctx is
// cancelled every read fails with ctx.Err().
type diskSamples struct {
	ctx   context.Context
	r     *runner
	items []*item
	tp    trainParams
}

func (d *diskSamples) Len() int { return len(d.items) }

func (d *diskSamples) Sample(i int) (segnet.Sample, error) {
	if err := d.ctx.Err(); err != nil {
		return segnet.Sample{}, err
	}
	s, err := d.r.loadSample(d.items[i], d.tp)
	if err != nil {
		return segnet.Sample{}, fmt.Errorf("%s: %w", d.items[i].file.Path, err)
	}
	return s, nil
}

// trainer continues the train stage's checkpoint when there is a usable
// one for r.trainKey (saying so in st's note), else starts afresh.
func (r *runner) trainer(st *StageStats, samples segnet.Samples, fresh func() (*segnet.Trainer, error)) (*segnet.Trainer, error) {
	if ck, ok := r.readCheckpoint(r.checkpointKey(), r.trainKey); ok {
		tr, err := segnet.ResumeStreamTrainer(ck, samples, r.cfg.Workers)
		if err == nil {
			st.Note = fmt.Sprintf("resumed after epoch %d", tr.EpochsDone())
			return tr, nil
		}
		if !errors.Is(err, segnet.ErrCheckpoint) {
			// A sample that cannot be read fails a fresh start too:
			// say so rather than blame the checkpoint.
			return nil, fmt.Errorf("train: %w", err)
		}
		r.log.Warn("train: checkpoint unusable, starting over", "err", err)
	}
	tr, err := fresh()
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return tr, nil
}

// trainAndWrite runs tr's remaining epochs, checkpointing after each, and
// writes the network as model/segnet.safetensors under r.trainKey, for the
// concepts of r.clusterKey; its cache record also lists extra (outputs
// written before it).
func (r *runner) trainAndWrite(ctx context.Context, st *StageStats, tr *segnet.Trainer, epochs, images int, extra []outputRecord) error {
	r.log.Info("train: "+segnet.Backend(), "images", images, "epochs_done", tr.EpochsDone())
	every := throttle{interval: r.logInterval()}
	// Progress counts optimiser steps; steps of epochs done before a resume
	// count as cached.
	done, total := tr.Steps()
	bar := r.prog.stage(StageTrain, total)
	defer bar.done()
	for range done {
		bar.add(true)
	}
	tr.OnStep(func() { bar.add(false) })
	for !tr.Done() {
		es, err := tr.Epoch(ctx)
		if err != nil {
			return err
		}
		if err := r.writeCheckpoint(r.checkpointKey(), r.trainKey, tr.Checkpoint()); err != nil {
			return err
		}
		// A line every 10 s at most (the last epoch's always), with the
		// figures rounded: this is read by people, not parsed.
		if every.ok(time.Now()) || tr.Done() {
			r.log.Info("train: epoch", "epoch", es.Epoch, "of", epochs, "loss", roundSig(es.Loss, 4),
				"seconds", roundSig(es.Seconds, 3))
		}
	}
	net := tr.Net()
	text, err := net.Arch().MarshalText()
	if err != nil {
		return err
	}
	meta := map[string]string{"segnet.arch": string(text), metaFormat: "segnet", metaKey: r.trainKey, metaCluster: r.clusterKey,
		"segnet.backend": segnet.Backend(), "segnet.epochs": strconv.Itoa(tr.EpochsDone())}
	rec, err := r.cache.writeOutputSync(segnetFile, func(w io.Writer) error {
		return artifact.EncodeSafetensors(w, artifact.FromSegnet(net.StateDict()), meta)
	})
	if err != nil {
		return err
	}
	st.Computed = 1
	if err := r.cache.commit(&manifest{Key: r.trainKey, Stage: StageTrain, Item: trainItem, Outputs: append([]outputRecord{rec}, extra...)}); err != nil {
		return err
	}
	r.cache.st.Delete(r.cache.ctx, r.checkpointKey())
	return nil
}

// logInterval is the least time between two progress log lines.
func (r *runner) logInterval() time.Duration {
	if r.o.LogInterval > 0 {
		return r.o.LogInterval
	}
	return 10 * time.Second
}

// modelConcepts reads K from the cluster stage's manifest.
func (r *runner) modelConcepts() int {
	m, err := r.cache.readManifest(StageCluster, modelItem)
	if err != nil {
		return 0
	}
	return extraInt(m.Extra, "k")
}

// loadSample reads it's training sample: image, pseudo-label mask and
// confidence, shrunk by segnet.ShrinkForTraining for tp's crop.
func (r *runner) loadSample(it *item, tp trainParams) (segnet.Sample, error) {
	var s segnet.Sample
	var err error
	if s.Image, err = it.file.load(r.cfg.MaxPixels); err != nil {
		return s, err
	}
	if s.Mask, err = r.readMask(pseudolabelPath(it.file.Rel)); err != nil {
		return s, err
	}
	f, err := r.cache.open(confidencePath(it.file.Rel))
	if err != nil {
		return s, err
	}
	defer f.Close()
	if s.Conf, err = artifact.DecodeConfidence(f, r.cfg.MaxPixels); err != nil {
		return s, fmt.Errorf("%s: %w", confidencePath(it.file.Rel), err)
	}
	return segnet.ShrinkForTraining(s, tp.settings(0)), nil
}

func (r *runner) readMask(rel string) (*image.Paletted, error) {
	f, err := r.cache.open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := artifact.DecodeMask(f, r.cfg.MaxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return m, nil
}

// readCheckpoint returns the checkpoint at k in the output store if it was
// written for key (a network trainer's cache key): anything else, including
// an unreadable or foreign object, means "start afresh".
func (r *runner) readCheckpoint(k, key string) (segnet.Checkpoint, bool) {
	data, err := r.cache.read(k)
	if err != nil {
		return segnet.Checkpoint{}, false
	}
	ts, meta, err := artifact.DecodeSafetensors(bytes.NewReader(data), 0)
	if err != nil || meta[metaKey] != key {
		return segnet.Checkpoint{}, false
	}
	st, err := artifact.ToSegnet(ts)
	if err != nil {
		return segnet.Checkpoint{}, false
	}
	return segnet.Checkpoint{Tensors: st, Meta: meta}, true
}

// writeCheckpoint writes ck atomically to k in the output store, stamped
// with key.
func (r *runner) writeCheckpoint(k, key string, ck segnet.Checkpoint) error {
	ck.Meta[metaKey] = key
	return r.cache.writeSync(k, func(w io.Writer) error { return encodeCheckpoint(w, ck) })
}

// writeCheckpoint writes ck atomically to the file path, stamped with key.
func writeCheckpoint(path, key string, ck segnet.Checkpoint) error {
	ck.Meta[metaKey] = key
	return WriteFileAtomic(path, func(w io.Writer) error { return encodeCheckpoint(w, ck) })
}

func encodeCheckpoint(w io.Writer, ck segnet.Checkpoint) error {
	return artifact.EncodeSafetensors(w, artifact.FromSegnet(ck.Tensors), ck.Meta)
}

// LoadSegnet reads a trained network (OUT_DIR/model/segnet.safetensors).
func LoadSegnet(path string) (*segnet.Net, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeSegnet(path, data)
}

// decodeSegnet decodes the bytes of a network file; path names it in errors.
func decodeSegnet(path string, data []byte) (*segnet.Net, error) {
	ts, meta, err := artifact.DecodeSafetensors(bytes.NewReader(data), 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var arch segnet.Arch
	if err := arch.UnmarshalText([]byte(meta["segnet.arch"])); err != nil {
		return nil, fmt.Errorf("%s: architecture: %w", path, err)
	}
	st, err := artifact.ToSegnet(ts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	n, err := segnet.FromState(arch, st)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// loadSegnets loads one network per worker from the file path (see
// decodeSegnets).
func loadSegnets(path string, workers int) (chan *segnet.Net, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeSegnets(path, data, workers)
}

// decodeSegnets decodes one network per worker from the bytes of a network
// file, since a Net is not safe for concurrent use; each gets
// threadsPerWorker threads (see workers.go). path names the file in errors.
func decodeSegnets(path string, data []byte, workers int) (chan *segnet.Net, error) {
	nets := make(chan *segnet.Net, workers)
	for range workers {
		n, err := decodeSegnet(path, data)
		if err != nil {
			return nil, err
		}
		n.Workers = threadsPerWorker(workers)
		nets <- n
	}
	return nets, nil
}

// maskStage predicts refined masks with the trained network:
// masks/<rel>.png and <rel>.conf.png.
func (r *runner) maskStage(ctx context.Context) error {
	st := r.sum.stageStats(StageMasks)
	items := r.okItems()
	st.Items = len(items)
	bar := r.prog.stage(StageMasks, len(items))
	defer bar.done()
	var todo []*item
	for _, it := range items {
		it.maskKey = r.maskKeyOf(it)
		if _, ok := r.cache.lookup(StageMasks, it.file.Rel, it.maskKey); ok {
			st.Cached++
			bar.add(true)
		} else {
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	data, err := r.cache.read(segnetFile)
	if err != nil {
		return err
	}
	nets, err := decodeSegnets(r.outPath(segnetFile), data, r.cfg.Workers)
	if err != nil {
		return err
	}
	r.log.Info("masks: "+segnet.Backend(), "workers", r.cfg.Workers)
	var c counter
	start := time.Now()
	r.forEachOf(ctx, todo, func(_ int, it *item) {
		t0 := time.Now()
		n := <-nets
		err := r.predictMask(n, it, it.maskKey)
		nets <- n
		r.finish(&c, bar, StageMasks, it, t0, err)
	})
	c.into(st, time.Since(start))
	return r.cache.flush()
}

// maskParams are the parameters that enter the masks key.
type maskParams struct {
	Refine string `json:"refine"`
	// CRF is the version of the CRF refinement (its settings are
	// pseudolabel's defaults), empty for the others.
	CRF string `json:"crf,omitempty"`
	// TTA is the views averaged (segnet.TTA.String, scales included),
	// empty for one view: the masks of runs made before TTA stay current.
	TTA string `json:"tta,omitempty"`
}

func (c Config) maskParams() maskParams {
	p := maskParams{Refine: c.Refine}
	if c.Refine == RefineCRF || c.Refine == RefineCRFSuper {
		p.CRF = crfVersion
	}
	if t, err := ParseTTA(c.TTA); err != nil {
		// Only status reads an unvalidated config (a hand-edited
		// run.json): its key matches no masks.
		p.TTA = "invalid " + c.TTA
	} else if t.Views() > 1 {
		p.TTA = t.String()
	}
	return p
}

// crfVersion names the numerics of --refine crf: bump it when they change.
var crfVersion = "crf/2 max_pixels=" + strconv.Itoa(pseudolabel.CRFMaxPixels)

func (r *runner) predictMask(n *segnet.Net, it *item, key string) error {
	img, err := it.file.load(r.cfg.MaxPixels)
	if err != nil {
		return err
	}
	var mask *image.Paletted
	var conf *image.Gray
	tta, err := ParseTTA(r.cfg.TTA) // checked by Config.Validate
	if err != nil {
		return err
	}
	k := n.Arch().Classes
	proba := func(im *image.NRGBA) []float32 { return n.PredictProbaTTA(im, tta) }
	if r.cfg.Refine == RefineSuperpixels || r.cfg.Refine == RefineCRFSuper {
		l, err := r.readLabelsOf(it.file.Rel, img)
		if err != nil {
			return err
		}
		if r.cfg.Refine == RefineCRFSuper {
			post := pseudolabel.CRFRegions(img, k, proba, pseudolabel.CRFSettings{}, l.Pix, l.N)
			mask, conf = regionMask(post, k, l)
		} else {
			mask, conf = regionMask(n.PredictRegionsTTA(img, l.Pix, l.N, tta), k, l)
		}
	} else if r.cfg.Refine == RefineCRF {
		mask, conf = pseudolabel.CRFMask(img, k, proba, pseudolabel.CRFSettings{})
	} else if tta.Views() > 1 {
		b := img.Bounds()
		mask, conf = pseudolabel.MarginalMask(proba(img), k, b.Dx(), b.Dy(), b)
	} else {
		mask, conf = n.Predict(img)
	}
	mask.Palette = pseudolabel.Palette()
	mrec, err := r.cache.writeOutput(maskPath(it.file.Rel), func(w io.Writer) error { return artifact.EncodeMask(w, mask) })
	if err != nil {
		return err
	}
	crec, err := r.cache.writeOutput(maskConfPath(it.file.Rel), func(w io.Writer) error { return artifact.EncodeConfidence(w, conf) })
	if err != nil {
		return err
	}
	return r.cache.commitLater(&manifest{Key: key, Stage: StageMasks, Item: it.file.Rel, Outputs: []outputRecord{mrec, crec}})
}

// regionMask gives each superpixel of l the arg-max of its k posteriors
// post[i*k:][:k], and that posterior as confidence.
func regionMask(post []float64, k int, l *superpixel.Labels) (*image.Paletted, *image.Gray) {
	concepts := make([]int, l.N)
	best := make([]float64, l.N)
	for i := range l.N {
		p := post[i*k : (i+1)*k]
		for c, v := range p {
			if v > p[concepts[i]] {
				concepts[i] = c
			}
		}
		best[i] = p[concepts[i]]
	}
	return pseudolabel.Mask(l, concepts, best, pseudolabel.Settings{})
}
