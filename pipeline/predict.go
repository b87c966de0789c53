package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pipeline/store/bucket"
	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/segnet"
)

const predictVersion = "predict/2"

// PredictOptions say which trained run applies to which images.
type PredictOptions struct {
	ModelDir  string // OUT_DIR of a run whose network was trained (model/segnet.safetensors)
	InDir     string // new images
	OutDir    string // masks/, overlays/, errors.json
	Workers   int    // 0: number of CPUs
	MaxPixels int    // 0: artifact.DefaultMaxPixels
	Overlays  bool   // also write overlays/<rel>.jpg

	Logger      *slog.Logger
	Progress    ProgressMode
	ProgressOut io.Writer
}

// Predict applies the network trained by a run to the images of InDir,
// writing OutDir/masks/<rel>.png and <rel>.conf.png (and overlays). It is
// cached and resumable like Run: each mask is keyed by the network file's
// and the image's content.
func Predict(ctx context.Context, o PredictOptions) (*Summary, error) {
	start := time.Now()
	cfg := Config{Workers: o.Workers, MaxPixels: o.MaxPixels}.Defaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProgressOut == nil {
		o.ProgressOut = os.Stderr
	}
	// The model folder, the input folder and the output folder may each
	// be a bucket URL.
	mst, err := bucket.Open(ctx, "model folder", o.ModelDir)
	if err != nil {
		return nil, err
	}
	defer mst.Close()
	model := newStoreCache(mst)
	netPath := mst.Location(segnetFile)
	data, err := model.read(segnetFile)
	if err != nil {
		return nil, fmt.Errorf("model: %w (train one with `segdiscover run` or `segdiscover train`)", err)
	}
	sum := sha256.Sum256(data)
	netKey := hex.EncodeToString(sum[:])
	if err := checkModelFreshIn(model, data); err != nil {
		return nil, err
	}
	_, files, inStore, err := prepareRun(ctx, o.InDir, o.OutDir)
	if err != nil {
		return nil, err
	}
	if inStore != nil {
		defer inStore.Close()
	}
	ost, err := openOutput(ctx, o.OutDir, true)
	if err != nil {
		return nil, err
	}
	defer ost.Close()
	if _, local := ost.(*store.Local); local {
		if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
			return nil, err
		}
		lock, err := lockDir(o.OutDir)
		if err != nil {
			return nil, err
		}
		defer lock.unlock()
		if err := removeTempFiles(o.OutDir); err != nil {
			return nil, err
		}
	}
	r := &runner{cfg: cfg, log: o.Logger, cache: newStoreCache(ost),
		sum: &Summary{InDir: o.InDir, OutDir: o.OutDir, Stages: []*StageStats{{Name: StageMasks, Ran: true}}}}
	defer r.sum.noteOutputs(r.cache)
	r.addInputs(files)
	nets, err := decodeSegnets(netPath, data, cfg.Workers)
	if err != nil {
		return nil, err
	}
	n := <-nets
	k := n.Arch().Classes
	nets <- n
	if r.concepts, err = readConcepts(model, k); err != nil {
		return nil, err
	}
	r.log.Info("predict: "+segnet.Backend(), "workers", cfg.Workers)
	r.prog = newProgress(ctx, o.Progress, o.ProgressOut, r.log, 0)
	bar := r.prog.stage(StageMasks, len(r.items))
	var c counter
	loop := time.Now()
	r.forEach(ctx, func(it *item) {
		t0 := time.Now()
		err := r.predictNew(it, netKey, nets, o.Overlays, &c)
		if err != nil {
			c.failed.Add(1)
			r.fail(&FileError{Path: it.file.Path, Stage: StageMasks, Err: err})
		}
		c.busy.Add(int64(time.Since(t0)))
		bar.add(false)
	})
	bar.done()
	r.prog.wait()
	c.into(r.sum.Stages[0], time.Since(loop))
	r.sum.Stages[0].Items = len(r.items)
	err = r.cache.flush()
	r.sum.Wall = time.Since(start)
	r.sum.Failures = r.failures
	r.sum.Interrupted = ctx.Err() != nil
	if werr := writeErrorsJSON(r.cache, r.failures); werr != nil && err == nil {
		err = werr
	}
	switch {
	case err != nil:
		return r.sum, err
	case ctx.Err() != nil:
		return r.sum, fmt.Errorf("predict stopped; completed work is kept and a rerun resumes: %w", ctx.Err())
	case len(r.failures) > 0:
		return r.sum, &PartialError{Failures: r.failures, Total: r.sum.Images}
	}
	return r.sum, nil
}

// checkModelFresh refuses a network trained on concepts that have been
// refitted since (the run in modelDir was re-clustered without training
// again): its outputs would name concepts that no longer exist.
func checkModelFresh(modelDir string, segnetData []byte) error {
	return checkModelFreshIn(newCache(modelDir), segnetData)
}

// checkModelFreshIn is checkModelFresh of the model in c's store.
func checkModelFreshIn(c *cache, segnetData []byte) error {
	modelDir := c.root()
	_, meta, err := artifact.DecodeSafetensors(bytes.NewReader(segnetData), 0)
	if err != nil {
		return fmt.Errorf("model: %s: %w", segnetFile, err)
	}
	trained := meta[metaCluster]
	if trained == "" {
		return nil // written before the concepts were recorded
	}
	m, err := c.readManifest(StageCluster, modelItem)
	if err != nil {
		return fmt.Errorf("model: %s has no concepts (model/gmm.json): %w", modelDir, err)
	}
	if m.Key != trained {
		return fmt.Errorf("model: the network in %s was trained on concepts that were refitted since; run `segdiscover train %s` first", modelDir, modelDir)
	}
	return nil
}

func (r *runner) predictNew(it *item, netKey string, nets chan *segnet.Net, overlays bool, c *counter) error {
	data, err := it.file.read()
	if err != nil {
		return err
	}
	k := key(predictVersion, struct {
		Overlays bool
		Concepts []artifact.Concept
	}{overlays, r.concepts}, netKey, hashBytes(data))
	if _, ok := r.cache.lookup(StageMasks, it.file.Rel, k); ok {
		c.cached.Add(1)
		return nil
	}
	img, err := artifact.DecodeImage(bytes.NewReader(data), r.cfg.MaxPixels)
	if err != nil {
		return err
	}
	n := <-nets
	mask, conf := n.Predict(img)
	nets <- n
	mask.Palette = pseudolabel.Palette()
	var recs []outputRecord
	rec, err := r.cache.writeOutput(maskPath(it.file.Rel), func(w io.Writer) error { return artifact.EncodeMask(w, mask) })
	if err != nil {
		return err
	}
	recs = append(recs, rec)
	if rec, err = r.cache.writeOutput(maskConfPath(it.file.Rel), func(w io.Writer) error { return artifact.EncodeConfidence(w, conf) }); err != nil {
		return err
	}
	recs = append(recs, rec)
	if overlays {
		ov := drawOverlay(img, mask, nil, r.concepts)
		if rec, err = r.cache.writeOutput(overlayPath(it.file.Rel), func(w io.Writer) error {
			return jpeg.Encode(w, ov, &jpeg.Options{Quality: overlayQuality})
		}); err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	c.computed.Add(1)
	return r.cache.commitLater(&manifest{Key: k, Stage: StageMasks, Item: it.file.Rel, Outputs: recs})
}
