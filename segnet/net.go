package segnet

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
)

// LayerSpec is one conv3x3+BN+ReLU layer: Out channels, Stride (1 or 2),
// Dilation (>= 1; the zero padding equals the dilation).
type LayerSpec struct {
	Out      int `json:"out"`
	Stride   int `json:"stride"`
	Dilation int `json:"dilation"`
}

// DefaultLayers is the body of peers/segnet_ref.py.
var DefaultLayers = []LayerSpec{
	{32, 2, 1}, {64, 2, 1}, {64, 1, 1}, {64, 1, 2}, {64, 1, 4}, {64, 1, 1},
}

// Arch describes a network: Classes (K, 1..255) and the body Layers (nil
// means DefaultLayers). The input has 3 channels; a 1x1 head with bias maps
// the last layer to K logits, resized bilinearly to the input size.
//
// Input is the training crop size {height, width} in pixels, set by
// NewTrainer: Predict rescales each image the way training did (so that it
// just covers Input) and resizes the logits back. Zero means predicting at
// the image's own size.
type Arch struct {
	Classes int
	Layers  []LayerSpec
	Input   [2]int
}

func (a Arch) layers() []LayerSpec {
	if a.Layers == nil {
		return DefaultLayers
	}
	return a.Layers
}

// Validate reports whether the architecture can be built.
func (a Arch) Validate() error {
	if a.Classes < 1 || a.Classes > 255 {
		return fmt.Errorf("segnet: %d classes, want 1..255", a.Classes)
	}
	// The bounds keep a hostile weights file from requesting absurd
	// allocations; they are far above any CPU-sized network.
	if len(a.Layers) > 64 {
		return fmt.Errorf("segnet: %d layers, at most 64", len(a.Layers))
	}
	if a.Input[0] < 0 || a.Input[1] < 0 || a.Input[0] > 1<<14 || a.Input[1] > 1<<14 || (a.Input[0] == 0) != (a.Input[1] == 0) {
		return fmt.Errorf("segnet: input size %v", a.Input)
	}
	if a.Layers != nil && len(a.Layers) == 0 {
		return fmt.Errorf("segnet: no layers")
	}
	for i, l := range a.layers() {
		if l.Out < 1 || l.Out > 4096 || l.Stride < 1 || l.Stride > 2 || l.Dilation < 1 || l.Dilation > 256 {
			return fmt.Errorf("segnet: layer %d: invalid %+v", i, l)
		}
	}
	return nil
}

// archJSON is the encoded form of an Arch.
type archJSON struct {
	Format  string      `json:"format"`
	Classes int         `json:"classes"`
	Layers  []LayerSpec `json:"layers"`
	Input   [2]int      `json:"input"`
}

const archFormat = "segdiscover-segnet-v1"

// MarshalText encodes the architecture as JSON with the layers spelled out
// (for the "segnet.arch" metadata of a weights file), e.g.
// {"format":"segdiscover-segnet-v1","classes":8,"layers":[{"out":32,"stride":2,"dilation":1},...],"input":[240,320]}.
func (a Arch) MarshalText() ([]byte, error) {
	return json.Marshal(archJSON{archFormat, a.Classes, a.layers(), a.Input})
}

// UnmarshalText decodes MarshalText's output and validates it.
func (a *Arch) UnmarshalText(b []byte) error {
	var v archJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("segnet: architecture: %w", err)
	}
	if v.Format != archFormat {
		return fmt.Errorf("segnet: architecture format %q, want %s", v.Format, archFormat)
	}
	if v.Layers == nil {
		return fmt.Errorf("segnet: architecture without layers")
	}
	c := Arch{Classes: v.Classes, Layers: v.Layers, Input: v.Input}
	if err := c.Validate(); err != nil {
		return err
	}
	*a = c
	return nil
}

