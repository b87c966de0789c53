package segnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/disintegration/imaging"
)

// SwAVImage is one training image for SwAV, already at the working
// resolution (see WorkingSize), with the centres (x, y), in its pixel
// coordinates, of the superpixels that views are centred on.
type SwAVImage struct {
	Image   *image.NRGBA
	Centers [][2]float32
}

// SwAVLayers is the default SwAV body: stride 4 overall, 64 channels. The
// dense features are the output of layer SwAVSettings.FeatureLayer (the
// last by default). The projection head is SwAV's: the body's output
// average-pooled over the view, Linear(C, ProjHidden), BatchNorm1d, ReLU,
// Linear(ProjHidden, ProjDim), then BatchNorm1d without affine parameters
// (SimSiam's projector, Chen and He 2021, also normalises its output layer:
// without it the few-thousand-view CPU batches start with embeddings so
// alike that the Sinkhorn codes are nearly uniform and training drifts to
// uniform predictions). Its first linear layer is the Net's 1x1
// head, applied before the pooling (the two commute).
var SwAVLayers = []LayerSpec{{32, 2, 1}, {64, 2, 1}, {64, 1, 1}, {64, 1, 2}}

// SwAVSettings configures SwAV training; the zero value means the defaults
// documented on each field.
type SwAVSettings struct {
	Layers       []LayerSpec `json:"layers"`        // body; nil: SwAVLayers
	FeatureLayer int         `json:"feature_layer"` // 1-based index of the body layer giving the dense features; 0: len(Layers)
	ProjHidden   int         `json:"proj_hidden"`   // hidden width of the projection head; 0: 128
	ProjDim      int         `json:"proj_dim"`      // embedding dimension; 0: 64
	Prototypes   int         `json:"prototypes"`    // 0: 64
	Temperature  float64     `json:"temperature"`   // softmax temperature τ; 0: 0.1
	Epsilon      float64     `json:"epsilon"`       // Sinkhorn entropic regularisation; 0: 0.05
	Sinkhorn     int         `json:"sinkhorn"`      // Sinkhorn-Knopp iterations; 0: 3
	// Queue is the number of recent global embeddings per global view kept
	// to compute codes over (CPU batches are small); 0: 8 batches' worth;
	// < 0: none. It is used from step QueueStart (0: Steps/4) once full.
	Queue      int `json:"queue"`
	QueueStart int `json:"queue_start"`
	// FreezeSteps: the prototypes are not updated during the first steps;
	// 0: Steps/10; < 0: none.
	FreezeSteps int     `json:"freeze_steps"`
	Steps       int     `json:"steps"`        // optimiser steps; 0: 150
	Batch       int     `json:"batch"`        // sampled superpixels per step (each gives 2 global and Locals local views); 0: 32
	LR          float64 `json:"lr"`           // peak AdamW learning rate, cosine-decayed; 0: 2e-3
	WeightDecay float64 `json:"weight_decay"` // on conv weights; 0: 1e-4; < 0: none
	GlobalSize  int     `json:"global_size"`  // side of global views in pixels; 0: 64
	LocalSize   int     `json:"local_size"`   // side of local views; 0: 32
	Locals      int     `json:"locals"`       // local views per superpixel; 0: 4; < 0: none
	// MinScale, MaxScale: a view's window in the source image is its size
	// times a log-uniform factor in [MinScale, MaxScale] (0, 0: 0.7, 1.4),
	// so that the training crops keep about the pixel scale at which the
	// features are computed (the whole image at the working resolution).
	MinScale float64 `json:"min_scale"`
	MaxScale float64 `json:"max_scale"`
	// Jitter is the strength of the colour jitter (brightness, contrast,
	// saturation by factors in [1-Jitter, 1+Jitter], hue by ±Jitter/4 of a
	// turn), applied with probability 0.8; 0: 0.4; < 0: none. Grayscale
	// with probability 0.2, Gaussian blur (σ in [0.1, 1.5] px) on global
	// views with probability 0.5, horizontal flip with probability 0.5.
	Jitter  float64 `json:"jitter"`
	Workers int     `json:"-"` // 0: GOMAXPROCS; results do not depend on it
}

