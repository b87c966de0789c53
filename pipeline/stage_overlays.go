package pipeline

import (
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"path"
	"time"

	"github.com/segdiscover/segdiscover/pseudolabel"
)

func overlayPath(rel string) string { return path.Join("overlays", rel+".jpg") }

// overlayQuality is the JPEG quality of overlays: they are for people.
const overlayQuality = 90

// overlayStage draws, for people, every image blended with the colours of
// its concepts (the refined mask if the network ran, else the pseudo-labels)
// and its superpixel boundaries: overlays/<rel>.jpg. It is the last stage,
// so that `--until pseudolabels` or `--until masks` gives the
// machine-readable outputs without paying for it.
func (r *runner) overlayStage(ctx context.Context) error {
	st := r.sum.stageStats(StageOverlays)
	items := r.okItems()
	st.Items = len(items)
	bar := r.prog.stage(StageOverlays, len(items))
	defer bar.done()
	var c counter
	start := time.Now()
	r.forEach(ctx, func(it *item) {
		t0 := time.Now()
		k := key(overlaysVersion, struct{}{}, r.overlaySource(it))
		if _, ok := r.cache.lookup(StageOverlays, it.file.Rel, k); ok {
			c.cached.Add(1)
			bar.add(true)
			return
		}
		r.finish(&c, bar, StageOverlays, it, t0, r.overlay(it, k))
	})
	c.into(st, time.Since(start))
	return r.cache.flush()
}

// overlaySource is the key of the mask an overlay shows: the refined mask
// when the network ran, else the pseudo-labels.
func (r *runner) overlaySource(it *item) string {
	if it.maskKey != "" {
		return "masks\x00" + it.maskKey
	}
	return "pseudolabels\x00" + it.plKey
}

func (r *runner) overlay(it *item, k string) error {
	img, err := LoadImage(it.file.Path, r.cfg.MaxPixels)
	if err != nil {
		return err
	}
	labels, err := r.readLabelsOf(it.file.Rel, img)
	if err != nil {
		return err
	}
	src := pseudolabelPath(it.file.Rel)
	if it.maskKey != "" {
		src = maskPath(it.file.Rel)
	}
	mask, err := r.readMask(src)
	if err != nil {
		return err
	}
	if b := img.Rect; b.Dx() != labels.Width || b.Dy() != labels.Height || !mask.Rect.Eq(b) {
		return fmt.Errorf("image is %dx%d, its superpixels %dx%d, its mask %v (changed during the run?)",
			b.Dx(), b.Dy(), labels.Width, labels.Height, mask.Rect.Size())
	}
	ov := pseudolabel.Overlay(img, mask, labels, pseudolabel.OverlaySettings{})
	rec, err := r.cache.writeOutput(overlayPath(it.file.Rel), func(w io.Writer) error {
		return jpeg.Encode(w, ov, &jpeg.Options{Quality: overlayQuality})
	})
	if err != nil {
		return err
	}
	return r.cache.commitLater(&manifest{Key: k, Stage: StageOverlays, Item: it.file.Rel, Outputs: []outputRecord{rec}})
}