// Tensor is a named row-major float32 array; names follow PyTorch's
// state_dict keys.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Net is the network with its parameters, gradients and scratch buffers. A
// Net is not safe for concurrent use; it parallelises internally.
type Net struct {
	arch  Arch
	convs []*conv3
	bns   []*bnReLU
	head  *conv1
	mean  [3]float32 // input normalisation, on [0,1] pixel values
	std   [3]float32

	// Workers bounds the goroutines used by one forward/backward; <= 0
	// means GOMAXPROCS. Predictions do not depend on it.
	Workers int

	// activations of the last forward pass
	n, h, w int      // batch and input size
	oh, ow  int      // output (logits) size
	sizes   [][2]int // spatial size of the input to layer i, then of the head
	input   []float32
	// act[i] is convolution i's output: before BN in training (BN+ReLU
	// is applied per image where the next layer reads it, while it is in
	// cache), after BN+ReLU in evaluation.
	act    [][]float32
	low    []float32
	logits []float32
	up     *bilinear
	ga, gb []float32 // gradient ping-pong buffers
	ws     []scratch // per worker
	wsSize [5]int    // lengths of a worker's col, in, dz, gLow, up (dz and gLow: training)
}

// scratch is one worker's per-image buffers, sized for the largest layer.
type scratch struct {
	col  []float32 // im2col matrix, then column gradient
	in   []float32 // a layer's input after the previous BN+ReLU
	dz   []float32 // gradient before BN
	gLow []float32 // logits gradient at the head's resolution
	up   []float32 // bilinear scratch
	pred []float32 // prediction: K planes interpolated horizontally, then one output row of K
}

// New returns a network with PyTorch's default initialisation
// (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and the head bias; BN
// weight 1, bias 0) and identity input normalisation (mean 0, std 1). It
// panics if a is invalid.
func New(a Arch, src rand.Source) *Net {
	if err := a.Validate(); err != nil {
		panic(err)
	}
	rng := rand.New(src)
	uni := func(s []float32, fanIn int) {
		b := 1 / math.Sqrt(float64(fanIn))
		for i := range s {
			s[i] = float32((2*rng.Float64() - 1) * b)
		}
	}
	n := &Net{arch: Arch{Classes: a.Classes, Layers: slices.Clone(a.layers()), Input: a.Input}}
	in := 3
	for _, l := range n.arch.Layers {
		c := &conv3{in: in, out: l.Out, stride: l.Stride, dil: l.Dilation,
			w: make([]float32, l.Out*in*9), dw: make([]float32, l.Out*in*9)}
		uni(c.w, in*9)
		n.convs = append(n.convs, c)
		n.bns = append(n.bns, newBNReLU(l.Out))
		in = l.Out
	}
	n.head = &conv1{in: in, out: a.Classes, w: make([]float32, a.Classes*in), dw: make([]float32, a.Classes*in),
		b: make([]float32, a.Classes), db: make([]float32, a.Classes)}
	uni(n.head.w, in)
	uni(n.head.b, in)
	n.std = [3]float32{1, 1, 1}
	return n
}

// Arch returns the architecture with the layers spelled out.
func (n *Net) Arch() Arch {
	return Arch{Classes: n.arch.Classes, Layers: slices.Clone(n.arch.Layers), Input: n.arch.Input}
}

// SetNormalization sets the per-channel mean and standard deviation of the
// input on the [0, 1] scale (RGB). std must be positive.
func (n *Net) SetNormalization(mean, std [3]float32) {
	for _, s := range std {
		if !(s > 0) {
			panic("segnet: non-positive std")
		}
	}
	n.mean, n.std = mean, std
}

// param is a trainable tensor with its gradient.
type param struct {
	name  string
	shape []int
	v, g  []float32
	decay bool // weight decay applies (convolution weights)
}

