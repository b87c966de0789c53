package vit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Tensor is one tensor of a checkpoint: its raw little-endian elements in
// row-major order, with a safetensors dtype name ("F32", "F16", "BF16").
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// Layout is a checkpoint's key naming scheme.
type Layout int

// The supported layouts; see the package documentation.
const (
	LayoutHFViT Layout = iota + 1
	LayoutHFDinov2
	LayoutTimm
)

var layoutNames = map[Layout]string{
	LayoutHFViT:    "Hugging Face ViTModel (DINO)",
	LayoutHFDinov2: "Hugging Face Dinov2Model",
	LayoutTimm:     "timm / original DINO",
}

func (l Layout) String() string {
	if s, ok := layoutNames[l]; ok {
		return s
	}
	return "unknown layout"
}

// SupportedLayouts describes the layouts Load recognises, for messages.
const SupportedLayouts = "Hugging Face ViTModel (embeddings.*, encoder.layer.N.layernorm_before ...), " +
	"Hugging Face Dinov2Model (embeddings.*, encoder.layer.N.norm1 ..., layer_scale1.lambda1), " +
	"timm / original DINO (cls_token, pos_embed, patch_embed.proj.*, blocks.N.attn.qkv ...)"

// prefixes are stripped from tensor names, repeatedly, in any order.
var prefixes = []string{"module.", "backbone.", "vit.", "dinov2.", "_orig_mod."}

// ErrLayout is wrapped by the errors of Load for a file whose tensors are
// not a supported transformer.
var ErrLayout = errors.New("not a supported vision transformer checkpoint")

// Arch is a transformer's architecture.
type Arch struct {
	Layout     Layout
	Hidden     int     // D, the token width
	Heads      int     // attention heads; D/Heads per head
	Layers     int     // blocks
	Patch      int     // patch side in pixels
	Channels   int     // input channels (3)
	MLP        int     // MLP hidden width
	Grid       int     // side M of the square grid of position embeddings
	Eps        float64 // LayerNorm epsilon
	LayerScale bool    // blocks scale their branches (DINOv2)
	Inferred   bool    // from the shapes: no config.json
}

func (a Arch) String() string {
	src := "config.json"
	if a.Inferred {
		src = "inferred from the tensor shapes"
	}
	ls := ""
	if a.LayerScale {
		ls = ", layer scale"
	}
	return fmt.Sprintf("%s: %d layers, hidden %d, %d heads, MLP %d, patch %d, %dx%d position grid, LayerNorm eps %g%s (%s)",
		a.Layout, a.Layers, a.Hidden, a.Heads, a.MLP, a.Patch, a.Grid, a.Grid, a.Eps, ls, src)
}

// Preprocessing is how pixels become the network's input.
type Preprocessing struct {
	Mean, Std [3]float32 // per RGB channel, after scaling to [0, 1]
}

// ImageNet is the normalisation every DINO and DINOv2 model was trained with.
var ImageNet = Preprocessing{Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}}

