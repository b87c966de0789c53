package vit

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// parseSpec builds zero-filled F32 tensors from lines "name d0,d1,...".
func parseSpec(spec string, limit int) []Tensor {
	var ts []Tensor
	total := 0
	for _, line := range strings.Split(spec, "\n") {
		name, dims, _ := strings.Cut(line, " ")
		var shape []int
		n := 1
		for _, d := range strings.Split(dims, ",") {
			v, err := strconv.Atoi(d)
			if err != nil || v < 0 || v > 4096 {
				continue
			}
			shape = append(shape, v)
			n *= v
			if n > limit {
				return ts
			}
		}
		if total += n; total > limit {
			return ts
		}
		ts = append(ts, Tensor{Name: name, DType: "F32", Shape: shape, Data: make([]byte, 4*n)})
	}
	return ts
}

const tinyTimm = "cls_token 1,1,4\npos_embed 1,5,4\npatch_embed.proj.weight 4,3,2,2\npatch_embed.proj.bias 4\n" +
	"blocks.0.norm1.weight 4\nblocks.0.norm1.bias 4\nblocks.0.attn.qkv.weight 12,4\nblocks.0.attn.qkv.bias 12\n" +
	"blocks.0.attn.proj.weight 4,4\nblocks.0.attn.proj.bias 4\nblocks.0.norm2.weight 4\nblocks.0.norm2.bias 4\n" +
	"blocks.0.mlp.fc1.weight 8,4\nblocks.0.mlp.fc1.bias 8\nblocks.0.mlp.fc2.weight 4,8\nblocks.0.mlp.fc2.bias 4\nnorm.weight 4\nnorm.bias 4"

func TestDetect(t *testing.T) {
	hf := strings.NewReplacer("cls_token", "embeddings.cls_token", "pos_embed", "embeddings.position_embeddings",
		"patch_embed.proj", "embeddings.patch_embeddings.projection", "blocks.0.norm1", "encoder.layer.0.layernorm_before",
		"blocks.0.norm2", "encoder.layer.0.layernorm_after", "blocks.0.attn.proj", "encoder.layer.0.attention.output.dense",
		"blocks.0.mlp.fc1", "encoder.layer.0.intermediate.dense", "blocks.0.mlp.fc2", "encoder.layer.0.output.dense",
		"blocks.0.attn.qkv.weight 12,4", "encoder.layer.0.attention.attention.query.weight 4,4\nencoder.layer.0.attention.attention.key.weight 4,4\nencoder.layer.0.attention.attention.value.weight 4,4",
		"blocks.0.attn.qkv.bias 12", "encoder.layer.0.attention.attention.query.bias 4",
		"norm.", "layernorm.").Replace(tinyTimm)
	for _, c := range []struct {
		name, spec string
		want       Layout
		ls         bool
		missing    string
	}{
		{"timm", tinyTimm, LayoutTimm, false, ""},
		{"timm dinov2", tinyTimm + "\nblocks.0.ls1.gamma 4\nblocks.0.ls2.gamma 4\nmask_token 1,4", LayoutTimm, true, ""},
		{"timm prefixed", strings.ReplaceAll("module."+tinyTimm, "\n", "\nmodule.backbone."), LayoutTimm, false, ""},
		{"hf vit, pooler and missing k/v biases", hf + "\npooler.dense.weight 4,4", LayoutHFViT, false, ""},
		{"hf vit prefixed", strings.ReplaceAll("vit."+hf, "\n", "\nvit."), LayoutHFViT, false, ""},
		{"timm registers", tinyTimm + "\nreg_token 1,4,4", 0, false, `"reg_token": models with register tokens`},
		{"timm missing block", strings.Replace(tinyTimm, "blocks.0.attn.proj.weight", "blocks.0.attn.out.weight", 1), 0, false, `"blocks.0.attn.proj.weight" is missing`},
		{"timm gap in blocks", tinyTimm + "\n" + strings.ReplaceAll(tinyTimm[strings.Index(tinyTimm, "blocks.0"):strings.Index(tinyTimm, "norm.weight")], "blocks.0", "blocks.2"), 0, false, `"blocks.1.norm1.weight" is missing`},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Load(parseSpec(c.spec, 1<<20), nil, nil)
			if c.missing != "" {
				if err == nil || !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), c.missing) {
					t.Fatalf("err = %v, want ErrLayout naming %s", err, c.missing)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Arch.Layout != c.want || m.Arch.LayerScale != c.ls || m.Arch.Hidden != 4 || m.Arch.Patch != 2 || m.Arch.Grid != 2 || m.Arch.MLP != 8 || !m.Arch.Inferred {
				t.Errorf("arch %+v", m.Arch)
			}
		})
	}
}

func TestPreprocessing(t *testing.T) {
	p, err := ParsePreprocessing([]byte(`{"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.25, 0.5], "resample": 3}`))
	if err != nil || p.Mean != [3]float32{0.5, 0.5, 0.5} || p.Std != [3]float32{0.5, 0.25, 0.5} {
		t.Errorf("%+v %v", p, err)
	}
	p, err = ParsePreprocessing([]byte(`{"architecture": "vit_small_patch8_224", "pretrained_cfg": {"mean": [0.1, 0.2, 0.3]}}`))
	if err != nil || p.Mean != [3]float32{0.1, 0.2, 0.3} || p.Std != ImageNet.Std {
		t.Errorf("timm: %+v %v", p, err)
	}
	for _, bad := range []string{`{"image_mean": [1, 2]}`, `{"image_std": [1, 0, 1]}`, `[`} {
		if _, err := ParsePreprocessing([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// FuzzLoad builds checkpoints from fuzzed names and shapes: layout
// detection and loading must fail cleanly or give a model that runs.
func FuzzLoad(f *testing.F) {
	f.Add(tinyTimm, "")
	f.Add(tinyTimm+"\nblocks.0.ls1.gamma 4", `{"num_attention_heads": 2}`)
	f.Add(strings.ReplaceAll(tinyTimm, "blocks.0", "blocks.1"), `{"hidden_size": 4, "layer_norm_eps": 0}`)
	f.Add("embeddings.cls_token 1,1,4\nencoder.layer.0.norm1.weight 4", `{"use_swiglu_ffn": true}`)
	f.Fuzz(func(t *testing.T, spec, config string) {
		var cfg []byte
		if config != "" {
			cfg = []byte(config)
		}
		m, err := Load(parseSpec(spec, 1<<16), cfg, nil)
		if err != nil {
			return
		}
		a := m.Arch
		if a.Patch > 8 || a.Layers > 4 {
			return
		}
		o := m.Forward(make([]float32, 3*a.Patch*2*a.Patch), a.Patch, 2*a.Patch, 2, true)
		if o.GH != 1 || o.GW != 2 || len(o.Tokens) != 3*a.Hidden || len(o.Keys) != 3*a.Hidden {
			t.Fatalf("grid %dx%d, %d tokens", o.GH, o.GW, len(o.Tokens))
		}
	})
}