func (n *Net) params() []param {
	var ps []param
	in := 3
	for i, c := range n.convs {
		b := n.bns[i]
		p := fmt.Sprintf("layers.%d.", i)
		ps = append(ps,
			param{p + "conv.weight", []int{c.out, in, 3, 3}, c.w, c.dw, true},
			param{p + "bn.weight", []int{c.out}, b.g, b.dg, false},
			param{p + "bn.bias", []int{c.out}, b.b, b.db, false})
		in = c.out
	}
	ps = append(ps, param{"head.weight", []int{n.head.out, in, 1, 1}, n.head.w, n.head.dw, true},
		param{"head.bias", []int{n.head.out}, n.head.b, n.head.db, false})
	return ps
}

func (n *Net) buffers() []param {
	var ps []param
	for i, b := range n.bns {
		p := fmt.Sprintf("layers.%d.bn.", i)
		ps = append(ps, param{name: p + "running_mean", shape: []int{b.c}, v: b.runMean},
			param{name: p + "running_var", shape: []int{b.c}, v: b.runVar})
	}
	ps = append(ps, param{name: "input.mean", shape: []int{3}, v: n.mean[:]},
		param{name: "input.std", shape: []int{3}, v: n.std[:]})
	return ps
}

// StateDict returns copies of the weights, the BN running statistics and the
// input normalisation: "layers.<i>.conv.weight" [O,I,3,3],
// "layers.<i>.bn.{weight,bias,running_mean,running_var}" [O],
// "head.weight" [K,C,1,1], "head.bias" [K], "input.mean", "input.std" [3].
// The layer names match a PyTorch module with a ModuleList "layers" of
// modules with "conv" and "bn" members and a "head" Conv2d.
func (n *Net) StateDict() []Tensor {
	var ts []Tensor
	for _, p := range append(n.params(), n.buffers()...) {
		ts = append(ts, Tensor{p.name, slices.Clone(p.shape), slices.Clone(p.v)})
	}
	return ts
}

// LoadStateDict copies tensors named as by StateDict into the network. Every
// tensor must be present once with its exact shape; extra tensors are an
// error. On error the network is unchanged.
func (n *Net) LoadStateDict(ts []Tensor) error {
	byName := make(map[string]Tensor, len(ts))
	for _, t := range ts {
		if _, dup := byName[t.Name]; dup {
			return fmt.Errorf("segnet: state: tensor %q twice", t.Name)
		}
		byName[t.Name] = t
	}
	all := append(n.params(), n.buffers()...)
	for _, p := range all {
		t, ok := byName[p.name]
		if !ok {
			return fmt.Errorf("segnet: state: missing tensor %q", p.name)
		}
		if !slices.Equal(t.Shape, p.shape) || len(t.Data) != len(p.v) {
			return fmt.Errorf("segnet: state: tensor %q has shape %v, want %v", p.name, t.Shape, p.shape)
		}
	}
	if len(byName) != len(all) {
		for name := range byName {
			if !slices.ContainsFunc(all, func(p param) bool { return p.name == name }) {
				return fmt.Errorf("segnet: state: unexpected tensor %q", name)
			}
		}
	}
	if std := byName["input.std"].Data; !(std[0] > 0 && std[1] > 0 && std[2] > 0) {
		return fmt.Errorf("segnet: state: input.std %v not positive", std)
	}
	for _, p := range all {
		copy(p.v, byName[p.name].Data)
	}
	return nil
}

// FromState builds a network of architecture a and loads ts into it.
func FromState(a Arch, ts []Tensor) (*Net, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	n := New(a, rand.NewPCG(0, 0))
	if err := n.LoadStateDict(ts); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Net) workers() int {
	if n.Workers <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n.Workers
}