func (s SwAVSettings) withDefaults() SwAVSettings {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if s.Layers == nil {
		s.Layers = slices.Clone(SwAVLayers)
	}
	def(&s.FeatureLayer, len(s.Layers))
	def(&s.ProjHidden, 128)
	def(&s.ProjDim, 64)
	def(&s.Prototypes, 64)
	def(&s.Sinkhorn, 3)
	def(&s.Steps, DefaultSwAVSteps)
	def(&s.Batch, 32)
	def(&s.Queue, 8*s.Batch)
	def(&s.QueueStart, s.Steps/4)
	def(&s.FreezeSteps, max(1, s.Steps/10))
	def(&s.GlobalSize, 64)
	def(&s.LocalSize, 32)
	def(&s.Locals, 4)
	if s.Temperature == 0 {
		s.Temperature = 0.1
	}
	if s.Epsilon == 0 {
		s.Epsilon = 0.05
	}
	if s.LR == 0 {
		s.LR = 2e-3
	}
	if s.WeightDecay == 0 {
		s.WeightDecay = 1e-4
	}
	if s.MinScale == 0 && s.MaxScale == 0 {
		s.MinScale, s.MaxScale = 0.7, 1.4
	}
	if s.Jitter == 0 {
		s.Jitter = 0.4
	}
	if s.Workers <= 0 {
		s.Workers = runtime.GOMAXPROCS(0)
	}
	return s
}

func (s SwAVSettings) validate() error {
	if s.FeatureLayer < 1 || s.FeatureLayer > len(s.Layers) || s.ProjDim < 1 || s.ProjDim > 4096 || s.ProjHidden < 1 || s.ProjHidden > 255 ||
		s.Prototypes < 2 || s.Prototypes > 4096 || !(s.Temperature > 0) || !(s.Epsilon > 0) ||
		s.Sinkhorn < 1 || s.Steps < 1 || s.Batch < 2 || s.Batch > 4096 || !(s.LR > 0) ||
		s.GlobalSize < 4 || s.GlobalSize > 1024 || s.LocalSize < 4 || s.LocalSize > 1024 ||
		s.Locals > 64 || !(s.MinScale > 0) || s.MaxScale < s.MinScale || s.Jitter > 1 || s.Queue > 1<<16 {
		return fmt.Errorf("segnet: invalid SwAV settings %+v", s)
	}
	return Arch{Classes: s.ProjHidden, Layers: s.Layers}.Validate()
}

// WorkingSize returns the size an image of h x w is resized to for SwAV
// training and features: about area pixels, aspect ratio kept, never
// enlarged.
func WorkingSize(h, w, area int) (int, int) {
	if h*w <= area {
		return h, w
	}
	z := math.Sqrt(float64(area) / float64(h*w))
	return max(1, int(math.Round(float64(h)*z))), max(1, int(math.Round(float64(w)*z)))
}

// SwAV trains a Net without labels by swapped prediction of Sinkhorn codes
// between views of the same superpixel (Caron et al. 2020). The Net's 1x1
// head is the first linear layer of the projection; its Classes is
// ProjHidden.
type SwAV struct {
	net     *Net
	pbn     *bnReLU   // projection BatchNorm1d + ReLU (hw = 1)
	pout    *conv1    // projection output layer (a Linear: hw = 1)
	obn     *bnReLU   // BatchNorm1d of the output, without affine parameters or ReLU
	protos  []float32 // [P, D], rows normalised at the start of each step
	dprotos []float32
	s       SwAVSettings
	seed    uint64
	pcg     *rand.PCG
	rng     *rand.Rand
	opt     *adamW
	step    int
	data    []SwAVImage
	cum     []int        // cum[i] = superpixel centres in data[:i+1]
	queue   [2][]float32 // per global view: [Queue, D], newest first
	qfill   int
}

// SwAVStats reports one step.
type SwAVStats struct {
	Step    int
	Loss    float64
	Entropy float64 // entropy (nats) of the batch's argmax prototypes over both global views
}

