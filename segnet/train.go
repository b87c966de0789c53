package segnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disintegration/imaging"
)

// Sample is one training image with its pseudo-label mask (concept ids,
// Ignore = unlabelled) and optional confidence (0..255, nil = all 255). All
// three must have the same bounds.
type Sample struct {
	Image *image.NRGBA
	Mask  *image.Paletted
	Conf  *image.Gray
}

// Defaults of TrainSettings (and DefaultSwAVSteps of SwAVSettings.Steps).
const (
	DefaultEpochs     = 5
	DefaultBatch      = 8
	DefaultLR         = 1e-3
	DefaultCropHeight = 120
	DefaultCropWidth  = 160
	DefaultSwAVSteps  = 150
	// Zoom range of the random scaled crop (MinScale, MaxScale); also the
	// outer views of DefaultTTAScales.
	DefaultMinScale = 0.75
	DefaultMaxScale = 1.5
)

// TrainSettings configures training; the zero value means the defaults
// documented on each field.
type TrainSettings struct {
	Epochs      int     `json:"epochs"`       // 0: 5
	Batch       int     `json:"batch"`        // images per step; 0: 8
	LR          float64 `json:"lr"`           // peak AdamW learning rate, cosine-decayed to 0 over all steps; 0: 1e-3
	WeightDecay float64 `json:"weight_decay"` // decoupled, on conv weights; 0: 1e-4; < 0: none
	// Training crop size; 0: 120 x 160 (half the Stanford Background
	// images: measured 4x faster than 240 x 320 and better than the
	// pseudo-labels, see bench/segnet_quality.sh). Prediction rescales
	// images to match (Arch.Input).
	Height int `json:"height"`
	Width  int `json:"width"`
	// Random scaled crop: the image is first scaled to cover the crop, then
	// zoomed by a factor uniform in [MinScale, MaxScale]; 0, 0: 0.75, 1.5.
	// 1, 1 disables the zoom: the image is scaled to just cover the crop,
	// which takes a random window of it (all of it if the aspect ratios match).
	MinScale float64 `json:"min_scale"`
	MaxScale float64 `json:"max_scale"`
	NoFlip   bool    `json:"no_flip"` // disable random horizontal flips
	// MinConf ignores pixels whose confidence/255 is below it (0: keep all).
	MinConf float64 `json:"min_conf"`
	// ConfWeight weights each pixel's loss by its confidence/255.
	ConfWeight bool `json:"conf_weight"`
	// Workers bounds the goroutines; 0: GOMAXPROCS. Results are bit-for-bit
	// reproducible for a fixed seed, and do not depend on the worker count
	// (parallel partial results are merged in a fixed order).
	Workers int `json:"-"`
}

func (s TrainSettings) withDefaults() TrainSettings {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.Epochs, DefaultEpochs)
	def(&s.Batch, DefaultBatch)
	def(&s.Height, DefaultCropHeight)
	def(&s.Width, DefaultCropWidth)
	if s.LR == 0 {
		s.LR = DefaultLR
	}
	if s.WeightDecay == 0 {
		s.WeightDecay = 1e-4 // negative stays negative (none), so that defaults are idempotent
	}
	if s.MinScale == 0 && s.MaxScale == 0 {
		s.MinScale, s.MaxScale = DefaultMinScale, DefaultMaxScale
	}
	if s.Workers <= 0 {
		s.Workers = runtime.GOMAXPROCS(0)
	}
	return s
}

func (s TrainSettings) validate() error {
	if s.Epochs < 0 || s.Batch < 0 || s.Height < 0 || s.Width < 0 || s.LR < 0 ||
		s.MinScale < 0 || s.MaxScale < s.MinScale || (s.MinScale == 0 && s.MaxScale != 0) ||
		s.MinConf < 0 || s.MinConf > 1 || math.IsNaN(s.LR) || math.IsNaN(s.WeightDecay) ||
		s.Height > 1<<14 || s.Width > 1<<14 || s.Batch > 1<<12 {
		return fmt.Errorf("segnet: invalid settings %+v", s)
	}
	return nil
}

// EpochStats summarises one training epoch.
type EpochStats struct {
	Epoch   int     // 1-based number of the epoch just finished
	Loss    float64 // mean training loss over the epoch's batches
	Images  int
	Seconds float64
}

