package pipeline

import (
	"context"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/pseudolabel"
	"github.com/segdiscover/segdiscover/segnet"
)

// adaptTrainParams enter the key of the fine-tuned network.
type adaptTrainParams struct {
	Train     trainParams `json:"train"`
	Keep      float64     `json:"keep"`
	Agreement bool        `json:"agreement"`
}

// rectifyRecord is OUT2/model/rectify.json: how the pseudo-labels were
// rectified for fine-tuning, per concept.
type rectifyRecord struct {
	Keep      float64          `json:"keep"`
	Agreement bool             `json:"agreement"`
	Concepts  []conceptRectify `json:"concepts"`
}

type conceptRectify struct {
	ID int `json:"id"`
	// Threshold is the concept's confidence threshold (0..1): its most
	// confident share Keep of pixels are at or above it.
	Threshold float64 `json:"threshold"`
	Pixels    int64   `json:"pixels"` // pseudo-labelled pixels at the training resolution
	Kept      int64   `json:"kept"`   // of them, kept for fine-tuning
	// Agreement is the share of the pixels above the threshold that the
	// model's network labels the same; AgreementUsed whether it was
	// required (the network agrees on at least half of them).
	Agreement     float64 `json:"agreement"`
	AgreementUsed bool    `json:"agreement_used"`
}