// NewSwAV returns a SwAV trainer for a fresh network; all randomness
// (weights, views, augmentations) comes from seed.
func NewSwAV(data []SwAVImage, s SwAVSettings, seed uint64) (*SwAV, error) {
	s = s.withDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}
	t := &SwAV{s: s, seed: seed, data: data}
	total := 0
	for i, d := range data {
		if d.Image == nil || d.Image.Bounds().Empty() {
			return nil, fmt.Errorf("segnet: SwAV image %d is empty", i)
		}
		total += len(d.Centers)
		t.cum = append(t.cum, total)
	}
	if total == 0 {
		return nil, fmt.Errorf("segnet: SwAV: no superpixel centres to sample views from")
	}
	t.pcg = rand.NewPCG(seed, 0x5a5a7c0de)
	t.rng = rand.New(t.pcg)
	t.net = New(Arch{Classes: s.ProjHidden, Layers: s.Layers}, t.pcg)
	t.net.Workers = s.Workers
	t.net.SetNormalization(inputStats(len(data), func(i int) *image.NRGBA { return data[i].Image }))
	t.pbn = newBNReLU(s.ProjHidden)
	hd, od := s.ProjHidden, s.ProjDim
	t.pout = &conv1{in: hd, out: od, w: make([]float32, od*hd), dw: make([]float32, od*hd), b: make([]float32, od), db: make([]float32, od)}
	bound := 1 / math.Sqrt(float64(hd))
	for _, v := range [][]float32{t.pout.w, t.pout.b} {
		for i := range v {
			v[i] = float32((2*t.rng.Float64() - 1) * bound)
		}
	}
	t.obn = newBNReLU(od)
	t.obn.noReLU = true
	p, d := s.Prototypes, s.ProjDim
	t.protos = make([]float32, p*d)
	for i := range t.protos {
		t.protos[i] = float32(t.rng.NormFloat64())
	}
	normalizeRows(t.protos, p, d)
	t.dprotos = make([]float32, p*d)
	if s.Queue > 0 {
		t.queue[0] = make([]float32, s.Queue*d)
		t.queue[1] = make([]float32, s.Queue*d)
	}
	t.opt = newAdamW(t.params())
	return t, nil
}

func (t *SwAV) params() []param {
	hd, od := t.s.ProjHidden, t.s.ProjDim
	return append(t.net.params(),
		param{"projection_bn.weight", []int{hd}, t.pbn.g, t.pbn.dg, false},
		param{"projection_bn.bias", []int{hd}, t.pbn.b, t.pbn.db, false},
		param{"projection_out.weight", []int{od, hd}, t.pout.w, t.pout.dw, true},
		param{"projection_out.bias", []int{od}, t.pout.b, t.pout.db, false},
		param{"prototypes.weight", []int{t.s.Prototypes, od}, t.protos, t.dprotos, false})
}

// buffers are the projection BN's running statistics (unused by training
// and features, kept so that the head can be exported whole).
func (t *SwAV) buffers() []param {
	hd := t.s.ProjHidden
	return []param{{name: "projection_bn.running_mean", shape: []int{hd}, v: t.pbn.runMean},
		{name: "projection_bn.running_var", shape: []int{hd}, v: t.pbn.runVar}}
}

// Net returns the network being trained (shared).
func (t *SwAV) Net() *Net { return t.net }

// Prototypes returns a copy of the prototypes [Prototypes, ProjDim].
func (t *SwAV) Prototypes() []float32 { return slices.Clone(t.protos) }

// Settings returns the settings with defaults filled in.
func (t *SwAV) Settings() SwAVSettings { return t.s }

// StepsDone returns the number of steps taken.
func (t *SwAV) StepsDone() int { return t.step }

// Done reports whether all steps have run.
func (t *SwAV) Done() bool { return t.step >= t.s.Steps }

func normalizeRows(c []float32, p, d int) {
	for k := range p {
		row := c[k*d : (k+1)*d]
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		inv := 1 / max(math.Sqrt(s), 1e-12)
		for j := range row {
			row[j] = float32(float64(row[j]) * inv)
		}
	}
}

// view is one random view: a window of an image and its augmentations.
type view struct {
	img                     int
	cx, cy, sw, sh          float64 // window centre and size, source pixels
	flip, jit, gray         bool
	bright, contr, sat, hue float64
	sigma                   float64 // blur; 0: none
	order                   [4]int  // order of the jitter operations
}

func (t *SwAV) drawCenter() (int, float64, float64) {
	n := t.cum[len(t.cum)-1]
	j := t.rng.IntN(n)
	i, _ := slices.BinarySearch(t.cum, j+1)
	lo := 0
	if i > 0 {
		lo = t.cum[i-1]
	}
	c := t.data[i].Centers[j-lo]
	return i, float64(c[0]), float64(c[1])
}

