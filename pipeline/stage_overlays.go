package pipeline

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"path"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/superpixel"
)

func overlayPath(rel string) string { return path.Join("overlays", rel+".jpg") }

// overlayQuality is the JPEG quality of overlays: they are for people.
const overlayQuality = 90

// overlayStage draws, for people, every image blended with the colours of
// its concepts (the refined mask if the network ran, else the
// pseudo-labels), with a legend of the concepts it shows beside it (names
// and colours from concepts.json), and superpixel boundaries with
// --overlay-boundaries: overlays/<rel>.jpg. It runs after the masks, or
// after the pseudo-labels with --until pseudolabels or train.
func (r *runner) overlayStage(ctx context.Context) error {
	st := r.sum.stageStats(StageOverlays)
	items := r.okItems()
	st.Items = len(items)
	if r.concepts == nil {
		cs, err := r.readConcepts(max(1, r.sum.Concepts))
		if err != nil {
			return err
		}
		r.concepts = cs
	}
	look := overlayLook{Boundaries: r.cfg.OverlayBoundaries, Concepts: r.concepts}
	bar := r.prog.stage(StageOverlays, len(items))
	defer bar.done()
	var c counter
	start := time.Now()
	r.forEach(ctx, func(it *item) {
		t0 := time.Now()
		k := key(overlaysVersion, look, r.overlaySource(it))
		if _, ok := r.cache.lookup(StageOverlays, it.file.Rel, k); ok {
			c.cached.Add(1)
			bar.add(true)
			return
		}
		r.finish(&c, bar, StageOverlays, it, t0, r.overlay(it, k, look))
	})
	c.into(st, time.Since(start))
	return r.cache.flush()
}

// overlayLook is what an overlay's look depends on besides its image and
// mask: part of its key.
type overlayLook struct {
	Boundaries bool               `json:"boundaries"`
	Concepts   []artifact.Concept `json:"concepts"`
}

// overlaySource is the key of the mask an overlay shows: the refined mask
// when the network ran, else the pseudo-labels.
func (r *runner) overlaySource(it *item) string {
	if it.maskKey != "" {
		return "masks\x00" + it.maskKey
	}
	return "pseudolabels\x00" + it.plKey
}

func (r *runner) overlay(it *item, k string, look overlayLook) error {
	img, err := it.file.load(r.cfg.MaxPixels)
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
	if !mask.Rect.Eq(img.Rect) {
		return fmt.Errorf("image is %v, its mask %v (changed during the run?)", img.Rect.Size(), mask.Rect.Size())
	}
	var labels *superpixel.Labels
	if look.Boundaries {
		if labels, err = r.readLabelsOf(it.file.Rel, img); err != nil {
			return err
		}
	}
	ov := drawOverlay(img, mask, labels, look.Concepts)
	rec, err := r.cache.writeOutput(overlayPath(it.file.Rel), func(w io.Writer) error {
		return jpeg.Encode(w, ov, &jpeg.Options{Quality: overlayQuality})
	})
	if err != nil {
		return err
	}
	return r.cache.commitLater(&manifest{Key: k, Stage: StageOverlays, Item: it.file.Rel, Outputs: []outputRecord{rec}})
}

// drawOverlay blends img with the concepts' colours, draws the boundaries
// of labels (if not nil) thin and translucent, and puts the legend of the
// concepts present beside it.
func drawOverlay(img *image.NRGBA, mask *image.Paletted, labels *superpixel.Labels, cs []artifact.Concept) *image.NRGBA {
	m := *mask
	m.Palette = conceptPalette(cs)
	ov := pseudolabel.Overlay(img, &m, labels, pseudolabel.OverlaySettings{Alpha: overlayAlpha, NoBoundaries: labels == nil,
		Boundary: color.NRGBA{255, 255, 255, 255}})
	present := make([]bool, 256)
	for _, v := range mask.Pix {
		present[v] = true
	}
	return pseudolabel.Beside(ov, pseudolabel.DrawLegend(legendKeys(cs, present), overlayLegendRows))
}

const (
	// overlayAlpha is the weight of the concept colour in overlays: enough
	// for the colour to read at a glance, with the image still visible.
	overlayAlpha = 0.55
	// overlayLegendRows bounds the legend beside an overlay.
	overlayLegendRows = 24
)
