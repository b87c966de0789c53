package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/disintegration/imaging"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pipeline/htmlreport"
	"github.com/segdiscover/segdiscover/pipeline/store"
)

// The report: OUT_DIR/report.html and its pictures under OUT_DIR/report/.
const (
	reportFile = "report.html"
	reportDir  = "report"
	// Bounds that keep the page the same size whatever the run.
	reportCrops     = 8  // most confident superpixel crops per concept
	reportDominant  = 6  // images where a concept dominates, per concept
	reportSample    = 24 // overlays shown for the run
	reportFailures  = 200
	reportThumb     = 240 // longest side of an overlay thumbnail, px
	reportCropThumb = 96  // longest side of a crop, px
	// A concept counts as present in an image when it covers this share
	// of its pixels.
	reportPresent = 0.01
	// Images whose statistics are computed (in parallel) before they are
	// merged (in input order) into the report's aggregate.
	reportBatch = 256
)

// imageStats is what the report needs from one image's masks.
type imageStats struct {
	it     *item
	pixels int64
	count  []int64   // pixels per concept id (0..254), of the final mask
	conf   []float64 // summed confidence (0..1) per concept, of the final mask
	// best superpixel per concept (pseudo-labels): confidence and box.
	best []cropCand
}

type cropCand struct {
	conf float64
	box  image.Rectangle
	it   *item
	ok   bool
}

// reportStage computes per-concept statistics over the final masks of
// every image and writes the report.
func (r *runner) reportStage(ctx context.Context) error {
	st := r.sum.stageStats(StageReport)
	t0 := time.Now()
	defer func() { st.Seconds = time.Since(t0).Seconds() }()
	items := r.okItems()
	st.Items = len(items)
	k := r.sum.Concepts
	if k == 0 {
		k = r.modelConcepts()
	}
	if k == 0 || len(items) == 0 {
		return nil
	}
	if r.concepts == nil {
		cs, err := r.readConcepts(k)
		if err != nil {
			return err
		}
		r.concepts = cs
	}
	trained := items[0].maskKey != ""
	// The statistics are merged in input order, a batch at a time, as
	// they are computed: the stage holds one batch of per-image
	// statistics and the running aggregate (reportAgg), not every
	// image's.
	agg := newReportAgg(k)
	bar := r.prog.stage(StageReport, len(items))
	batch := make([]*imageStats, 0, reportBatch)
	for start := 0; start < len(items); start += reportBatch {
		part := items[start:min(start+reportBatch, len(items))]
		batch = batch[:len(part)]
		clear(batch)
		r.forEachOf(ctx, part, func(i int, it *item) {
			s, err := r.imageStats(it, k, trained)
			bar.add(false)
			if err != nil {
				// Not the input's fault: its outputs were written by this run.
				r.log.Warn("report: left out", "file", it.file.Path, "err", err)
				return
			}
			batch[i] = s
		})
		if err := ctx.Err(); err != nil {
			bar.done()
			return err
		}
		for _, s := range batch {
			if s != nil {
				agg.add(s)
			}
		}
	}
	bar.done()

	rep, pics := r.buildReport(agg, k, trained)
	if err := store.RemoveTree(r.cache.ctx, r.cache.st, reportDir); err != nil {
		return err
	}
	if err := r.writeReportPictures(ctx, pics); err != nil {
		return err
	}
	st.Computed = 1
	return r.cache.writeSync(reportFile, func(w io.Writer) error { return htmlreport.Encode(w, rep) })
}