func (t *SwAV) drawView(img int, cx, cy float64, size int, global bool) view {
	s := t.s
	r := t.rng
	lr := math.Log(s.MinScale) + r.Float64()*(math.Log(s.MaxScale)-math.Log(s.MinScale))
	ar := math.Exp((2*r.Float64() - 1) * math.Log(4.0/3))
	side := float64(size) * math.Exp(lr)
	v := view{img: img, sw: side * math.Sqrt(ar), sh: side / math.Sqrt(ar)}
	// The superpixel stays in the view, not always at its centre.
	v.cx = cx + (r.Float64()-0.5)*0.5*v.sw
	v.cy = cy + (r.Float64()-0.5)*0.5*v.sh
	v.flip = r.Float64() < 0.5
	if s.Jitter > 0 {
		v.jit = r.Float64() < 0.8
		v.bright = 1 + (2*r.Float64()-1)*s.Jitter
		v.contr = 1 + (2*r.Float64()-1)*s.Jitter
		v.sat = 1 + (2*r.Float64()-1)*s.Jitter
		v.hue = (2*r.Float64() - 1) * s.Jitter / 4
		perm := r.Perm(4)
		copy(v.order[:], perm)
		v.gray = r.Float64() < 0.2
	}
	if global && r.Float64() < 0.5 {
		v.sigma = 0.1 + 1.4*r.Float64()
	}
	return v
}

// render writes view v at size x size into dst [3, size, size], normalised
// with the network's input statistics.
func (t *SwAV) render(v view, size int, dst []float32) {
	img := t.data[v.img].Image
	b := img.Bounds()
	ih, iw := b.Dy(), b.Dx()
	hw := size * size
	x0 := v.cx - v.sw/2
	y0 := v.cy - v.sh/2
	for y := range size {
		sy := min(max(y0+(float64(y)+0.5)*v.sh/float64(size)-0.5, 0), float64(ih-1))
		ya := int(sy)
		yb := min(ya+1, ih-1)
		ly := float32(sy - float64(ya))
		ra, rb := img.PixOffset(b.Min.X, b.Min.Y+ya), img.PixOffset(b.Min.X, b.Min.Y+yb)
		for x := range size {
			xx := x
			if v.flip {
				xx = size - 1 - x
			}
			sx := min(max(x0+(float64(xx)+0.5)*v.sw/float64(size)-0.5, 0), float64(iw-1))
			xa := int(sx)
			xb := min(xa+1, iw-1)
			lx := float32(sx - float64(xa))
			for c := range 3 {
				p00, p01 := float32(img.Pix[ra+4*xa+c]), float32(img.Pix[ra+4*xb+c])
				p10, p11 := float32(img.Pix[rb+4*xa+c]), float32(img.Pix[rb+4*xb+c])
				top := p00 + lx*(p01-p00)
				bot := p10 + lx*(p11-p10)
				dst[c*hw+y*size+x] = (top + ly*(bot-top)) / 255
			}
		}
	}
	r, g, bl := dst[:hw], dst[hw:2*hw], dst[2*hw:3*hw]
	if v.jit {
		for _, op := range v.order {
			switch op {
			case 0:
				scaleClamp(r, g, bl, float32(v.bright))
			case 1:
				var m float64
				for i := range hw {
					m += float64(luma(r[i], g[i], bl[i]))
				}
				mf := float32(m / float64(hw))
				c := float32(v.contr)
				for i := range hw {
					r[i], g[i], bl[i] = clamp01(mf+(r[i]-mf)*c), clamp01(mf+(g[i]-mf)*c), clamp01(mf+(bl[i]-mf)*c)
				}
			case 2:
				sat := float32(v.sat)
				for i := range hw {
					l := luma(r[i], g[i], bl[i])
					r[i], g[i], bl[i] = clamp01(l+(r[i]-l)*sat), clamp01(l+(g[i]-l)*sat), clamp01(l+(bl[i]-l)*sat)
				}
			case 3:
				hueRotate(r, g, bl, 2*math.Pi*v.hue)
			}
		}
	}
	if v.gray {
		for i := range hw {
			l := luma(r[i], g[i], bl[i])
			r[i], g[i], bl[i] = l, l, l
		}
	}
	if v.sigma > 0 {
		for _, p := range [][]float32{r, g, bl} {
			gaussBlur(p, size, v.sigma)
		}
	}
	n := t.net
	for c := range 3 {
		p := dst[c*hw : (c+1)*hw]
		m, s := n.mean[c], n.std[c]
		for i := range p {
			p[i] = (p[i] - m) / s
		}
	}
}

func clamp01(v float32) float32 { return min(max(v, 0), 1) }

func luma(r, g, b float32) float32 { return 0.299*r + 0.587*g + 0.114*b }

func scaleClamp(r, g, b []float32, f float32) {
	for i := range r {
		r[i], g[i], b[i] = clamp01(r[i]*f), clamp01(g[i]*f), clamp01(b[i]*f)
	}
}

