package pipeline

import (
	"context"
	"fmt"
	"image"
	"io"

	"github.com/sourcegraph/conc/pool"

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
	tp := r.cfg.trainParams()
	if tp.Epochs == 0 {
		tp.Epochs = defaultEpochs(len(items), tp.Batch)
	}
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
	samples, err := r.loadSamples(ctx, items, tp)
	if err != nil {
		return err
	}
	rec, err := r.rectifySamples(ctx, samples, src, ap)
	if err != nil {
		return err
	}
	rrec, err := r.cache.writeOutputSync(rectifyFile, func(w io.Writer) error { return encodeIndented(w, rec) })
	if err != nil {
		return err
	}
	r.adapt.setRectify(rec)
	tr, err := r.trainer(st, segnet.SampleSlice(samples), func() (*segnet.Trainer, error) {
		return fineTuner(src.net, samples, tp.settings(r.cfg.Workers), tp.Seed)
	})
	if err != nil {
		return err
	}
	if st.Note != "" {
		st.Note += "; "
	}
	st.Note += "fine-tuned from the model's network"
	return r.trainAndWrite(ctx, st, tr, tp.Epochs, len(samples), []outputRecord{rrec})
}

// fineTuner returns a trainer that starts from src's weights and batch
// statistics, with the input normalisation of the new data (per-channel
// mean and deviation of its pixels, which NewTrainer computes): a global
// colour cast of the new images, such as another white balance, is then
// largely undone before the first layer, as batch-norm statistics
// re-estimated on the target undo it deeper in (Li et al., "Revisiting
// batch normalization for practical domain adaptation", 2016).
func fineTuner(src *segnet.Net, samples []segnet.Sample, s segnet.TrainSettings, seed uint64) (*segnet.Trainer, error) {
	tr, err := segnet.NewTrainer(src.Arch(), samples, s, seed)
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

// rectifySamples replaces the pseudo-label mask of every training sample by
// its rectified version (pseudolabel.Thresholds and Rectify): per concept,
// its most confident share Keep of pixels; with agreement, of those, only
// the pixels the model's network labels the same, for the concepts on
// which it agrees at least half of the time (on the others, the source
// network has not recognised the concept on the new images, and requiring
// its agreement would drop the concept from fine-tuning altogether).
func (r *runner) rectifySamples(ctx context.Context, samples []segnet.Sample, src *sourceModel, ap adaptTrainParams) (*rectifyRecord, error) {
	k := src.gmm.K()
	h := pseudolabel.NewConfidenceHistogram(k)
	for _, s := range samples {
		h.Add(s.Mask, s.Conf)
	}
	thr := h.Thresholds(ap.Keep)
	rec := &rectifyRecord{Keep: ap.Keep, Agreement: ap.Agreement, Concepts: make([]conceptRectify, k)}
	for c := range k {
		rec.Concepts[c] = conceptRectify{ID: c, Threshold: float64(thr[c]) / 255, Pixels: h.Pixels(c)}
	}
	var preds []*image.Paletted
	use := make([]bool, k)
	if ap.Agreement {
		var err error
		if preds, err = r.sourcePredictions(ctx, samples, src); err != nil {
			return nil, err
		}
		pass, agree := make([]int64, k), make([]int64, k)
		for i, s := range samples {
			p := preds[i]
			for j, c := range s.Mask.Pix {
				if int(c) < k && s.Conf.Pix[j] >= thr[c] {
					pass[c]++
					if p.Pix[j] == c {
						agree[c]++
					}
				}
			}
		}
		for c := range k {
			if pass[c] > 0 {
				rec.Concepts[c].Agreement = float64(agree[c]) / float64(pass[c])
			}
			use[c] = pass[c] > 0 && 2*agree[c] >= pass[c]
			rec.Concepts[c].AgreementUsed = use[c]
		}
	}
	for i := range samples {
		s := &samples[i]
		var other *image.Paletted
		if preds != nil {
			other = preds[i]
			for j, c := range s.Mask.Pix {
				if int(c) < k && !use[c] {
					other.Pix[j] = c // no second opinion on this concept
				}
			}
		}
		s.Mask = pseudolabel.Rectify(s.Mask, s.Conf, thr, other)
		for _, c := range s.Mask.Pix {
			if int(c) < k {
				rec.Concepts[c].Kept++
			}
		}
	}
	return rec, nil
}

// sourcePredictions labels every sample's image with the model's network,
// at the sample's (training) resolution.
func (r *runner) sourcePredictions(ctx context.Context, samples []segnet.Sample, src *sourceModel) ([]*image.Paletted, error) {
	workers := r.cfg.Workers
	nets := make(chan *segnet.Net, workers)
	for range workers {
		n, err := decodeSegnet(src.dir, src.netData)
		if err != nil {
			return nil, err
		}
		n.Workers = threadsPerWorker(workers)
		nets <- n
	}
	preds := make([]*image.Paletted, len(samples))
	bar := r.prog.stage("agreement", len(samples))
	defer bar.done()
	p := pool.New().WithMaxGoroutines(workers)
	for i, s := range samples {
		if ctx.Err() != nil {
			break
		}
		p.Go(func() {
			n := <-nets
			m, _ := n.Predict(s.Image)
			nets <- n
			preds[i] = m
			bar.add(false)
		})
	}
	p.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, m := range preds {
		if m == nil {
			return nil, fmt.Errorf("train: no prediction of the model for sample %d", i)
		}
		if !m.Rect.Eq(samples[i].Mask.Rect) {
			return nil, fmt.Errorf("train: the model's prediction for sample %d has bounds %v, its pseudo-labels %v", i, m.Rect, samples[i].Mask.Rect)
		}
	}
	return preds, nil
}