// Trainer trains a Net epoch by epoch and can be checkpointed between
// epochs.
type Trainer struct {
	net *Net
	// src gives the samples: an Epoch fetches each batch's samples as it
	// builds the batch, so the trainer holds O(Batch) of them, not the set.
	src   Samples
	n     int  // src.Len() when the trainer was made
	pre   bool // src's samples are already shrunk (NewTrainer's in-memory slice)
	s     TrainSettings
	seed  uint64
	pcg   *rand.PCG
	rng   *rand.Rand
	opt   *adamW
	epoch int

	labels  []uint8
	weights []float32
	dlogits []float32
	onStep  func()
}

// Samples is a training set read one sample at a time, so that training
// need not hold the whole set in memory: a Trainer reads every sample once
// when it is made (for the input statistics and the checks) and then each
// epoch's samples batch by batch. Sample must return the same sample for
// the same i every time (training is then bit-for-bit that of the
// equivalent SampleSlice), and be safe for concurrent use (a batch's
// samples are fetched in parallel). Its errors should name the item.
type Samples interface {
	Len() int
	Sample(i int) (Sample, error)
}

// SampleSlice is an in-memory Samples.
type SampleSlice []Sample

// Len returns len(s).
func (s SampleSlice) Len() int { return len(s) }

// Sample returns s[i].
func (s SampleSlice) Sample(i int) (Sample, error) { return s[i], nil }

func checkSample(i int, d Sample, k int) error {
	if d.Image == nil || d.Mask == nil {
		return fmt.Errorf("segnet: sample %d: nil image or mask", i)
	}
	b := d.Image.Bounds()
	if b.Empty() || d.Mask.Bounds() != b || (d.Conf != nil && d.Conf.Bounds() != b) {
		return fmt.Errorf("segnet: sample %d: image %v, mask %v and confidence bounds differ or are empty",
			i, b, d.Mask.Bounds())
	}
	for _, v := range d.Mask.Pix {
		if v != Ignore && int(v) >= k {
			return fmt.Errorf("segnet: sample %d: label %d >= %d classes", i, v, k)
		}
	}
	return nil
}