// hueRotate rotates the chroma of each pixel by angle a in the YIQ plane.
func hueRotate(r, g, b []float32, a float64) {
	cs, sn := float32(math.Cos(a)), float32(math.Sin(a))
	for k := range r {
		y := 0.299*r[k] + 0.587*g[k] + 0.114*b[k]
		i := 0.596*r[k] - 0.274*g[k] - 0.322*b[k]
		q := 0.211*r[k] - 0.523*g[k] + 0.312*b[k]
		i, q = cs*i-sn*q, sn*i+cs*q
		r[k] = clamp01(y + 0.956*i + 0.621*q)
		g[k] = clamp01(y - 0.272*i - 0.647*q)
		b[k] = clamp01(y - 1.106*i + 1.703*q)
	}
}

// gaussBlur blurs a size x size plane in place with a separable Gaussian of
// standard deviation sigma, edges replicated.
func gaussBlur(p []float32, size int, sigma float64) {
	rad := int(math.Ceil(2 * sigma))
	k := make([]float32, 2*rad+1)
	var s float64
	for i := range k {
		d := float64(i - rad)
		v := math.Exp(-d * d / (2 * sigma * sigma))
		k[i] = float32(v)
		s += v
	}
	for i := range k {
		k[i] = float32(float64(k[i]) / s)
	}
	tmp := make([]float32, len(p))
	for y := range size {
		for x := range size {
			var a float32
			for i, w := range k {
				xx := min(max(x+i-rad, 0), size-1)
				a += w * p[y*size+xx]
			}
			tmp[y*size+x] = a
		}
	}
	for y := range size {
		for x := range size {
			var a float32
			for i, w := range k {
				yy := min(max(y+i-rad, 0), size-1)
				a += w * tmp[yy*size+x]
			}
			p[y*size+x] = a
		}
	}
}

// lowSize returns the size of the head's output for an input of h x w.
func (n *Net) lowSize(h, w int) (int, int) {
	for _, c := range n.convs {
		h, w = outSize(h, c.stride, c.dil), outSize(w, c.stride, c.dil)
	}
	return h, w
}

// embedding is the forward state of one group of views of the same size.
type embedding struct {
	rows   int
	pooled []float32 // [rows, ProjHidden]: pooled Net head output
	hidden []float32 // after the projection BN+ReLU
	out    []float32 // [rows, ProjDim]
	bn     []float32 // out after the output BatchNorm1d
	z      []float64 // bn in float64
}

// embedForward renders the views at size and runs the network and the
// projection head in training mode.
func (t *SwAV) embedForward(views []view, size int) *embedding {
	n := t.net
	bn := len(views)
	lh, lw := n.lowSize(size, size)
	n.alloc(bn, size, size, lh, lw)
	sz := 3 * size * size
	parallelFor(bn, t.s.Workers, func(_, j int) { t.render(views[j], size, n.input[j*sz:(j+1)*sz]) })
	logits := n.forward()
	return t.project(logits, bn, lh*lw)
}

// project runs the projection head on the Net head's output [rows, H, hw].
func (t *SwAV) project(logits []float32, rows, hw int) *embedding {
	hd, od := t.s.ProjHidden, t.s.ProjDim
	e := &embedding{rows: rows, pooled: make([]float32, rows*hd), hidden: make([]float32, rows*hd),
		out: make([]float32, rows*od), bn: make([]float32, rows*od), z: make([]float64, rows*od)}
	z1 := make([]float64, rows*hd)
	gapForward(logits, rows, hd, hw, z1)
	for i, v := range z1 {
		e.pooled[i] = float32(v)
	}
	t.pbn.forward(e.pooled, rows, 1, e.hidden, true, t.s.Workers)
	t.pout.forward(e.hidden, rows, 1, e.out, t.s.Workers)
	t.obn.forward(e.out, rows, 1, e.bn, true, t.s.Workers)
	for i, v := range e.bn {
		e.z[i] = float64(v)
	}
	return e
}

// headLoss computes the embeddings' scores and, with a target, the loss
// against it with row weight w, and then, if back, propagates its gradient
// through the projection head and the network (the last embedForward),
// adding the prototypes' gradient to dproto.
func (t *SwAV) headLoss(e *embedding, target []float64, w float64, dproto []float64, back bool) (loss float64, u, s []float64) {
	d, p := t.s.ProjDim, t.s.Prototypes
	rows := e.rows
	u = make([]float64, rows*d)
	norms := l2Normalize(e.z, rows, d, u)
	s = make([]float64, rows*p)
	scores(u, rows, d, t.protos, p, s)
	if target == nil {
		return 0, u, s
	}
	ws := make([]float64, rows)
	for i := range ws {
		ws[i] = w
	}
	ds := make([]float64, rows*p)
	loss = swappedCE(s, target, ws, rows, p, t.s.Temperature, ds)
	if !back {
		return loss, u, s
	}
	t.backward(e, ds, u, norms, dproto)
	return loss, u, s
}