// adaptTrain fine-tunes the model's network on IN2's rectified
// pseudo-labels, checkpointed and resumable as the train stage.
func (r *runner) adaptTrain(ctx context.Context, st *StageStats, src *sourceModel, as AdaptSettings) error {
	items := r.okItems()
	st.Items = len(items)
	if len(items) == 0 {
		return errNoOK
	}
	tp := r.cfg.trainParamsFor(len(items))
	ap := adaptTrainParams{Train: tp, Keep: as.Keep, Agreement: !as.NoAgreement}
	inputs := make([]string, 0, len(items)+2)
	for _, it := range items {
		inputs = append(inputs, it.file.Rel+"\x00"+it.plKey)
	}
	r.trainKey = key(adaptTrainVersion, ap, append(inputs, r.clusterKey, src.netKey)...)
	if _, ok := r.cache.lookup(StageTrain, trainItem, r.trainKey); ok {
		var rec rectifyRecord
		if err := readJSONFile(r.outPath(rectifyFile), &rec); err == nil {
			st.Cached = 1
			st.Note = "fine-tuned network reused"
			r.adapt.setRectify(&rec)
			return nil
		}
	}
	// Neither the samples nor their rectified masks are held: rectification
	// streams over the files, writing each rectified mask to the cache, and
	// training reads them back batch by batch (flat memory in the images).
	rs := &rectifiedSamples{diskSamples: diskSamples{ctx: ctx, r: r, items: items, tp: tp}, dir: r.rectifiedDir()}
	rec, err := r.rectifySamples(ctx, rs, src, ap)
	if err != nil {
		return err
	}
	rrec, err := r.cache.writeOutputSync(rectifyFile, func(w io.Writer) error { return encodeIndented(w, rec) })
	if err != nil {
		return err
	}
	r.adapt.setRectify(rec)
	tr, err := r.trainer(st, rs, func() (*segnet.Trainer, error) {
		return fineTuner(src.net, rs, tp.settings(r.cfg.Workers), tp.Seed)
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return err
	}
	if st.Note != "" {
		st.Note += "; "
	}
	st.Note += "fine-tuned from the model's network"
	if err := r.trainAndWrite(ctx, st, tr, tp.Epochs, len(items), []outputRecord{rrec}); err != nil {
		return err
	}
	os.RemoveAll(rs.dir)
	return nil
}

// rectifiedDir holds the rectified masks adapt's fine-tuning trains on
// (cache bookkeeping, rewritten by every fine-tuning run before it trains).
func (r *runner) rectifiedDir() string {
	return filepath.Join(r.cache.root(), filepath.FromSlash(r.cache.dir), "train", "rectified")
}

// rectifiedSamples are the train stage's samples with each mask replaced by
// its rectified version, read from dir/<rel>.png.
type rectifiedSamples struct {
	diskSamples
	dir string
}

func (d *rectifiedSamples) path(i int) string {
	return filepath.Join(d.dir, filepath.FromSlash(d.items[i].file.Rel)+".png")
}

func (d *rectifiedSamples) Sample(i int) (segnet.Sample, error) {
	s, err := d.diskSamples.Sample(i)
	if err != nil {
		return s, err
	}
	f, err := os.Open(d.path(i))
	if err != nil {
		return s, err
	}
	defer f.Close()
	m, err := artifact.DecodeMask(f, d.r.cfg.MaxPixels)
	if err != nil {
		return s, fmt.Errorf("%s: %w", d.path(i), err)
	}
	s.Mask = m
	return s, nil
}

// fineTuner returns a trainer that starts from src's weights and batch
// statistics, with the input normalisation of the new data (per-channel
// mean and deviation of its pixels, which NewTrainer computes): a global
// colour cast of the new images, such as another white balance, is then
// largely undone before the first layer, as batch-norm statistics
// re-estimated on the target undo it deeper in (Li et al., "Revisiting
// batch normalization for practical domain adaptation", 2016).
func fineTuner(src *segnet.Net, samples segnet.Samples, s segnet.TrainSettings, seed uint64) (*segnet.Trainer, error) {
	tr, err := segnet.NewStreamTrainer(src.Arch(), samples, s, seed)
	if err != nil {
		return nil, err
	}
	target := map[string]segnet.Tensor{}
	for _, t := range tr.Net().StateDict() {
		target[t.Name] = t
	}
	state := src.StateDict()
	for i, t := range state {
		if t.Name == "input.mean" || t.Name == "input.std" {
			state[i] = target[t.Name]
		}
	}
	if err := tr.Net().LoadStateDict(state); err != nil {
		return nil, err
	}
	return tr, nil
}

// rectifySamples writes the rectified pseudo-label mask of every training
// sample of rs (pseudolabel.Thresholds and Rectify) to rs.path: per
// concept, its most confident share Keep of pixels; with agreement, of
// those, only the pixels the model's network labels the same, for the
// concepts on which it agrees at least half of the time (on the others, the
// source network has not recognised the concept on the new images, and
// requiring its agreement would drop the concept from fine-tuning
// altogether). It streams over the samples (a pass for the thresholds, one
// for the agreement, one writing the masks), holding a few at a time; the
// counts are integers, so the result does not depend on the order.
func (r *runner) rectifySamples(ctx context.Context, rs *rectifiedSamples, src *sourceModel, ap adaptTrainParams) (*rectifyRecord, error) {
	k := src.gmm.K()
	var nets chan *segnet.Net
	if ap.Agreement {
		var err error
		if nets, err = sourceNets(src, r.cfg.Workers); err != nil {
			return nil, err
		}
	}
	var mu sync.Mutex
	h := pseudolabel.NewConfidenceHistogram(k)
	if err := r.eachSample(ctx, rs, nil, "", func(_ *segnet.Net, _ int, s segnet.Sample) error {
		hs := pseudolabel.NewConfidenceHistogram(k)
		hs.Add(s.Mask, s.Conf)
		mu.Lock()
		h.Merge(hs)
		mu.Unlock()
		return nil
	}); err != nil {
		return nil, err
	}
	thr := h.Thresholds(ap.Keep)
	rec := &rectifyRecord{Keep: ap.Keep, Agreement: ap.Agreement, Concepts: make([]conceptRectify, k)}
	for c := range k {
		rec.Concepts[c] = conceptRectify{ID: c, Threshold: float64(thr[c]) / 255, Pixels: h.Pixels(c)}
	}
	use := make([]bool, k)
	if ap.Agreement {
		pass, agree := make([]int64, k), make([]int64, k)
		if err := r.eachSample(ctx, rs, nets, "agreement", func(n *segnet.Net, i int, s segnet.Sample) error {
			p, err := predictAt(n, s)
			if err != nil {
				return err
			}
			ps, as := make([]int64, k), make([]int64, k)
			for j, c := range s.Mask.Pix {
				if int(c) < k && s.Conf.Pix[j] >= thr[c] {
					ps[c]++
					if p.Pix[j] == c {
						as[c]++
					}
				}
			}
			mu.Lock()
			for c := range k {
				pass[c] += ps[c]
				agree[c] += as[c]
			}
			mu.Unlock()
			return nil
		}); err != nil {
			return nil, err
		}
		for c := range k {
			if pass[c] > 0 {
				rec.Concepts[c].Agreement = float64(agree[c]) / float64(pass[c])
			}
			use[c] = pass[c] > 0 && 2*agree[c] >= pass[c]
			rec.Concepts[c].AgreementUsed = use[c]
		}
	}
	os.RemoveAll(rs.dir)
	kept := make([]int64, k)
	if err := r.eachSample(ctx, rs, nets, "", func(n *segnet.Net, i int, s segnet.Sample) error {
		var other *image.Paletted
		if ap.Agreement {
			var err error
			if other, err = predictAt(n, s); err != nil {
				return err
			}
			for j, c := range s.Mask.Pix {
				if int(c) < k && !use[c] {
					other.Pix[j] = c // no second opinion on this concept
				}
			}
		}
		m := pseudolabel.Rectify(s.Mask, s.Conf, thr, other)
		ks := make([]int64, k)
		for _, c := range m.Pix {
			if int(c) < k {
				ks[c]++
			}
		}
		mu.Lock()
		for c := range k {
			kept[c] += ks[c]
		}
		mu.Unlock()
		p := rs.path(i)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return WriteFileAtomic(p, func(w io.Writer) error { return artifact.EncodeMask(w, m) })
	}); err != nil {
		return nil, err
	}
	for c := range k {
		rec.Concepts[c].Kept = kept[c]
	}
	return rec, nil
}

// sourceNets loads one copy of the model's network per worker (a Net is not
// safe for concurrent use).
func sourceNets(src *sourceModel, workers int) (chan *segnet.Net, error) {
	nets := make(chan *segnet.Net, workers)
	for range workers {
		n, err := decodeSegnet(src.dir, src.netData)
		if err != nil {
			return nil, err
		}
		n.Workers = threadsPerWorker(workers)
		nets <- n
	}
	return nets, nil
}

// eachSample calls fn on every sample of rs as read from the files (its
// pseudo-labels, not rectified), on r's workers, each with a network of nets
// (nil if nets is); with a progress bar named bar unless empty. The error is
// that of the first failing sample, naming its image.
func (r *runner) eachSample(ctx context.Context, rs *rectifiedSamples, nets chan *segnet.Net, bar string, fn func(n *segnet.Net, i int, s segnet.Sample) error) error {
	var pb stageProgress
	if bar != "" {
		pb = r.prog.stage(bar, len(rs.items))
		defer pb.done()
	}
	errs := make([]error, len(rs.items))
	r.forEachOf(ctx, rs.items, func(i int, it *item) {
		s, err := r.loadSample(it, rs.tp)
		if err == nil {
			var n *segnet.Net
			if nets != nil {
				n = <-nets
				defer func() { nets <- n }()
			}
			err = fn(n, i, s)
		}
		if err != nil {
			errs[i] = fmt.Errorf("train: %s: %w", it.file.Path, err)
		}
		if bar != "" {
			pb.add(false)
		}
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// predictAt labels s's image with n, at the sample's (training)
// resolution.
func predictAt(n *segnet.Net, s segnet.Sample) (*image.Paletted, error) {
	m, _ := n.Predict(s.Image)
	if !m.Rect.Eq(s.Mask.Rect) {
		return nil, fmt.Errorf("the model's prediction has bounds %v, the pseudo-labels %v", m.Rect, s.Mask.Rect)
	}
	return m, nil
}