// fetch reads samples idx of src in parallel (workers goroutines), checks
// them against k classes and, unless pre, shrinks them; the error is that
// of the first failing sample in idx order.
func fetch(src Samples, idx []int, k int, s TrainSettings, pre bool, out []Sample) error {
	errs := make([]error, len(idx))
	parallelFor(len(idx), s.Workers, func(_, j int) {
		d, err := src.Sample(idx[j])
		if err != nil {
			errs[j] = fmt.Errorf("segnet: sample %d: %w", idx[j], err)
			return
		}
		if errs[j] = checkSample(idx[j], d, k); errs[j] != nil {
			return
		}
		if !pre {
			d = shrinkOne(d, s)
		}
		out[j] = d
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// shrink returns data with every image that training would always shrink
// by more than 2x (even at MaxScale) resized once, with an antialiasing
// filter, to the size it has at MaxScale; masks and confidence by nearest
// neighbour. Bilinear sampling alone would alias on such images.
func shrink(data []Sample, s TrainSettings) []Sample {
	out := slices.Clone(data)
	for i, d := range out {
		out[i] = shrinkOne(d, s)
	}
	return out
}

// shrinkOne is shrink of one sample.
func shrinkOne(d Sample, s TrainSettings) Sample {
	b := d.Image.Bounds()
	z := max(float64(s.Height)/float64(b.Dy()), float64(s.Width)/float64(b.Dx())) * s.MaxScale
	if z >= 0.5 {
		return d
	}
	h, w := max(1, int(math.Round(float64(b.Dy())*z))), max(1, int(math.Round(float64(b.Dx())*z)))
	r := Sample{Image: imaging.Resize(d.Image, w, h, imaging.Linear)}
	r.Mask = image.NewPaletted(r.Image.Bounds(), d.Mask.Palette)
	nearest(d.Mask.Pix, d.Mask.Stride, d.Mask.PixOffset(b.Min.X, b.Min.Y), b.Dy(), b.Dx(), r.Mask.Pix, h, w)
	if d.Conf != nil {
		r.Conf = image.NewGray(r.Image.Bounds())
		nearest(d.Conf.Pix, d.Conf.Stride, d.Conf.PixOffset(b.Min.X, b.Min.Y), b.Dy(), b.Dx(), r.Conf.Pix, h, w)
	}
	return r
}

// ShrinkForTraining bounds the memory (and the cost of reading) of a
// sample: NewTrainer holds every sample in memory, NewStreamTrainer a
// few batches, but their crops never use more than
// a few hundred pixels of an image: the image is scaled to cover the crop
// and zoomed by at most MaxScale. ShrinkForTraining keeps at most twice
// that resolution (so bilinear sampling still sees all the
// detail it can use) and leaves smaller images untouched, bounding the
// memory per image (about 1 MB at the default 120 x 160 crop) whatever
// the size of the photographs: callers that load a dataset apply it to
// each sample as it is read, before the trainer sees it. ts gives the
// crop and MaxScale (zero fields: the defaults).
func ShrinkForTraining(s Sample, ts TrainSettings) Sample {
	ts = ts.withDefaults()
	cropH, cropW := ts.Height, ts.Width
	maxZoom := ts.MaxScale * 2
	b := s.Image.Bounds()
	f := max(float64(cropH)*maxZoom/float64(b.Dy()), float64(cropW)*maxZoom/float64(b.Dx()))
	if f >= 1 {
		return s
	}
	w := max(1, int(math.Ceil(float64(b.Dx())*f)))
	h := max(1, int(math.Ceil(float64(b.Dy())*f)))
	out := Sample{Image: imaging.Resize(s.Image, w, h, imaging.Linear)}
	m := image.NewPaletted(image.Rect(0, 0, w, h), s.Mask.Palette)
	var c *image.Gray
	if s.Conf != nil {
		c = image.NewGray(m.Rect)
	}
	// Labels are ids, not intensities: nearest neighbour, pixel centres.
	mb := s.Mask.Bounds()
	for y := range h {
		sy := mb.Min.Y + min(mb.Dy()-1, int((float64(y)+0.5)*float64(mb.Dy())/float64(h)))
		for x := range w {
			sx := mb.Min.X + min(mb.Dx()-1, int((float64(x)+0.5)*float64(mb.Dx())/float64(w)))
			m.Pix[y*m.Stride+x] = s.Mask.Pix[s.Mask.PixOffset(sx, sy)]
			if c != nil {
				c.Pix[y*c.Stride+x] = s.Conf.Pix[s.Conf.PixOffset(sx, sy)]
			}
		}
	}
	out.Mask, out.Conf = m, c
	return out
}

// nearest resizes an 8-bit plane (src from offset off, stride stride,
// ih x iw) to dst (oh x ow, packed) by nearest neighbour at pixel centres.
func nearest(src []uint8, stride, off, ih, iw int, dst []uint8, oh, ow int) {
	for y := range oh {
		sy := min(ih-1, (2*y+1)*ih/(2*oh))
		row := src[off+sy*stride:]
		for x := range ow {
			dst[y*ow+x] = row[min(iw-1, (2*x+1)*iw/(2*ow))]
		}
	}
}

// inputStats returns the per-channel mean and (unbiased) standard deviation
// of the n images imageAt(0..n-1) on the [0, 1] scale, like
// peers/segnet_ref.py. Both trainers (segmentation and SwAV) normalise their
// input with it.
func inputStats(n int, imageAt func(i int) *image.NRGBA) (mean, std [3]float32) {
	var a statsSum
	for i := range n {
		a.add(imageAt(i))
	}
	return a.stats()
}

// statsSum accumulates inputStats image by image, in order (the sums are
// floating point: the order fixes the result).
type statsSum struct {
	s, ss [3]float64
	cnt   float64
}

func (a *statsSum) add(img *image.NRGBA) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		o := img.PixOffset(b.Min.X, y)
		for x := range b.Dx() {
			for c := range 3 {
				v := float64(img.Pix[o+4*x+c]) / 255
				a.s[c] += v
				a.ss[c] += v * v
			}
		}
		a.cnt += float64(b.Dx())
	}
}

func (a *statsSum) stats() (mean, std [3]float32) {
	for c := range 3 {
		m := a.s[c] / a.cnt
		v := (a.ss[c] - a.cnt*m*m) / max(a.cnt-1, 1)
		mean[c], std[c] = float32(m), float32(math.Sqrt(max(v, 1e-6)))
	}
	return
}

// NewTrainer returns a trainer for a fresh network of architecture a, with
// the input normalisation computed from data. All randomness (initial
// weights, order, augmentation) comes from seed. It fails on invalid
// settings, architecture or data (mask labels must be < a.Classes or Ignore).
//
// The samples stay in memory, shrunk once (see ShrinkForTraining); for a
// set too large for that, NewStreamTrainer reads them as it needs them.
func NewTrainer(a Arch, data []Sample, s TrainSettings, seed uint64) (*Trainer, error) {
	t, err := NewStreamTrainer(a, SampleSlice(data), s, seed)
	if err != nil {
		return nil, err
	}
	t.src, t.pre = SampleSlice(shrink(data, t.s)), true
	return t, nil
}

// NewStreamTrainer is NewTrainer over samples read from src when needed:
// once here, in order, for the input statistics and the checks, then batch
// by batch in every Epoch, so that the trainer holds about Batch samples
// (plus up to Workers being read) whatever src.Len(). For the same samples
// it trains bit-for-bit as NewTrainer. An error of src.Sample is returned,
// naming the sample's index, here or by Epoch.
func NewStreamTrainer(a Arch, src Samples, s TrainSettings, seed uint64) (*Trainer, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	a.Input = [2]int{s.Height, s.Width}
	n := src.Len()
	if n == 0 {
		return nil, fmt.Errorf("segnet: no training samples")
	}
	// One pass: chunks read in parallel, summed in order.
	var sum statsSum
	chunk := max(s.Batch, s.Workers)
	buf := make([]Sample, chunk)
	idx := make([]int, chunk)
	for lo := 0; lo < n; lo += chunk {
		m := min(chunk, n-lo)
		for j := range m {
			idx[j] = lo + j
		}
		// Statistics are those of the samples as given, before shrinking.
		if err := fetch(src, idx[:m], a.Classes, s, true, buf); err != nil {
			return nil, err
		}
		for _, d := range buf[:m] {
			sum.add(d.Image)
		}
		clear(buf)
	}
	pcg := rand.NewPCG(seed, 0x5e9d15c0)
	t := &Trainer{src: src, n: n, s: s, seed: seed, pcg: pcg, rng: rand.New(pcg)}
	t.net = New(a, pcg)
	t.net.Workers = s.Workers
	t.net.SetNormalization(sum.stats())
	t.opt = newAdamW(t.net.params())
	return t, nil
}

// Net returns the network being trained (shared, not a copy).
func (t *Trainer) Net() *Net { return t.net }

// EpochsDone returns the number of finished epochs.
func (t *Trainer) EpochsDone() int { return t.epoch }

// Done reports whether all epochs have run.
func (t *Trainer) Done() bool { return t.epoch >= t.s.Epochs }

func (t *Trainer) stepsPerEpoch() int { return (t.n + t.s.Batch - 1) / t.s.Batch }

// Steps returns the optimiser steps taken so far and the steps of the
// whole schedule.
func (t *Trainer) Steps() (done, total int) {
	return t.epoch * t.stepsPerEpoch(), t.s.Epochs * t.stepsPerEpoch()
}

// OnStep, if set, is called after every optimiser step (on the goroutine
// running Epoch), for progress displays.
func (t *Trainer) OnStep(f func()) { t.onStep = f }

// augment describes one sample's random flip and scaled crop.
type augment struct {
	flip         bool
	zoom, oy, ox float64 // output pixel = 1/zoom source pixels; window origin in source pixels
}

func (t *Trainer) drawAugment(d Sample) augment {
	s := t.s
	b := d.Image.Bounds()
	ih, iw := float64(b.Dy()), float64(b.Dx())
	flip := t.rng.Float64() < 0.5 && !s.NoFlip
	u, fy, fx := t.rng.Float64(), t.rng.Float64(), t.rng.Float64()
	zoom := max(float64(s.Height)/ih, float64(s.Width)/iw) * (s.MinScale + u*(s.MaxScale-s.MinScale))
	wh, ww := float64(s.Height)/zoom, float64(s.Width)/zoom
	oy := min(0, ih-wh) + fy*math.Abs(ih-wh)
	ox := min(0, iw-ww) + fx*math.Abs(iw-ww)
	return augment{flip, zoom, oy, ox}
}

// sample renders sample d through augmentation a into the normalised input
// x [3, H, W], labels [H, W] and weights [H, W] (nil if unweighted).
// Pixels outside the image are 0 (the mean) and Ignore.
func (t *Trainer) sample(d Sample, a augment, x []float32, labels []uint8, weights []float32) {
	H, W := t.s.Height, t.s.Width
	b := d.Image.Bounds()
	ih, iw := b.Dy(), b.Dx()
	n := t.net
	var sc, off [3]float32
	for c := range 3 {
		sc[c] = 1 / (255 * n.std[c])
		off[c] = -n.mean[c] / n.std[c]
	}
	minConf := uint8(math.Ceil(t.s.MinConf * 255))
	for y := range H {
		sy := a.oy + (float64(y)+0.5)/a.zoom - 0.5
		iny := sy >= -0.5 && sy < float64(ih)-0.5
		cy := min(max(sy, 0), float64(ih-1))
		y0 := int(cy)
		y1 := min(y0+1, ih-1)
		ly := float32(cy - float64(y0))
		ny := min(max(int(math.Floor(sy+0.5)), 0), ih-1)
		for xo := range W {
			xx := xo
			if a.flip {
				xx = W - 1 - xo
			}
			sx := a.ox + (float64(xx)+0.5)/a.zoom - 0.5
			p := y*W + xo
			if !iny || sx < -0.5 || sx >= float64(iw)-0.5 {
				for c := range 3 {
					x[c*H*W+p] = 0
				}
				labels[p] = Ignore
				if weights != nil {
					weights[p] = 0
				}
				continue
			}
			cx := min(max(sx, 0), float64(iw-1))
			x0 := int(cx)
			x1 := min(x0+1, iw-1)
			lx := float32(cx - float64(x0))
			r0, r1 := d.Image.PixOffset(b.Min.X, b.Min.Y+y0), d.Image.PixOffset(b.Min.X, b.Min.Y+y1)
			for c := range 3 {
				v00, v01 := float32(d.Image.Pix[r0+4*x0+c]), float32(d.Image.Pix[r0+4*x1+c])
				v10, v11 := float32(d.Image.Pix[r1+4*x0+c]), float32(d.Image.Pix[r1+4*x1+c])
				top := v00 + lx*(v01-v00)
				bot := v10 + lx*(v11-v10)
				x[c*H*W+p] = (top+ly*(bot-top))*sc[c] + off[c]
			}
			nx := min(max(int(math.Floor(sx+0.5)), 0), iw-1)
			lab := d.Mask.Pix[d.Mask.PixOffset(b.Min.X+nx, b.Min.Y+ny)]
			conf := uint8(255)
			if d.Conf != nil {
				conf = d.Conf.Pix[d.Conf.PixOffset(b.Min.X+nx, b.Min.Y+ny)]
			}
			if conf < minConf {
				lab = Ignore
			}
			labels[p] = lab
			if weights != nil {
				weights[p] = float32(conf) / 255
			}
		}
	}
}

// Epoch trains one epoch: a seeded permutation of the samples, batches of
// Batch images (the last may be smaller), each augmented, one AdamW step
// per batch. If ctx is cancelled it returns ctx.Err(), and if a sample
// cannot be read, that error; either after the first batch leaves the
// trainer mid-epoch: resume from the last Checkpoint.
func (t *Trainer) Epoch(ctx context.Context) (EpochStats, error) {
	if t.Done() {
		return EpochStats{}, fmt.Errorf("segnet: all %d epochs done", t.s.Epochs)
	}
	if err := ctx.Err(); err != nil {
		return EpochStats{}, err // before drawing anything: the trainer is unchanged
	}
	start := time.Now()
	s := t.s
	if n := t.src.Len(); n != t.n {
		return EpochStats{}, fmt.Errorf("segnet: %d samples, %d when training started", n, t.n)
	}
	perm := t.rng.Perm(t.n)
	H, W := s.Height, s.Width
	hw := H * W
	k := t.net.arch.Classes
	total := s.Epochs * t.stepsPerEpoch()
	ps := t.net.params()
	var lossSum float64
	batch := make([]Sample, s.Batch)
	for lo := 0; lo < len(perm); lo += s.Batch {
		if err := ctx.Err(); err != nil {
			return EpochStats{}, err
		}
		idx := perm[lo:min(lo+s.Batch, len(perm))]
		bn := len(idx)
		clear(batch) // the previous batch's samples can go
		if err := fetch(t.src, idx, k, s, t.pre, batch); err != nil {
			return EpochStats{}, err
		}
		augs := make([]augment, bn)
		for j := range idx {
			augs[j] = t.drawAugment(batch[j])
		}
		t.net.alloc(bn, H, W, H, W)
		t.labels = slices.Grow(t.labels[:0], bn*hw)[:bn*hw]
		var weights []float32
		if s.ConfWeight {
			t.weights = grow(t.weights, bn*hw)
			weights = t.weights
		}
		parallelFor(bn, s.Workers, func(_, j int) {
			var wj []float32
			if weights != nil {
				wj = weights[j*hw : (j+1)*hw]
			}
			t.sample(batch[j], augs[j], t.net.input[j*3*hw:(j+1)*3*hw], t.labels[j*hw:(j+1)*hw], wj)
		})
		logits := t.net.forward()
		t.dlogits = grow(t.dlogits, len(logits))
		loss, _ := crossEntropy(logits, t.labels, weights, bn, k, hw, t.dlogits, s.Workers)
		t.net.zeroGrad()
		t.net.backward(t.dlogits, nil)
		t.opt.update(ps, cosineLR(s.LR, t.opt.step, total), max(0, s.WeightDecay), s.Workers)
		lossSum += loss * float64(bn)
		if t.onStep != nil {
			t.onStep()
		}
	}
	t.epoch++
	return EpochStats{Epoch: t.epoch, Loss: lossSum / float64(len(perm)), Images: len(perm),
		Seconds: time.Since(start).Seconds()}, nil
}

// Checkpoint is a trainer's complete state after an epoch: the network's
// StateDict, the AdamW moments as "optim.<param>.exp_avg" and
// "optim.<param>.exp_avg_sq", and metadata strings: "segnet.arch"
// (Arch.MarshalText), "segnet.epoch", "segnet.step", "segnet.seed",
// "segnet.rng" (hex of the PCG state), "segnet.settings" (JSON).
type Checkpoint struct {
	Tensors []Tensor
	Meta    map[string]string
}

// Checkpoint returns a copy of the trainer's state.
func (t *Trainer) Checkpoint() Checkpoint {
	ts := t.net.StateDict()
	for i, p := range t.net.params() {
		ts = append(ts, Tensor{"optim." + p.name + ".exp_avg", slices.Clone(p.shape), slices.Clone(t.opt.m[i])},
			Tensor{"optim." + p.name + ".exp_avg_sq", slices.Clone(p.shape), slices.Clone(t.opt.v[i])})
	}
	arch, _ := t.net.Arch().MarshalText()
	rng, _ := t.pcg.MarshalBinary()
	set, _ := json.Marshal(t.s)
	return Checkpoint{Tensors: ts, Meta: map[string]string{
		"segnet.arch":     string(arch),
		"segnet.epoch":    strconv.Itoa(t.epoch),
		"segnet.step":     strconv.Itoa(t.opt.step),
		"segnet.seed":     strconv.FormatUint(t.seed, 10),
		"segnet.rng":      hex.EncodeToString(rng),
		"segnet.settings": string(set),
	}}
}

// ResumeTrainer rebuilds a trainer from a Checkpoint and the same samples in
// the same order. workers as in TrainSettings.Workers; any count gives
// bit-for-bit the result of an uninterrupted run.
func ResumeTrainer(c Checkpoint, data []Sample, workers int) (*Trainer, error) {
	return resume(c, workers, func(a Arch, s TrainSettings, seed uint64) (*Trainer, error) {
		return NewTrainer(a, data, s, seed)
	})
}

// ResumeStreamTrainer is ResumeTrainer for a trainer made by
// NewStreamTrainer (either trainer's checkpoint resumes with either).
func ResumeStreamTrainer(c Checkpoint, src Samples, workers int) (*Trainer, error) {
	return resume(c, workers, func(a Arch, s TrainSettings, seed uint64) (*Trainer, error) {
		return NewStreamTrainer(a, src, s, seed)
	})
}

// ErrCheckpoint marks a checkpoint that cannot be resumed (malformed, or
// from other settings); errors of the samples are not wrapped with it, so
// a caller can tell "start over" from "the data are broken".
var ErrCheckpoint = errors.New("segnet: checkpoint unusable")

func badCheckpoint(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCheckpoint}, a...)...)
}