// backward propagates the scores' gradient ds through the prototypes, the
// normalisation, the projection head and the network.
func (t *SwAV) backward(e *embedding, ds, u, norms, dproto []float64) {
	d, p, hd := t.s.ProjDim, t.s.Prototypes, t.s.ProjHidden
	rows := e.rows
	du := make([]float64, rows*d)
	scoresBackward(ds, u, rows, d, t.protos, p, du, dproto)
	dz := make([]float64, rows*d)
	l2NormalizeBackward(u, du, norms, rows, d, dz)
	dbn := make([]float32, rows*d)
	for i, v := range dz {
		dbn[i] = float32(v)
	}
	dout := make([]float32, rows*d)
	t.obn.backward(e.out, rows, 1, dbn, dout, t.s.Workers)
	dh := make([]float32, rows*hd)
	// Per-row gradient parts merged in row order, as in Net: the sum
	// does not depend on the worker count.
	t.pout.parts(rows)
	parallelFor(rows, t.s.Workers, func(_, j int) {
		t.pout.backwardImage(e.hidden[j*hd:(j+1)*hd], 1, dout[j*d:(j+1)*d], dh[j*hd:(j+1)*hd], j)
	})
	t.pout.reduce(rows)
	dp := make([]float32, rows*hd)
	t.pbn.backward(e.pooled, rows, 1, dh, dp, t.s.Workers)
	dp64 := make([]float64, rows*hd)
	for i, v := range dp {
		dp64[i] = float64(v)
	}
	n := t.net
	lhw := n.sizes[len(n.convs)][0] * n.sizes[len(n.convs)][1]
	dl := make([]float32, rows*hd*lhw)
	gapBackward(dp64, rows, hd, lhw, dl)
	n.backward(dl, nil)
}

// codes returns the Sinkhorn codes of global view v's batch scores s
// [B, P], over the batch and, once in use, the queue.
func (t *SwAV) codes(s []float64, v int) []float64 {
	d, p := t.s.ProjDim, t.s.Prototypes
	B := len(s) / p
	all := s
	if t.s.Queue > 0 && t.step >= t.s.QueueStart && t.qfill >= t.s.Queue {
		q := t.s.Queue
		all = make([]float64, (B+q)*p)
		copy(all, s)
		qu := make([]float64, q*d)
		for i, x := range t.queue[v] {
			qu[i] = float64(x)
		}
		scores(qu, q, d, t.protos, p, all[B*p:])
	}
	return sinkhorn(all, len(all)/p, p, t.s.Epsilon, t.s.Sinkhorn, B)
}

// push puts the batch's normalised global embeddings u [B, D] of view v at
// the front of its queue.
func (t *SwAV) push(u []float64, v int) {
	q := t.queue[v]
	if len(q) == 0 {
		return
	}
	n := min(len(u), len(q))
	copy(q[n:], q[:len(q)-n])
	for i := range n {
		q[i] = float32(u[i])
	}
}