// alloc sizes the activation buffers for a batch of n images of h x w with
// logits of oh x ow.
func (n *Net) alloc(bn, h, w, oh, ow int) {
	if n.n == bn && n.h == h && n.w == w && n.oh == oh && n.ow == ow && n.act != nil {
		return
	}
	n.n, n.h, n.w, n.oh, n.ow = bn, h, w, oh, ow
	L := len(n.convs)
	n.sizes = make([][2]int, L+1)
	n.act = make([][]float32, L)
	n.input = make([]float32, bn*3*h*w)
	ch, cw := h, w
	maxAct, maxCol := 0, 0
	for i, c := range n.convs {
		n.sizes[i] = [2]int{ch, cw}
		ch, cw = outSize(ch, c.stride, c.dil), outSize(cw, c.stride, c.dil)
		sz := c.out * ch * cw
		n.act[i] = make([]float32, bn*sz)
		maxAct = max(maxAct, sz)
		maxCol = max(maxCol, c.colLen(ch, cw))
	}
	n.sizes[L] = [2]int{ch, cw}
	k := n.arch.Classes
	n.low = make([]float32, bn*k*ch*cw)
	n.logits = nil // training only (forward); prediction never stores them
	n.up = newBilinear(ch, cw, oh, ow)
	n.ga, n.gb = nil, nil // backward allocates them
	n.ws = nil
	n.wsSize = [5]int{maxCol, maxAct, maxAct, k * ch * cw, n.up.tmpLen()}
	for _, b := range n.bns {
		b.parts(bn)
	}
}

// layerInput returns layer i's input for image j (i = len(n.convs): the
// head's): the batch input, or the previous layer's output, which in
// training gets its BN+ReLU here, written to buf.
func (n *Net) layerInput(i, j int, train bool, buf []float32) []float32 {
	if i == 0 {
		sz := 3 * n.h * n.w
		return n.input[j*sz : (j+1)*sz]
	}
	hw := n.sizes[i][0] * n.sizes[i][1]
	sz := n.convs[i-1].out * hw
	a := n.act[i-1][j*sz : (j+1)*sz]
	if !train {
		return a
	}
	buf = buf[:sz]
	n.bns[i-1].applyImage(a, buf, hw, true)
	return buf
}

// forward runs the network in training mode on the batch already
// normalised in n.input and returns the logits [n, K, oh, ow] (owned by the
// Net). PredictBatch has its own evaluation pass (predictImage).
//
// Every layer runs image by image on each worker, with its BN statistics
// taken from the image's convolution output while it is in cache and merged
// once the batch is done.
func (n *Net) forward() []float32 {
	wk := n.workers()
	n.scratch(wk, true)
	n.logits = grow(n.logits, n.n*n.arch.Classes*n.oh*n.ow)
	for i := range n.convs {
		// Per-image results do not depend on the worker, and the BN
		// statistics are merged in image order.
		parallelDynamic(n.n, wk, func(w2, j int) { n.convImage(i, j, true, &n.ws[w2]) })
		n.bns[i].finishStats(n.n, n.sizes[i+1][0]*n.sizes[i+1][1])
	}
	parallelDynamic(n.n, wk, func(w2, j int) { n.headImage(j, &n.ws[w2]) })
	return n.logits
}

// scratch makes sure there is scratch space for wk workers, for the
// backward pass too if train.
func (n *Net) scratch(wk int, train bool) {
	z := n.wsSize
	for len(n.ws) < min(wk, n.n) {
		n.ws = append(n.ws, scratch{col: make([]float32, z[0]), in: make([]float32, z[1]), up: make([]float32, z[4])})
	}
	if train {
		for i := range n.ws {
			n.ws[i].dz = grow(n.ws[i].dz, z[2])
			n.ws[i].gLow = grow(n.ws[i].gLow, z[3])
		}
		// The gradient w.r.t. a layer's input is as large as the previous
		// layer's output; the network input's gradient is the caller's.
		sz := n.n * z[2]
		n.ga, n.gb = grow(n.ga, sz), grow(n.gb, sz)
	}
}

// convImage runs convolution layer i on image j with its BN step: the
// statistics in training, BN+ReLU in place in evaluation.
func (n *Net) convImage(i, j int, train bool, s *scratch) {
	c, bn := n.convs[i], n.bns[i]
	h, w := n.sizes[i][0], n.sizes[i][1]
	hw := n.sizes[i+1][0] * n.sizes[i+1][1]
	sz := c.out * hw
	y := n.act[i][j*sz : (j+1)*sz]
	c.forwardImage(n.layerInput(i, j, train, s.in), h, w, y, s.col)
	if train {
		bn.statsImage(y, hw, j)
	} else {
		bn.applyImage(y, y, hw, false)
	}
}