func resume(c Checkpoint, workers int, fresh func(Arch, TrainSettings, uint64) (*Trainer, error)) (*Trainer, error) {
	var a Arch
	if err := a.UnmarshalText([]byte(c.Meta["segnet.arch"])); err != nil {
		return nil, badCheckpoint("%w", err)
	}
	var s TrainSettings
	if err := json.Unmarshal([]byte(c.Meta["segnet.settings"]), &s); err != nil {
		return nil, badCheckpoint("settings: %w", err)
	}
	s.Workers = workers
	epoch, err1 := strconv.Atoi(c.Meta["segnet.epoch"])
	step, err2 := strconv.Atoi(c.Meta["segnet.step"])
	seed, err3 := strconv.ParseUint(c.Meta["segnet.seed"], 10, 64)
	rs, err4 := hex.DecodeString(c.Meta["segnet.rng"])
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return nil, badCheckpoint("metadata: %w", err)
		}
	}
	t, err := fresh(a, s, seed)
	if err != nil {
		return nil, err
	}
	if err := t.pcg.UnmarshalBinary(rs); err != nil {
		return nil, badCheckpoint("rng: %w", err)
	}
	var net, opt []Tensor
	for _, x := range c.Tensors {
		if len(x.Name) > 6 && x.Name[:6] == "optim." {
			opt = append(opt, x)
		} else {
			net = append(net, x)
		}
	}
	if err := t.net.LoadStateDict(net); err != nil {
		return nil, badCheckpoint("%w", err)
	}
	byName := make(map[string]Tensor, len(opt))
	for _, x := range opt {
		byName[x.Name] = x
	}
	for i, p := range t.net.params() {
		m, ok1 := byName["optim."+p.name+".exp_avg"]
		v, ok2 := byName["optim."+p.name+".exp_avg_sq"]
		if !ok1 || !ok2 || len(m.Data) != len(p.v) || len(v.Data) != len(p.v) {
			return nil, badCheckpoint("optimiser state for %q missing or mis-shaped", p.name)
		}
		copy(t.opt.m[i], m.Data)
		copy(t.opt.v[i], v.Data)
	}
	if len(opt) != 2*len(t.opt.m) {
		return nil, badCheckpoint("%d optimiser tensors, want %d", len(opt), 2*len(t.opt.m))
	}
	if epoch < 0 || epoch > s.withDefaults().Epochs || step < 0 {
		return nil, badCheckpoint("epoch %d step %d out of range", epoch, step)
	}
	t.epoch, t.opt.step = epoch, step
	return t, nil
}

// LoadBody copies the body of src (every layer's convolution and BN
// parameters and BN running statistics) into the trainer's network, which
// keeps its freshly initialised head and its own input normalisation. It is
// how a DeepCluster round starts (Caron et al. 2018): the body learnt in the
// previous round, a new classifier for the new labels. It must be called
// before the first epoch; the layers of src must be the trainer's.
func (t *Trainer) LoadBody(src *Net) error {
	if t.epoch > 0 || t.opt.step > 0 {
		return fmt.Errorf("segnet: LoadBody after training started")
	}
	if !slices.Equal(src.arch.Layers, t.net.arch.Layers) {
		return fmt.Errorf("segnet: LoadBody: body %v, want %v", src.arch.Layers, t.net.arch.Layers)
	}
	ts := t.net.StateDict()
	from := make(map[string]Tensor)
	for _, x := range src.StateDict() {
		from[x.Name] = x
	}
	for i, x := range ts {
		if y, ok := from[x.Name]; ok && strings.HasPrefix(x.Name, "layers.") {
			ts[i] = y
		}
	}
	return t.net.LoadStateDict(ts)
}