// Step takes one optimiser step: Batch superpixels are drawn, each gives
// two global and Locals local views; codes of the global views come from
// Sinkhorn-Knopp over the batch (and the queue); every view predicts the
// codes of the global views other than itself.
func (t *SwAV) Step(ctx context.Context) (SwAVStats, error) {
	if t.Done() {
		return SwAVStats{}, fmt.Errorf("segnet: all %d SwAV steps done", t.s.Steps)
	}
	if err := ctx.Err(); err != nil {
		return SwAVStats{}, err
	}
	s := t.s
	B, P, D := s.Batch, s.Prototypes, s.ProjDim
	L := max(s.Locals, 0)
	normalizeRows(t.protos, P, D)
	gv := make([]view, 2*B)
	lv := make([]view, L*B)
	for b := range B {
		img, cx, cy := t.drawCenter()
		gv[b] = t.drawView(img, cx, cy, s.GlobalSize, true)
		gv[B+b] = t.drawView(img, cx, cy, s.GlobalSize, true)
		for l := range L {
			lv[l*B+b] = t.drawView(img, cx, cy, s.LocalSize, false)
		}
	}
	t.net.zeroGrad()
	clear(t.pbn.dg)
	clear(t.pbn.db)
	clear(t.pout.dw)
	clear(t.pout.db)
	dproto := make([]float64, P*D)
	V := 2 + L
	zg := t.embedForward(gv, s.GlobalSize)
	_, ug, sg := t.headLoss(zg, nil, 0, nil, false)
	var q [2][]float64
	for v := range 2 {
		q[v] = t.codes(sg[v*B*P:(v+1)*B*P], v)
	}
	for v := range 2 {
		t.push(ug[v*B*D:(v+1)*B*D], v)
	}
	t.qfill = min(t.qfill+B, max(s.Queue, 0))
	// Loss = 1/(2(V-1)) Σ_{v global} Σ_{w≠v} mean_b CE(q_v, p_w).
	tg := make([]float64, 2*B*P)
	copy(tg, q[1])
	copy(tg[B*P:], q[0])
	w := 1 / (2 * float64(V-1) * float64(B))
	lossG, _, _ := t.headLoss(zg, tg, w, dproto, true)
	stats := SwAVStats{Step: t.step + 1, Loss: lossG, Entropy: codeEntropy(sg, 2*B, P)}
	if L > 0 {
		zl := t.embedForward(lv, s.LocalSize)
		tl := make([]float64, L*B*P)
		for l := range L {
			for i := range B * P {
				tl[l*B*P+i] = (q[0][i] + q[1][i]) / 2
			}
		}
		lossL, _, _ := t.headLoss(zl, tl, 2*w, dproto, true)
		stats.Loss += lossL
	}
	if t.step >= s.FreezeSteps || s.FreezeSteps < 0 {
		for i, g := range dproto {
			t.dprotos[i] = float32(g)
		}
	} else {
		clear(t.dprotos)
	}
	t.opt.update(t.params(), cosineLR(s.LR, t.step, s.Steps), max(0, s.WeightDecay), s.Workers)
	t.step++
	return stats, nil
}

// Checkpoint returns the trainer's complete state: the network's
// StateDict, "prototypes.weight", the AdamW moments "optim.<param>.exp_avg"
// and ".exp_avg_sq", the queues "queue.0", "queue.1" (when used), and
// metadata "segnet.arch", "swav.settings" (JSON), "swav.step", "swav.seed",
// "swav.rng" (hex of the PCG state), "swav.queue_fill".
func (t *SwAV) Checkpoint() Checkpoint {
	ts := t.net.StateDict()
	for _, p := range append(t.params()[len(t.net.params()):], t.buffers()...) {
		ts = append(ts, Tensor{p.name, slices.Clone(p.shape), slices.Clone(p.v)})
	}
	for i, p := range t.params() {
		ts = append(ts, Tensor{"optim." + p.name + ".exp_avg", slices.Clone(p.shape), slices.Clone(t.opt.m[i])},
			Tensor{"optim." + p.name + ".exp_avg_sq", slices.Clone(p.shape), slices.Clone(t.opt.v[i])})
	}
	for v := range 2 {
		if len(t.queue[v]) > 0 {
			ts = append(ts, Tensor{"queue." + strconv.Itoa(v), []int{t.s.Queue, t.s.ProjDim}, slices.Clone(t.queue[v])})
		}
	}
	arch, _ := t.net.Arch().MarshalText()
	rng, _ := t.pcg.MarshalBinary()
	set, _ := json.Marshal(t.s)
	return Checkpoint{Tensors: ts, Meta: map[string]string{
		"segnet.arch":     string(arch),
		"swav.settings":   string(set),
		"swav.step":       strconv.Itoa(t.step),
		"swav.seed":       strconv.FormatUint(t.seed, 10),
		"swav.rng":        hex.EncodeToString(rng),
		"swav.queue_fill": strconv.Itoa(t.qfill),
	}}
}

