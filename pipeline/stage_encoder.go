package pipeline

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
	"github.com/segdiscover/segdiscover/segnet"
	"github.com/segdiscover/segdiscover/superpixel"
)

// Learned encoders: the features of a superpixel are the hidden code of a
// sparse autoencoder trained, without labels, on patches of the user's own
// images (optionally beside the hand-crafted descriptor). Training is a
// global stage between the superpixels and the features.

const (
	encoderFile = "model/encoder.safetensors"
	encoderItem = "encoder"
)

// encoderSpec is a parsed --encoder value: "handcrafted", "sae-sigmoid",
// "sae-relu", "stacked", "vae", "swav", "deepcluster", "handcrafted+" one
// of the learned ones, or "vit".
type encoderSpec struct {
	hand        bool
	learned     bool
	vit         bool // a pretrained transformer from --weights
	swav        bool // the learned encoder is the SwAV network (stage_swav.go)
	deepcluster bool // the learned encoder is the DeepCluster FCN body (stage_deepcluster.go)
	kind        features.Kind
	deep        string // features.KindStacked or features.KindVAE, else ""
}

// conv reports whether the learned encoder is a convolutional network
// whose dense features are averaged per superpixel (swav, deepcluster).
func (e encoderSpec) conv() bool { return e.swav || e.deepcluster }

func parseEncoder(s string) (encoderSpec, error) {
	var e encoderSpec
	for _, part := range strings.Split(s, "+") {
		switch part {
		case "handcrafted":
			e.hand = true
		case "vit":
			if s != "vit" {
				return e, fmt.Errorf("%q: vit is not combined with other encoders", s)
			}
			e.vit = true
		case "swav":
			if e.learned {
				return e, fmt.Errorf("%q: at most one learned encoder", s)
			}
			e.learned, e.swav = true, true
		case "deepcluster":
			if e.learned {
				return e, fmt.Errorf("%q: at most one learned encoder", s)
			}
			e.learned, e.deepcluster = true, true
		case features.KindStacked, features.KindVAE:
			if e.learned {
				return e, fmt.Errorf("%q: want one learned encoder", s)
			}
			e.learned, e.deep = true, part
		default:
			k, err := features.ParseKind(part)
			if err != nil || e.learned {
				return e, fmt.Errorf("%q: want handcrafted, swav, deepcluster, sae-sigmoid, sae-relu, stacked, vae, or handcrafted+one of them (or vit alone)", s)
			}
			e.learned, e.kind = true, k
		}
	}
	if !e.hand && !e.learned && !e.vit {
		return e, fmt.Errorf("%q: no encoder", s)
	}
	return e, nil
}

// encoderParams enter the encoder key (and, through it, the feature key).
type encoderParams struct {
	Kind    string `json:"kind"`
	Hidden  int    `json:"hidden"`
	Denoise bool   `json:"denoise"`
	Patch   int    `json:"patch"`
	Sample  int    `json:"sample"`
	Epochs  int    `json:"epochs"`
	Seed    uint64 `json:"seed"`
	// Only for the encoders that use them, so that the keys of the
	// others stay as they were.
	Depth int     `json:"depth,omitempty"` // stacked
	Beta  float64 `json:"beta,omitempty"`  // vae
}

func (c Config) encoderParams() encoderParams {
	e, _ := parseEncoder(c.Encoder)
	p := encoderParams{Kind: e.kind.String(), Hidden: c.Hidden, Denoise: c.Denoise, Patch: c.PatchSize,
		Sample: c.PatchSample, Epochs: c.EncoderEpochs, Seed: c.Seed}
	switch e.deep {
	case features.KindStacked:
		p.Kind, p.Depth = e.deep, c.StackDepth
	case features.KindVAE:
		p.Kind, p.Beta, p.Denoise = e.deep, c.Beta, false
	}
	return p
}

func (p encoderParams) settings(kind features.Kind) features.EncoderSettings {
	s := features.EncoderSettings{Kind: kind, Hidden: p.Hidden, Epochs: p.Epochs}
	if p.Denoise {
		s.Corruption = features.MaskingNoise
	}
	return s
}