// ParsePreprocessing reads the image_mean and image_std of a Hugging Face
// preprocessor_config.json (or the mean and std of a timm config.json's
// pretrained_cfg), starting from ImageNet's.
func ParsePreprocessing(data []byte) (Preprocessing, error) {
	p := ImageNet
	var c struct {
		Mean       []float64 `json:"image_mean"`
		Std        []float64 `json:"image_std"`
		Pretrained *struct {
			Mean []float64 `json:"mean"`
			Std  []float64 `json:"std"`
		} `json:"pretrained_cfg"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return p, err
	}
	mean, std := c.Mean, c.Std
	if c.Pretrained != nil {
		if mean == nil {
			mean = c.Pretrained.Mean
		}
		if std == nil {
			std = c.Pretrained.Std
		}
	}
	if mean != nil {
		if len(mean) != 3 {
			return p, fmt.Errorf("image_mean has %d values, want 3", len(mean))
		}
		for i, v := range mean {
			p.Mean[i] = float32(v)
		}
	}
	if std != nil {
		if len(std) != 3 {
			return p, fmt.Errorf("image_std has %d values, want 3", len(std))
		}
		for i, v := range std {
			if !(v > 0) {
				return p, fmt.Errorf("image_std %v: values must be positive", std)
			}
			p.Std[i] = float32(v)
		}
	}
	return p, nil
}

// hfConfig holds the config.json fields that matter (Hugging Face names;
// timm's config.json has none of them but may name its architecture).
type hfConfig struct {
	ModelType   string   `json:"model_type"`
	Hidden      *int     `json:"hidden_size"`
	Heads       *int     `json:"num_attention_heads"`
	Layers      *int     `json:"num_hidden_layers"`
	Patch       *int     `json:"patch_size"`
	Channels    *int     `json:"num_channels"`
	Inter       *int     `json:"intermediate_size"`
	MLPRatio    *float64 `json:"mlp_ratio"`
	Eps         *float64 `json:"layer_norm_eps"`
	Act         *string  `json:"hidden_act"`
	SwiGLU      bool     `json:"use_swiglu_ffn"`
	NumFeatures *int     `json:"num_features"` // timm
}

// Model is a loaded transformer: float32 weights ready for Forward.
type Model struct {
	Arch Arch
	Pre  Preprocessing

	patchW, patchB []float32 // [D, C*p*p], [D]
	cls            []float32 // [D]
	pos            []float32 // [(M*M+1), D]
	blocks         []block
	normW, normB   []float32
}

type block struct {
	ln1W, ln1B   []float32
	qkvW, qkvB   []float32 // [3D, D] (rows q, then k, then v), [3D]
	projW, projB []float32 // [D, D], [D]
	ls1, ls2     []float32 // [D], nil without layer scale
	ln2W, ln2B   []float32
	fc1W, fc1B   []float32 // [MLP, D], [MLP]
	fc2W, fc2B   []float32 // [D, MLP], [D]
}

// tensorSet is a checkpoint's tensors by name, prefixes stripped.
type tensorSet map[string]*Tensor

func newTensorSet(ts []Tensor) (tensorSet, error) {
	s := make(tensorSet, len(ts))
	for i := range ts {
		n := ts[i].Name
		for {
			stripped := false
			for _, p := range prefixes {
				if rest, ok := strings.CutPrefix(n, p); ok && rest != "" {
					n, stripped = rest, true
				}
			}
			if !stripped {
				break
			}
		}
		if prev, dup := s[n]; dup {
			return nil, fmt.Errorf("tensors %q and %q are the same tensor %q once prefixes are stripped", prev.Name, ts[i].Name, n)
		}
		s[n] = &ts[i]
	}
	return s, nil
}

// names of the tensors each layout needs, for the first block (and the
// rest by the same pattern); ".weight"/".bias" pairs are spelt out.
func layoutTensors(l Layout, layer int) []string {
	wb := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, n+".weight", n+".bias")
		}
		return out
	}
	switch l {
	case LayoutHFViT, LayoutHFDinov2:
		p := "encoder.layer." + strconv.Itoa(layer) + "."
		var names []string
		if layer == 0 {
			names = append([]string{"embeddings.cls_token", "embeddings.position_embeddings"},
				wb("embeddings.patch_embeddings.projection")...)
		}
		names = append(names, p+"attention.attention.query.weight", p+"attention.attention.key.weight",
			p+"attention.attention.value.weight")
		names = append(names, wb(p+"attention.output.dense")...)
		if l == LayoutHFViT {
			names = append(names, wb(p+"layernorm_before", p+"layernorm_after", p+"intermediate.dense", p+"output.dense")...)
		} else {
			names = append(names, wb(p+"norm1", p+"norm2", p+"mlp.fc1", p+"mlp.fc2")...)
			names = append(names, p+"layer_scale1.lambda1", p+"layer_scale2.lambda1")
		}
		return names
	case LayoutTimm:
		p := "blocks." + strconv.Itoa(layer) + "."
		var names []string
		if layer == 0 {
			names = append([]string{"cls_token", "pos_embed"}, wb("patch_embed.proj")...)
		}
		return append(names, wb(p+"norm1", p+"attn.qkv", p+"attn.proj", p+"norm2", p+"mlp.fc1", p+"mlp.fc2")...)
	}
	return nil
}

func finalNorm(l Layout) string {
	if l == LayoutTimm {
		return "norm"
	}
	return "layernorm"
}

// countLayers returns 1 + the largest N of names "<prefix>N.".
func (s tensorSet) countLayers(prefix string) int {
	n := 0
	for name := range s {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		i := strings.IndexByte(rest, '.')
		if i <= 0 {
			continue
		}
		if k, err := strconv.Atoi(rest[:i]); err == nil && k >= 0 && k < 10000 && k+1 > n {
			n = k + 1
		}
	}
	return n
}

// detect returns the layout of s and its number of blocks, or an error
// naming the first tensor missing from the layout s comes closest to.
func (s tensorSet) detect() (Layout, int, error) {
	best, bestScore, bestMissing := Layout(0), -1, ""
	for _, l := range []Layout{LayoutHFViT, LayoutHFDinov2, LayoutTimm} {
		prefix := "encoder.layer."
		if l == LayoutTimm {
			prefix = "blocks."
		}
		layers := s.countLayers(prefix)
		var need []string
		for i := range max(layers, 1) {
			need = append(need, layoutTensors(l, i)...)
		}
		need = append(need, finalNorm(l)+".weight", finalNorm(l)+".bias")
		score, missing := 0, ""
		for _, n := range need {
			if s[n] != nil {
				score++
			} else if missing == "" {
				missing = n
			}
		}
		if missing == "" && layers > 0 {
			return l, layers, nil
		}
		if score > bestScore {
			best, bestScore, bestMissing = l, score, missing
		}
	}
	if bestScore == 0 {
		names := make([]string, 0, len(s))
		for n := range s {
			names = append(names, n)
		}
		slices.Sort(names)
		if len(names) > 5 {
			names = append(names[:5], "...")
		}
		return 0, 0, fmt.Errorf("%w: none of its %d tensors (%s) belongs to a supported layout; supported: %s",
			ErrLayout, len(s), strings.Join(names, ", "), SupportedLayouts)
	}
	return 0, 0, fmt.Errorf("%w: closest to %s, but tensor %q is missing; supported: %s", ErrLayout, best, bestMissing, SupportedLayouts)
}

// floats decodes t as float32, checking its shape.
func floats(t *Tensor, shape ...int) ([]float32, error) {
	if !slices.Equal(t.Shape, shape) {
		return nil, fmt.Errorf("tensor %q has shape %v, want %v", t.Name, t.Shape, shape)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	var size int
	switch t.DType {
	case "F32":
		size = 4
	case "F16", "BF16":
		size = 2
	default:
		return nil, fmt.Errorf("tensor %q has dtype %s; supported: F32, F16, BF16", t.Name, t.DType)
	}
	if len(t.Data) != n*size {
		return nil, fmt.Errorf("tensor %q: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
	}
	v := make([]float32, n)
	switch t.DType {
	case "F32":
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case "F16":
		for i := range v {
			v[i] = halfToFloat(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	case "BF16":
		for i := range v {
			v[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(t.Data[2*i:])) << 16)
		}
	}
	return v, nil
}

// halfToFloat widens an IEEE 754 binary16 value exactly.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: value man * 2^-24.
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// Load builds a model from a checkpoint's tensors. configJSON and
// preprocJSON are the contents of the config.json and
// preprocessor_config.json beside the weights file, or nil. Errors for
// tensors that are not a supported transformer wrap ErrLayout; an error
// never names the file (the caller knows it).
func Load(ts []Tensor, configJSON, preprocJSON []byte) (*Model, error) {
	s, err := newTensorSet(ts)
	if err != nil {
		return nil, err
	}
	layout, layers, err := s.detect()
	if err != nil {
		return nil, err
	}
	// Register tokens (DINOv2 "reg" models) change every attention; running
	// without them would give wrong features silently.
	for _, n := range []string{"reg_token", "register_tokens", "embeddings.register_tokens"} {
		if s[n] != nil {
			return nil, fmt.Errorf("%w: tensor %q: models with register tokens are not supported", ErrLayout, n)
		}
	}
	a, err := s.inferArch(layout, layers)
	if err != nil {
		return nil, err
	}
	if configJSON != nil {
		if err := applyConfig(&a, configJSON); err != nil {
			return nil, &ConfigError{File: "config.json", Err: err}
		}
	}
	m := &Model{Arch: a, Pre: ImageNet}
	if configJSON != nil && layout == LayoutTimm {
		// timm's config.json carries the normalisation in pretrained_cfg.
		if p, err := ParsePreprocessing(configJSON); err == nil {
			m.Pre = p
		}
	}
	if preprocJSON != nil {
		if m.Pre, err = ParsePreprocessing(preprocJSON); err != nil {
			return nil, &ConfigError{File: "preprocessor_config.json", Err: err}
		}
	}
	if err := m.loadWeights(s); err != nil {
		return nil, err
	}
	return m, nil
}

func (s tensorSet) inferArch(l Layout, layers int) (Arch, error) {
	a := Arch{Layout: l, Layers: layers, Inferred: true, Eps: 1e-6}
	cls, pos, patch, fc1 := "cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.mlp.fc1.weight"
	switch l {
	case LayoutHFViT:
		cls, pos, patch, fc1 = "embeddings.cls_token", "embeddings.position_embeddings",
			"embeddings.patch_embeddings.projection.weight", "encoder.layer.0.intermediate.dense.weight"
		a.Eps = 1e-12 // ViTConfig's default, kept by the DINO conversions
	case LayoutHFDinov2:
		cls, pos, patch, fc1 = "embeddings.cls_token", "embeddings.position_embeddings",
			"embeddings.patch_embeddings.projection.weight", "encoder.layer.0.mlp.fc1.weight"
		a.LayerScale = true
	case LayoutTimm:
		a.LayerScale = s["blocks.0.ls1.gamma"] != nil
	}
	ct := s[cls]
	if len(ct.Shape) == 0 || ct.Shape[len(ct.Shape)-1] <= 0 {
		return a, fmt.Errorf("tensor %q has shape %v, want [1, 1, hidden]", cls, ct.Shape)
	}
	a.Hidden = ct.Shape[len(ct.Shape)-1]
	pw := s[patch]
	if len(pw.Shape) != 4 || pw.Shape[0] != a.Hidden || pw.Shape[2] != pw.Shape[3] || pw.Shape[2] <= 0 || pw.Shape[1] <= 0 {
		return a, fmt.Errorf("tensor %q has shape %v, want [%d, channels, patch, patch]", patch, pw.Shape, a.Hidden)
	}
	a.Channels, a.Patch = pw.Shape[1], pw.Shape[2]
	if a.Channels != 3 {
		return a, fmt.Errorf("tensor %q: the model takes %d input channels; only RGB (3) is supported", patch, a.Channels)
	}
	pt := s[pos]
	if len(pt.Shape) != 3 || pt.Shape[0] != 1 || pt.Shape[2] != a.Hidden {
		return a, fmt.Errorf("tensor %q has shape %v, want [1, 1+M*M, %d]", pos, pt.Shape, a.Hidden)
	}
	m := int(math.Round(math.Sqrt(float64(pt.Shape[1] - 1))))
	if m < 1 || m*m+1 != pt.Shape[1] {
		return a, fmt.Errorf("tensor %q has %d positions: not a class token plus a square grid", pos, pt.Shape[1])
	}
	a.Grid = m
	ft := s[fc1]
	if len(ft.Shape) != 2 || ft.Shape[1] != a.Hidden || ft.Shape[0] <= 0 {
		return a, fmt.Errorf("tensor %q has shape %v, want [mlp, %d]", fc1, ft.Shape, a.Hidden)
	}
	a.MLP = ft.Shape[0]
	if a.Hidden%64 == 0 {
		a.Heads = a.Hidden / 64
	} else {
		a.Heads = 1
	}
	return a, nil
}

// applyConfig overrides the inferred architecture by config.json and
// fails where the two contradict.
func applyConfig(a *Arch, data []byte) error {
	var c hfConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return err
	}
	a.Inferred = false
	check := func(field string, v *int, have int) error {
		if v != nil && *v != have {
			return fmt.Errorf("%s is %d but the weights have %d", field, *v, have)
		}
		return nil
	}
	if err := check("hidden_size", c.Hidden, a.Hidden); err != nil {
		return err
	}
	if err := check("num_features", c.NumFeatures, a.Hidden); err != nil {
		return err
	}
	if err := check("num_hidden_layers", c.Layers, a.Layers); err != nil {
		return err
	}
	if err := check("patch_size", c.Patch, a.Patch); err != nil {
		return err
	}
	if err := check("num_channels", c.Channels, a.Channels); err != nil {
		return err
	}
	if err := check("intermediate_size", c.Inter, a.MLP); err != nil {
		return err
	}
	if c.MLPRatio != nil && int(float64(a.Hidden)**c.MLPRatio) != a.MLP {
		return fmt.Errorf("mlp_ratio %g gives an MLP of %d, the weights have %d", *c.MLPRatio, int(float64(a.Hidden)**c.MLPRatio), a.MLP)
	}
	if c.SwiGLU {
		return errors.New("use_swiglu_ffn (DINOv2 giant's SwiGLU MLP) is not supported")
	}
	if c.Act != nil && *c.Act != "gelu" {
		return fmt.Errorf("hidden_act %q is not supported (only the exact \"gelu\")", *c.Act)
	}
	if c.Heads != nil {
		if *c.Heads <= 0 || a.Hidden%*c.Heads != 0 {
			return fmt.Errorf("num_attention_heads %d does not divide hidden size %d", *c.Heads, a.Hidden)
		}
		a.Heads = *c.Heads
	}
	if c.Eps != nil {
		if !(*c.Eps > 0) {
			return fmt.Errorf("layer_norm_eps %g must be positive", *c.Eps)
		}
		a.Eps = *c.Eps
	}
	return nil
}

// loadWeights decodes every tensor the architecture needs.
func (m *Model) loadWeights(s tensorSet) error {
	a := m.Arch
	D, C, P, H := a.Hidden, a.Channels, a.Patch, a.MLP
	var err error
	get := func(name string, shape ...int) []float32 {
		if err != nil {
			return nil
		}
		t := s[name]
		if t == nil {
			err = fmt.Errorf("%w: tensor %q is missing", ErrLayout, name)
			return nil
		}
		var v []float32
		v, err = floats(t, shape...)
		return v
	}
	// opt returns zeros for an absent bias (qkv_bias=False).
	opt := func(name string, n int) []float32 {
		if err == nil && s[name] == nil {
			return make([]float32, n)
		}
		return get(name, n)
	}
	np := a.Grid*a.Grid + 1
	switch a.Layout {
	case LayoutHFViT, LayoutHFDinov2:
		m.cls = get("embeddings.cls_token", 1, 1, D)
		m.pos = get("embeddings.position_embeddings", 1, np, D)
		m.patchW = get("embeddings.patch_embeddings.projection.weight", D, C, P, P)
		m.patchB = get("embeddings.patch_embeddings.projection.bias", D)
		m.normW, m.normB = get("layernorm.weight", D), get("layernorm.bias", D)
	case LayoutTimm:
		m.cls = get("cls_token", 1, 1, D)
		m.pos = get("pos_embed", 1, np, D)
		m.patchW = get("patch_embed.proj.weight", D, C, P, P)
		m.patchB = get("patch_embed.proj.bias", D)
		m.normW, m.normB = get("norm.weight", D), get("norm.bias", D)
	}
	m.blocks = make([]block, a.Layers)
	for i := range m.blocks {
		b := &m.blocks[i]
		switch a.Layout {
		case LayoutHFViT, LayoutHFDinov2:
			p := "encoder.layer." + strconv.Itoa(i) + "."
			q, k, v := p+"attention.attention.query.", p+"attention.attention.key.", p+"attention.attention.value."
			b.qkvW = slices.Concat(get(q+"weight", D, D), get(k+"weight", D, D), get(v+"weight", D, D))
			b.qkvB = slices.Concat(opt(q+"bias", D), opt(k+"bias", D), opt(v+"bias", D))
			b.projW, b.projB = get(p+"attention.output.dense.weight", D, D), get(p+"attention.output.dense.bias", D)
			if a.Layout == LayoutHFViT {
				b.ln1W, b.ln1B = get(p+"layernorm_before.weight", D), get(p+"layernorm_before.bias", D)
				b.ln2W, b.ln2B = get(p+"layernorm_after.weight", D), get(p+"layernorm_after.bias", D)
				b.fc1W, b.fc1B = get(p+"intermediate.dense.weight", H, D), get(p+"intermediate.dense.bias", H)
				b.fc2W, b.fc2B = get(p+"output.dense.weight", D, H), get(p+"output.dense.bias", D)
			} else {
				b.ln1W, b.ln1B = get(p+"norm1.weight", D), get(p+"norm1.bias", D)
				b.ln2W, b.ln2B = get(p+"norm2.weight", D), get(p+"norm2.bias", D)
				b.fc1W, b.fc1B = get(p+"mlp.fc1.weight", H, D), get(p+"mlp.fc1.bias", H)
				b.fc2W, b.fc2B = get(p+"mlp.fc2.weight", D, H), get(p+"mlp.fc2.bias", D)
				b.ls1, b.ls2 = get(p+"layer_scale1.lambda1", D), get(p+"layer_scale2.lambda1", D)
			}
		case LayoutTimm:
			p := "blocks." + strconv.Itoa(i) + "."
			b.ln1W, b.ln1B = get(p+"norm1.weight", D), get(p+"norm1.bias", D)
			b.qkvW, b.qkvB = get(p+"attn.qkv.weight", 3*D, D), opt(p+"attn.qkv.bias", 3*D)
			b.projW, b.projB = get(p+"attn.proj.weight", D, D), get(p+"attn.proj.bias", D)
			b.ln2W, b.ln2B = get(p+"norm2.weight", D), get(p+"norm2.bias", D)
			b.fc1W, b.fc1B = get(p+"mlp.fc1.weight", H, D), get(p+"mlp.fc1.bias", H)
			b.fc2W, b.fc2B = get(p+"mlp.fc2.weight", D, H), get(p+"mlp.fc2.bias", D)
			if a.LayerScale {
				b.ls1, b.ls2 = get(p+"ls1.gamma", D), get(p+"ls2.gamma", D)
			}
		}
	}
	return err
}

// ConfigError is an error in config.json or preprocessor_config.json
// (File), as opposed to the weights.
type ConfigError struct {
	File string
	Err  error
}

func (e *ConfigError) Error() string { return e.File + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