// ResumeSwAV rebuilds a trainer from a Checkpoint and the same data in the
// same order; any worker count gives bit for bit the result of an
// uninterrupted run.
func ResumeSwAV(c Checkpoint, data []SwAVImage, workers int) (*SwAV, error) {
	var s SwAVSettings
	if err := json.Unmarshal([]byte(c.Meta["swav.settings"]), &s); err != nil {
		return nil, fmt.Errorf("segnet: SwAV checkpoint settings: %w", err)
	}
	s.Workers = workers
	step, err1 := strconv.Atoi(c.Meta["swav.step"])
	seed, err2 := strconv.ParseUint(c.Meta["swav.seed"], 10, 64)
	rs, err3 := hex.DecodeString(c.Meta["swav.rng"])
	fill, err4 := strconv.Atoi(c.Meta["swav.queue_fill"])
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return nil, fmt.Errorf("segnet: SwAV checkpoint metadata: %w", err)
		}
	}
	t, err := NewSwAV(data, s, seed)
	if err != nil {
		return nil, err
	}
	if step < 0 || step > t.s.Steps || fill < 0 || fill > max(t.s.Queue, 0) {
		return nil, fmt.Errorf("segnet: SwAV checkpoint: step %d, queue fill %d out of range", step, fill)
	}
	if err := t.pcg.UnmarshalBinary(rs); err != nil {
		return nil, fmt.Errorf("segnet: SwAV checkpoint rng: %w", err)
	}
	byName := make(map[string]Tensor, len(c.Tensors))
	var net []Tensor
	for _, x := range c.Tensors {
		byName[x.Name] = x
		if !strings.HasPrefix(x.Name, "optim.") && !strings.HasPrefix(x.Name, "prototypes.") &&
			!strings.HasPrefix(x.Name, "queue.") && !strings.HasPrefix(x.Name, "projection_") {
			net = append(net, x)
		}
	}
	if err := t.net.LoadStateDict(net); err != nil {
		return nil, fmt.Errorf("segnet: SwAV checkpoint: %w", err)
	}
	get := func(name string, dst []float32) error {
		x, ok := byName[name]
		if !ok || len(x.Data) != len(dst) {
			return fmt.Errorf("segnet: SwAV checkpoint: tensor %q missing or mis-shaped", name)
		}
		copy(dst, x.Data)
		return nil
	}
	for _, p := range append(t.params(), t.buffers()...) {
		if !strings.HasPrefix(p.name, "layers.") && !strings.HasPrefix(p.name, "head.") {
			if err := get(p.name, p.v); err != nil {
				return nil, err
			}
		}
	}
	for i, p := range t.params() {
		if err := get("optim."+p.name+".exp_avg", t.opt.m[i]); err != nil {
			return nil, err
		}
		if err := get("optim."+p.name+".exp_avg_sq", t.opt.v[i]); err != nil {
			return nil, err
		}
	}
	for v := range 2 {
		if len(t.queue[v]) > 0 {
			if err := get("queue."+strconv.Itoa(v), t.queue[v]); err != nil {
				return nil, err
			}
		}
	}
	t.step, t.opt.step, t.qfill = step, step, fill
	return t, nil
}

// Encoder is a trained SwAV network used for dense features: the body up
// to FeatureLayer, run on an image resized to about Area pixels.
type Encoder struct {
	Net          *Net
	FeatureLayer int // 1-based
	Area         int
}

// Channels returns the number of feature channels.
func (e *Encoder) Channels() int { return e.Net.convs[e.FeatureLayer-1].out }

// DenseFeatures returns the feature map [C, fh, fw] of img (evaluation
// mode: BN running statistics). Not safe for concurrent use: give each
// goroutine its own Encoder (Clone).
func (e *Encoder) DenseFeatures(img *image.NRGBA) (f []float32, c, fh, fw int) {
	n := e.Net
	b := img.Bounds()
	h, w := WorkingSize(b.Dy(), b.Dx(), e.Area)
	if h != b.Dy() || w != b.Dx() {
		img = imaging.Resize(img, w, h, imaging.Linear)
	}
	lh, lw := n.lowSize(h, w)
	n.alloc(1, h, w, lh, lw)
	for _, bn := range n.bns {
		bn.evalCoef()
	}
	n.scratch(1, false)
	n.loadImage(img, h, w, n.input)
	for i := range e.FeatureLayer {
		n.convImage(i, 0, false, &n.ws[0])
	}
	fh, fw = n.sizes[e.FeatureLayer][0], n.sizes[e.FeatureLayer][1]
	c = e.Channels()
	return slices.Clone(n.act[e.FeatureLayer-1][:c*fh*fw]), c, fh, fw
}

// Clone returns an independent copy of e (same weights).
func (e *Encoder) Clone() *Encoder {
	n, err := FromState(e.Net.Arch(), e.Net.StateDict())
	if err != nil {
		panic(err) // a valid net's own state always loads
	}
	n.Workers = 1
	return &Encoder{Net: n, FeatureLayer: e.FeatureLayer, Area: e.Area}
}
