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
	n, h, w      int      // batch and input size
	oh, ow       int      // output (logits) size
	sizes        [][2]int // spatial size of the input to layer i, then of the head
	pre, post    [][]float32
	low, logits  []float32
	up           *bilinear
	ga, gb       []float32 // gradient ping-pong buffers
	gLow, gInput []float32
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
	if n.n == bn && n.h == h && n.w == w && n.oh == oh && n.ow == ow && n.logits != nil {
		return
	}
	n.n, n.h, n.w, n.oh, n.ow = bn, h, w, oh, ow
	L := len(n.convs)
	n.sizes = make([][2]int, L+1)
	n.pre = make([][]float32, L)
	n.post = make([][]float32, L+1)
	n.post[0] = make([]float32, bn*3*h*w)
	ch, cw := h, w
	maxAct := bn * 3 * h * w
	for i, c := range n.convs {
		n.sizes[i] = [2]int{ch, cw}
		ch, cw = outSize(ch, c.stride, c.dil), outSize(cw, c.stride, c.dil)
		sz := bn * c.out * ch * cw
		n.pre[i] = make([]float32, sz)
		n.post[i+1] = make([]float32, sz)
		maxAct = max(maxAct, sz)
	}
	n.sizes[L] = [2]int{ch, cw}
	k := n.arch.Classes
	n.low = make([]float32, bn*k*ch*cw)
	n.logits = make([]float32, bn*k*oh*ow)
	n.up = newBilinear(ch, cw, oh, ow)
	n.ga, n.gb = make([]float32, maxAct), make([]float32, maxAct)
	n.gLow = make([]float32, bn*k*ch*cw)
}

// forward runs the network on the batch already normalised in n.post[0] and
// returns the logits [n, K, oh, ow] (owned by the Net).
func (n *Net) forward(train bool) []float32 {
	wk := n.workers()
	for i, c := range n.convs {
		h, w := n.sizes[i][0], n.sizes[i][1]
		c.forward(n.post[i], n.n, h, w, n.pre[i], wk)
		hw := n.sizes[i+1][0] * n.sizes[i+1][1]
		n.bns[i].forward(n.pre[i], n.n, hw, n.post[i+1], train, wk)
	}
	L := len(n.convs)
	lh, lw := n.sizes[L][0], n.sizes[L][1]
	n.head.forward(n.post[L], n.n, lh*lw, n.low, wk)
	k := n.arch.Classes
	parallelFor(n.n*k, wk, func(_, p int) {
		n.up.forward(n.low[p*lh*lw:(p+1)*lh*lw], n.logits[p*n.oh*n.ow:(p+1)*n.oh*n.ow])
	})
	return n.logits
}

// backward propagates dlogits [n, K, oh, ow] through the last training forward,
// accumulating parameter gradients. If dInput is non-nil it receives the
// gradient with respect to the normalised input.
func (n *Net) backward(dlogits, dInput []float32) {
	wk := n.workers()
	k := n.arch.Classes
	L := len(n.convs)
	lh, lw := n.sizes[L][0], n.sizes[L][1]
	clear(n.gLow)
	parallelFor(n.n*k, wk, func(_, p int) {
		n.up.backward(dlogits[p*n.oh*n.ow:(p+1)*n.oh*n.ow], n.gLow[p*lh*lw:(p+1)*lh*lw])
	})
	g := n.ga[:len(n.post[L])]
	n.head.backward(n.post[L], n.n, lh*lw, n.gLow, g, wk)
	other := n.gb
	for i := L - 1; i >= 0; i-- {
		hw := n.sizes[i+1][0] * n.sizes[i+1][1]
		n.bns[i].backward(n.pre[i], n.post[i+1], n.n, hw, g, g, wk)
		var dx []float32
		if i > 0 {
			dx = other[:len(n.post[i])]
		} else if dInput != nil {
			dx = dInput
		}
		c := n.convs[i]
		c.backward(n.post[i], n.n, n.sizes[i][0], n.sizes[i][1], g, dx, wk)
		if i > 0 {
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