func (r *runner) imageStats(it *item, k int, trained bool) (*imageStats, error) {
	src, conf := pseudolabelPath(it.file.Rel), confidencePath(it.file.Rel)
	if trained {
		src, conf = maskPath(it.file.Rel), maskConfPath(it.file.Rel)
	}
	m, err := r.readMask(src)
	if err != nil {
		return nil, err
	}
	c, err := r.readConf(conf)
	if err != nil {
		return nil, err
	}
	s := &imageStats{it: it, pixels: int64(len(m.Pix)), count: make([]int64, 256), conf: make([]float64, 256)}
	for i, v := range m.Pix {
		s.count[v]++
		s.conf[v] += float64(c.Pix[i]) / 255
	}
	// The most confident superpixel of each concept in this image, from
	// the pseudo-labels (one concept and posterior per superpixel).
	l, err := r.readLabels(it.file.Rel)
	if err != nil {
		return nil, err
	}
	pl, err := r.readMask(pseudolabelPath(it.file.Rel))
	if err != nil {
		return nil, err
	}
	pc, err := r.readConf(confidencePath(it.file.Rel))
	if err != nil {
		return nil, err
	}
	if len(l.Pix) != len(pl.Pix) || len(pc.Pix) != len(pl.Pix) {
		return nil, fmt.Errorf("superpixels and pseudo-labels differ in size")
	}
	boxes := make([]image.Rectangle, l.N)
	sizes := make([]int, l.N)
	for i, id := range l.Pix {
		x, y := i%l.Width, i/l.Width
		p := image.Rect(x, y, x+1, y+1)
		if sizes[id] == 0 {
			boxes[id] = p
		} else {
			boxes[id] = boxes[id].Union(p)
		}
		sizes[id]++
	}
	first := make([]int, l.N)
	for i := range first {
		first[i] = -1
	}
	for i, id := range l.Pix {
		if first[id] < 0 {
			first[id] = i
		}
	}
	// Superpixels smaller than half the mean size are fragments: a crop of
	// them shows little.
	minSize := len(l.Pix) / max(1, l.N) / 2
	s.best = make([]cropCand, k)
	for id, i := range first {
		if i < 0 || sizes[id] < minSize {
			continue
		}
		c := int(pl.Pix[i])
		if c >= k {
			continue
		}
		v := float64(pc.Pix[i]) / 255
		if b := &s.best[c]; !b.ok || v > b.conf || (v == b.conf && sizes[id] > b.box.Dx()*b.box.Dy()) {
			*b = cropCand{conf: v, box: boxes[id], it: it, ok: true}
		}
	}
	return s, nil
}

func (r *runner) readConf(rel string) (*image.Gray, error) {
	f, err := r.cache.open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := artifact.DecodeConfidence(f, r.cfg.MaxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return c, nil
}

// picture is one file of the report to write: a thumbnail of an overlay
// (box empty) or a crop of an input image.
type picture struct {
	it   *item
	box  image.Rectangle
	file string // under OUT_DIR
}

func thumbName(dir, rel string, box image.Rectangle) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%v", rel, box))
	return path.Join(reportDir, dir, hex.EncodeToString(h[:8])+".jpg")
}

// reportAgg is what the report shows, accumulated image by image in
// input order: the per-concept sums, and for each concept the few images
// it picks (the most confident crops, the images it covers most), kept as
// bounded top lists. A top list orders by value, ties in input order, so
// it holds what a stable sort of every image's candidates would put
// first.
type reportAgg struct {
	total  int64
	count  []int64   // pixels per concept id
	conf   []float64 // summed confidence per concept id
	images []int     // images where the concept is present
	crops  [][]cropCand
	dom    [][]domCand
	items  []*item // the images with statistics, for the even sample
}

// domCand is an image where a concept covers share of the pixels.
type domCand struct {
	it    *item
	share float64
	count int64
}

func newReportAgg(k int) *reportAgg {
	return &reportAgg{count: make([]int64, 256), conf: make([]float64, 256), images: make([]int, 256),
		crops: make([][]cropCand, k), dom: make([][]domCand, k)}
}

// add merges the statistics of the next image in input order.
func (a *reportAgg) add(s *imageStats) {
	a.total += s.pixels
	for c := range 256 {
		a.count[c] += s.count[c]
		a.conf[c] += s.conf[c]
		if s.count[c] > 0 && float64(s.count[c]) >= reportPresent*float64(s.pixels) {
			a.images[c]++
		}
	}
	for c := range a.crops {
		if b := s.best[c]; b.ok {
			a.crops[c] = topInsert(a.crops[c], b, reportCrops, func(x cropCand) float64 { return x.conf })
		}
		d := domCand{it: s.it, share: float64(s.count[c]) / float64(max(1, s.pixels)), count: s.count[c]}
		a.dom[c] = topInsert(a.dom[c], d, reportDominant, func(x domCand) float64 { return x.share })
	}
	a.items = append(a.items, s.it)
}