// encoderImages returns the images the SwAV or DeepCluster encoder trains
// on: items, or when there are more than Config.EncoderImages of them, a
// uniform sample of that many chosen deterministically from the images'
// names alone (the smallest SHA-256 of <rel>), so that it does not depend
// on the order of listing or on the shards, and an image added moves at
// most one other out. The sample keeps the input order. The other learned
// encoders sample patches instead (--patch-sample) and get items whole.
func (r *runner) encoderImages(items []*item) []*item {
	spec, _ := parseEncoder(r.cfg.Encoder)
	n := r.cfg.EncoderImages
	if !(spec.swav || spec.deepcluster) || n <= 0 || len(items) <= n {
		return items
	}
	type ranked struct {
		h   [sha256.Size]byte
		idx int
	}
	rs := make([]ranked, len(items))
	for i, it := range items {
		rs[i] = ranked{sha256.Sum256([]byte(it.file.Rel)), i}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := bytes.Compare(a.h[:], b.h[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	keep := make([]bool, len(items))
	for _, x := range rs[:n] {
		keep[x.idx] = true
	}
	out := make([]*item, 0, n)
	for i, it := range items {
		if keep[i] {
			out = append(out, it)
		}
	}
	return out
}

// encoderStage trains the learned encoder on a bounded, order-independent
// sample of superpixel patches from every image, unless the encoder in
// OUT_DIR was trained on exactly these superpixels with these parameters.
// It leaves the encoder, as read back from disk, in r.encoder.
func (r *runner) encoderStage(ctx context.Context, st *StageStats) error {
	items := r.okItems()
	st.Items = len(items)
	if len(items) == 0 {
		return errNoOK
	}
	spec, _ := parseEncoder(r.cfg.Encoder)
	if spec.swav {
		return r.swavStage(ctx, st, r.encoderImages(items))
	}
	if spec.deepcluster {
		return r.deepClusterStage(ctx, st, r.encoderImages(items))
	}
	ep := r.cfg.encoderParams()
	r.encoderKey = r.encoderKeyOf(items)
	if _, ok := r.cache.lookup(StageEncoder, encoderItem, r.encoderKey); ok {
		st.Cached = 1
		st.Note = "encoder reused"
		return r.readEncoder()
	}
	res := features.NewReservoir(ep.Sample, rand.NewPCG(ep.Seed, 0xe1c0de))
	err := r.forEachLabelled(ctx, items, "patches", "encoder: patches of", func(_ int, it *item, img *image.NRGBA, l *superpixel.Labels) error {
		res.AddRows(features.ExtractPatches(img, l, ep.Patch), func(i int) uint64 { return features.PatchKey(it.file.Rel, i) })
		return nil
	})
	if err != nil {
		return err
	}
	sample := res.Sample()
	if sample == nil {
		return fmt.Errorf("encoder: no patches")
	}
	rows, dim := sample.Dims()
	src := rand.NewPCG(ep.Seed, 0xe1c0df)
	r.log.Info("encoder: training", "kind", ep.Kind, "patches", rows, "of", res.Seen(), "dims", dim)
	t0 := time.Now()
	var enc features.PatchEncoder
	if spec.deep != "" {
		enc, err = r.trainDeepEncoder(ctx, spec, ep, sample, src)
	} else {
		e := features.NewEncoder(dim, ep.settings(spec.kind), src)
		enc = e
		_, err = e.Train(sample, src, func(epoch int, l features.Loss) error {
			r.log.Debug("encoder: epoch", "epoch", epoch, "loss", l.Total, "mean_activation", l.MeanActivation)
			return ctx.Err()
		})
	}
	if err != nil {
		return err
	}
	st.Note = fmt.Sprintf("trained on %d of %d patches in %.1fs", rows, res.Seen(), time.Since(t0).Seconds())
	params, meta := enc.Params()
	ts := artifact.FromParams(params)
	meta["segdiscover.patch_size"] = fmt.Sprint(ep.Patch)
	rec, err := r.cache.writeOutputSync(encoderFile, func(w io.Writer) error { return artifact.EncodeSafetensors(w, ts, meta) })
	if err != nil {
		return err
	}
	st.Computed = 1
	if err := r.cache.commit(&manifest{Key: r.encoderKey, Stage: StageEncoder, Item: encoderItem, Outputs: []outputRecord{rec}}); err != nil {
		return err
	}
	return r.readEncoder()
}

func (r *runner) readEncoder() error {
	data, err := r.cache.read(encoderFile)
	if err != nil {
		return err
	}
	ts, meta, err := artifact.DecodeSafetensors(bytes.NewReader(data), 0)
	if err != nil {
		return fmt.Errorf("%s: %w", encoderFile, err)
	}
	ps, err := artifact.ToParams(ts)
	if err != nil {
		return fmt.Errorf("%s: %w", encoderFile, err)
	}
	enc, err := features.LoadPatchEncoder(ps, meta)
	if err != nil {
		return fmt.Errorf("%s: %w", encoderFile, err)
	}
	r.encoder = enc
	return nil
}

// learnedFeatures computes the features of every image with the learned
// encoder (and the hand-crafted descriptor, if asked for): a per-image pass
// after the encoder stage.
func (r *runner) learnedFeatures(ctx context.Context) error {
	spec, _ := parseEncoder(r.cfg.Encoder)
	var encs chan *segnet.Encoder
	if spec.conv() {
		// The network is not safe for concurrent use: one copy per worker.
		encs = make(chan *segnet.Encoder, r.cfg.Workers)
		for range r.cfg.Workers {
			encs <- r.convEnc.Clone()
		}
	}
	fs := r.cfg.featureSettings()
	patch := r.cfg.encoderParams().Patch
	var c counter
	bar := r.prog.stage(StageFeatures, len(r.items))
	start := time.Now()
	r.forEach(ctx, func(it *item) {
		t0 := time.Now()
		defer func() { c.busy.Add(int64(time.Since(t0))) }()
		it.featKey = r.learnedFeatKey(it)
		if _, ok := r.cache.lookup(StageFeatures, it.file.Rel, it.featKey); ok {
			c.cached.Add(1)
			bar.add(true)
			return
		}
		err := func() error {
			img, err := it.file.load(r.cfg.MaxPixels)
			if err != nil {
				return err
			}
			l, err := r.readLabelsOf(it.file.Rel, img)
			if err != nil {
				return err
			}
			var blocks []*mat.Dense
			if spec.hand {
				blocks = append(blocks, features.Describe(img, l, fs))
			}
			if spec.conv() {
				e := <-encs
				f, c, fh, fw := e.DenseFeatures(img)
				encs <- e
				blocks = append(blocks, features.PoolDense(f, c, fh, fw, l))
			} else {
				blocks = append(blocks, r.encoder.Encode(features.ExtractPatches(img, l, patch)))
			}
			return r.writeFeatures(it, features.Concat(blocks...))
		}()
		if err != nil {
			c.failed.Add(1)
			it.failed = true
			r.fail(&FileError{Path: it.file.Path, Stage: StageFeatures, Err: err})
		} else {
			c.computed.Add(1)
		}
		bar.add(false)
	})
	bar.done()
	st := r.sum.stageStats(StageFeatures)
	c.into(st, time.Since(start))
	st.Items = len(r.items)
	return r.cache.flush()
}

// forEachLabelled calls fn with the decoded image and the superpixel map of
// every item, on the worker pool, under a progress bar named bar. It returns
// the context's error, else the first failure as "what PATH: reason" (a
// global stage needs every image, so one failure fails the stage).
func (r *runner) forEachLabelled(ctx context.Context, items []*item, bar, what string, fn func(int, *item, *image.NRGBA, *superpixel.Labels) error) error {
	var mu sync.Mutex
	var firstErr error
	b := r.prog.stage(bar, len(items))
	r.forEachOf(ctx, items, func(i int, it *item) {
		defer b.add(false)
		err := func() error {
			img, err := it.file.load(r.cfg.MaxPixels)
			if err != nil {
				return err
			}
			l, err := r.readLabelsOf(it.file.Rel, img)
			if err != nil {
				return err
			}
			return fn(i, it, img, l)
		}()
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("%s %s: %w", what, it.file.Path, err)
			}
			mu.Unlock()
		}
	})
	b.done()
	if err := ctx.Err(); err != nil {
		return err
	}
	return firstErr
}