// headImage runs the classifier and the upsampling on image j (training).
func (n *Net) headImage(j int, s *scratch) {
	L := len(n.convs)
	lhw := n.sizes[L][0] * n.sizes[L][1]
	k := n.arch.Classes
	ohw := n.oh * n.ow
	low := n.low[j*k*lhw : (j+1)*k*lhw]
	n.head.forwardImage(n.layerInput(L, j, true, s.in), lhw, low)
	for p := range k {
		n.up.forward(low[p*lhw:(p+1)*lhw], n.logits[(j*k+p)*ohw:(j*k+p+1)*ohw], s.up)
	}
}

// backward propagates dlogits [n, K, oh, ow] through the last training forward,
// accumulating parameter gradients. If dInput is non-nil it receives the
// gradient with respect to the normalised input.
//
// Like forward it works image by image: each layer's per-image step applies
// its BN backward to the incoming gradient, runs the convolution's backward
// and records the previous BN's gradient sums on the fresh input gradient.
// Weight gradients are accumulated per image and summed in image order, so
// that whichever worker takes an image, the result is the same.
func (n *Net) backward(dlogits, dInput []float32) {
	wk := n.workers()
	k := n.arch.Classes
	L := len(n.convs)
	lhw := n.sizes[L][0] * n.sizes[L][1]
	ohw := n.oh * n.ow
	last := n.convs[L-1]
	g := n.ga[:len(n.act[L-1])]
	gsz := last.out * lhw
	n.head.parts(n.n)
	parallelDynamic(n.n, wk, func(w2, j int) {
		s := &n.ws[w2]
		gl := s.gLow[:k*lhw]
		clear(gl)
		for p := range k {
			n.up.backward(dlogits[(j*k+p)*ohw:(j*k+p+1)*ohw], gl[p*lhw:(p+1)*lhw], s.up)
		}
		gj := g[j*gsz : (j+1)*gsz]
		n.head.backwardImage(n.layerInput(L, j, true, s.in), lhw, gl, gj, j)
		n.bns[L-1].gradImage(n.act[L-1][j*gsz:(j+1)*gsz], gj, lhw, j)
	})
	n.head.reduce(n.n)
	n.bns[L-1].finishGrad(n.n, lhw)
	other := n.gb
	for i := L - 1; i >= 0; i-- {
		c, bn := n.convs[i], n.bns[i]
		h, w := n.sizes[i][0], n.sizes[i][1]
		hw := n.sizes[i+1][0] * n.sizes[i+1][1]
		sz, isz := c.out*hw, c.in*h*w
		var dx []float32
		if i > 0 {
			dx = other[:n.n*isz]
		} else if dInput != nil {
			dx = dInput
		}
		parts := c.parts(n.n)
		parallelDynamic(n.n, wk, func(w2, j int) {
			s := &n.ws[w2]
			x := n.act[i][j*sz : (j+1)*sz]
			dz := s.dz[:sz]
			bn.gradApplyImage(x, g[j*sz:(j+1)*sz], dz, hw)
			var dxj []float32
			if dx != nil {
				dxj = dx[j*isz : (j+1)*isz]
			}
			c.backwardImage(n.layerInput(i, j, true, s.in), h, w, dz, dxj, s.col, parts[j])
			if i > 0 {
				n.bns[i-1].gradImage(n.act[i-1][j*isz:(j+1)*isz], dxj, h*w, j)
			}
		})
		c.reduce(n.n)
		if i > 0 {
			n.bns[i-1].finishGrad(n.n, h*w)
			g, other = dx, g[:cap(g)]
		}
	}
}

// zeroGrad clears all parameter gradients.
func (n *Net) zeroGrad() {
	for _, p := range n.params() {
		clear(p.g)
	}
}