// topInsert adds v to top, a list of at most n values in decreasing order
// of key, behind those of equal key (they came first), and drops what
// falls past n.
func topInsert[T any](top []T, v T, n int, key func(T) float64) []T {
	kv := key(v)
	i := len(top)
	for i > 0 && key(top[i-1]) < kv {
		i--
	}
	if i >= n {
		return top
	}
	if len(top) < n {
		top = append(top, v)
	}
	copy(top[i+1:], top[i:len(top)-1])
	top[i] = v
	return top
}

// buildReport computes the figures and picks the pictures.
func (r *runner) buildReport(a *reportAgg, k int, trained bool) (*htmlreport.Report, []picture) {
	total, count, conf, images := a.total, a.count, a.conf, a.images
	pics := map[string]picture{}
	overlayPic := func(it *item, caption string) htmlreport.Picture {
		f := thumbName("thumbs", it.file.Rel, image.Rectangle{})
		pics[f] = picture{it: it, file: f}
		return htmlreport.Picture{Src: f, Href: overlayPath(it.file.Rel), Caption: caption}
	}
	// The input folder's last two names: "stanford_background/images"
	// says more than "images".
	abs, _ := filepath.Abs(r.o.InDir)
	title := filepath.ToSlash(filepath.Join(filepath.Base(filepath.Dir(abs)), filepath.Base(abs)))
	rep := &htmlreport.Report{Title: "segdiscover report: " + title, InDir: r.o.InDir, OutDir: r.o.OutDir,
		Images: r.sum.Images, Failed: len(r.failures), Source: "pseudo-labels (pseudolabels/)"}
	if trained {
		rep.Source = "refined masks (masks/)"
	}
	for _, c := range r.concepts[:k] {
		rc := htmlreport.Concept{ID: c.ID, Name: c.Name, Colour: c.Colour, Images: images[c.ID]}
		if total > 0 {
			rc.PixelShare = float64(count[c.ID]) / float64(total)
		}
		if count[c.ID] > 0 {
			rc.MeanConf = conf[c.ID] / float64(count[c.ID])
		}
		// Crops: the most confident superpixels, one per image.
		for _, cd := range a.crops[c.ID] {
			box := padBox(cd.box)
			f := thumbName("crops", cd.it.file.Rel, box)
			pics[f] = picture{it: cd.it, box: box, file: f}
			rc.Crops = append(rc.Crops, htmlreport.Picture{Src: f, Href: overlayPath(cd.it.file.Rel),
				Caption: fmt.Sprintf("%s, confidence %.2f", cd.it.file.Rel, cd.conf)})
		}
		// The images it covers most.
		for _, d := range a.dom[c.ID] {
			if d.count == 0 {
				break
			}
			rc.Dominant = append(rc.Dominant, overlayPic(d.it, fmt.Sprintf("%s %.0f%%", path.Base(d.it.file.Rel), 100*d.share)))
		}
		rep.Concepts = append(rep.Concepts, rc)
	}
	// An even sample of the run's images.
	n := min(reportSample, len(a.items))
	for i := range n {
		it := a.items[i*len(a.items)/n]
		rep.Sample = append(rep.Sample, overlayPic(it, path.Base(it.file.Rel)))
	}
	r.addRunInfo(rep, k)
	list := make([]picture, 0, len(pics))
	for _, p := range pics {
		list = append(list, p)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].file < list[b].file })
	return rep, list
}

// addRunInfo fills in the report's run-level part: the stages, the
// settings, the first failures and, with --concepts auto, the BIC curve.
func (r *runner) addRunInfo(rep *htmlreport.Report, k int) {
	for _, st := range r.sum.Stages {
		rep.Stages = append(rep.Stages, htmlreport.Stage{Name: st.Name, Ran: st.Ran, Computed: st.Computed, Cached: st.Cached,
			Failed: st.Failed, Seconds: st.Seconds, Note: st.Note})
	}
	var cfg map[string]any
	if b, err := json.Marshal(r.cfg); err == nil && json.Unmarshal(b, &cfg) == nil {
		keys := make([]string, 0, len(cfg))
		for key := range cfg {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			rep.Config = append(rep.Config, htmlreport.Setting{Key: key, Value: fmt.Sprint(cfg[key])})
		}
	}
	for i, f := range r.failures {
		if i == reportFailures {
			rep.FailuresMore = len(r.failures) - i
			break
		}
		rep.Failures = append(rep.Failures, htmlreport.Failure{Path: f.Path, Stage: f.Stage, Error: f.Err.Error()})
	}
	if r.cfg.Concepts.Auto {
		if f, err := r.cache.open(gmmFile); err == nil {
			if gf, err := artifact.DecodeGMM(f); err == nil {
				for _, p := range gf.KCurve {
					if p.OK {
						rep.BIC = append(rep.BIC, htmlreport.BICPoint{K: p.K, BIC: p.BIC})
					}
				}
			}
			f.Close()
		}
		rep.ChosenK = k
	}
}

// padBox grows a superpixel's box by a quarter on each side (context
// helps); it is clipped to the image when cropped.
func padBox(b image.Rectangle) image.Rectangle {
	dx, dy := max(2, b.Dx()/4), max(2, b.Dy()/4)
	return image.Rect(b.Min.X-dx, b.Min.Y-dy, b.Max.X+dx, b.Max.Y+dy)
}

// writeReportPictures writes the thumbnails and crops, reading each input
// image or overlay once.
func (r *runner) writeReportPictures(ctx context.Context, pics []picture) error {
	byItem := map[*item][]picture{}
	var its []*item
	for _, p := range pics {
		if _, ok := byItem[p.it]; !ok {
			its = append(its, p.it)
		}
		byItem[p.it] = append(byItem[p.it], p)
	}
	var mu sync.Mutex
	var firstErr error
	r.forEachOf(ctx, its, func(_ int, it *item) {
		if err := r.itemPictures(it, byItem[it]); err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	})
	if firstErr != nil {
		return fmt.Errorf("report pictures: %w", firstErr)
	}
	return ctx.Err()
}

func (r *runner) itemPictures(it *item, pics []picture) error {
	var img, ov image.Image
	for _, p := range pics {
		var pic image.Image
		if p.box.Empty() {
			if ov == nil {
				f, err := r.cache.open(overlayPath(it.file.Rel))
				if err == nil {
					ov, err = jpeg.Decode(f)
					f.Close()
				}
				if err != nil {
					if ov, err = it.file.load(r.cfg.MaxPixels); err != nil {
						return err
					}
				}
			}
			pic = imaging.Fit(ov, reportThumb, reportThumb, imaging.Linear)
		} else {
			if img == nil {
				var err error
				if img, err = it.file.load(r.cfg.MaxPixels); err != nil {
					return err
				}
			}
			box := p.box.Intersect(img.Bounds())
			if box.Empty() {
				box = img.Bounds()
			}
			pic = imaging.Fit(imaging.Crop(img, box), reportCropThumb, reportCropThumb, imaging.Linear)
			if b := pic.Bounds(); b.Dx() < 24 && b.Dy() < 24 {
				pic = imaging.Resize(pic, max(1, b.Dx()*24/max(b.Dx(), b.Dy())), max(1, b.Dy()*24/max(b.Dx(), b.Dy())), imaging.NearestNeighbor)
			}
		}
		if err := r.cache.writeSync(p.file, func(w io.Writer) error {
			return jpeg.Encode(w, pic, &jpeg.Options{Quality: 82})
		}); err != nil {
			return err
		}
	}
	return nil
}
