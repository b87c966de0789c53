package pipeline

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/features/vit"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
)

const vitFixtures = "../testdata/vit"

// copyFile copies src to dst.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The pipeline with a transformer: a rerun recomputes nothing; another
// checkpoint recomputes from the features on, the superpixels stay.
func TestRunViTCache(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 4)
	c := testConfig()
	c.Encoder, c.Weights, c.ViTSize, c.Until = "vit", filepath.Join(vitFixtures, "hf-vit", "model.safetensors"), 64, StagePseudolabels
	s, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(s), "superpixels 4/0 features 4/0 cluster 1/0 pseudolabels 4/0 overlays 4/0"; got != want {
		t.Fatalf("first run: %s, want %s", got, want)
	}
	x, err := (&runner{cache: newCache(out)}).readFeatures("s000")
	if err != nil {
		t.Fatal(err)
	}
	if _, cols := x.Dims(); cols != 32 {
		t.Errorf("features have %d columns, want the hidden size 32", cols)
	}
	s, err = runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(s), "superpixels 0/4 features 0/4 cluster 0/1 pseudolabels 0/4 overlays 0/4"; got != want {
		t.Errorf("rerun: %s, want %s", got, want)
	}
	// The same file under another name is the same checkpoint.
	moved := filepath.Join(t.TempDir(), "renamed.safetensors")
	copyFile(t, c.Weights, moved)
	copyFile(t, filepath.Join(vitFixtures, "hf-vit", "config.json"), filepath.Join(filepath.Dir(moved), "config.json"))
	c.Weights = moved
	if s, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(s), "superpixels 0/4 features 0/4 cluster 0/1 pseudolabels 0/4 overlays 0/4"; got != want {
		t.Errorf("renamed weights: %s, want %s", got, want)
	}
	// A changed config.json beside it changes the model (here its eps).
	cfg, _ := os.ReadFile(filepath.Join(filepath.Dir(moved), "config.json"))
	os.WriteFile(filepath.Join(filepath.Dir(moved), "config.json"), bytes.Replace(cfg, []byte("1e-12"), []byte("1e-05"), 1), 0o644)
	if s, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(s), "superpixels 0/4 features 4/0 cluster 1/0 pseudolabels 4/0 overlays 4/0"; got != want {
		t.Errorf("changed config.json: %s, want %s", got, want)
	}
	c.Weights = filepath.Join(vitFixtures, "timm", "model.safetensors")
	if s, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(s), "superpixels 0/4 features 4/0 cluster 1/0 pseudolabels 4/0 overlays 4/0"; got != want {
		t.Errorf("other weights: %s, want %s", got, want)
	}
	c.ViTFeatures = "keys"
	if s, err = runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	if got, want := stats(s), "superpixels 0/4 features 4/0 cluster 1/0 pseudolabels 4/0 overlays 4/0"; got != want {
		t.Errorf("keys: %s, want %s", got, want)
	}
}

// tinyCheckpoint returns the tensors of a random-free, minimal timm-layout
// transformer (one block, hidden 4), for the error and fuzz tests.
func tinyCheckpoint() []artifact.Tensor {
	z := func(name string, shape ...int) artifact.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%7) * 0.1
		}
		return artifact.NewF32Tensor(name, shape, v)
	}
	return []artifact.Tensor{
		z("cls_token", 1, 1, 4), z("pos_embed", 1, 5, 4), z("patch_embed.proj.weight", 4, 3, 2, 2), z("patch_embed.proj.bias", 4),
		z("blocks.0.norm1.weight", 4), z("blocks.0.norm1.bias", 4), z("blocks.0.attn.qkv.weight", 12, 4), z("blocks.0.attn.qkv.bias", 12),
		z("blocks.0.attn.proj.weight", 4, 4), z("blocks.0.attn.proj.bias", 4), z("blocks.0.norm2.weight", 4), z("blocks.0.norm2.bias", 4),
		z("blocks.0.mlp.fc1.weight", 8, 4), z("blocks.0.mlp.fc1.bias", 8), z("blocks.0.mlp.fc2.weight", 4, 8), z("blocks.0.mlp.fc2.bias", 4),
		z("norm.weight", 4), z("norm.bias", 4),
	}
}

func encodeTensors(t testing.TB, ts []artifact.Tensor) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := artifact.EncodeSafetensors(&b, ts, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestLoadViTErrors(t *testing.T) {
	good := encodeTensors(t, tinyCheckpoint())
	without := func(name string) []byte {
		var ts []artifact.Tensor
		for _, x := range tinyCheckpoint() {
			if x.Name != name {
				ts = append(ts, x)
			}
		}
		return encodeTensors(t, ts)
	}
	f64 := tinyCheckpoint()
	f64[6] = artifact.NewF64Tensor("blocks.0.attn.qkv.weight", []int{12, 4}, make([]float64, 48))
	var zip bytes.Buffer
	zip.WriteString("PK\x03\x04 pytorch zip")
	dinov2 := func() []byte { // an HF Dinov2 file without its layer scales
		data, err := os.ReadFile(filepath.Join(vitFixtures, "hf-dinov2", "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		ts, _, err := artifact.DecodeSafetensors(bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		var keep []artifact.Tensor
		for _, x := range ts {
			if !strings.Contains(x.Name, "layer_scale") {
				keep = append(keep, x)
			}
		}
		return encodeTensors(t, keep)
	}()
	var hl [8]byte
	binary.LittleEndian.PutUint64(hl[:], 1<<40)
	for _, c := range []struct {
		name   string
		data   []byte
		config string
		want   []string
	}{
		{"ok", good, "", nil},
		{"prefixed", encodeTensors(t, func() []artifact.Tensor {
			ts := tinyCheckpoint()
			for i := range ts {
				ts[i].Name = "module.backbone." + ts[i].Name
			}
			return ts
		}()), "", nil},
		{"empty", nil, "", []string{"truncated"}},
		{"zip", zip.Bytes(), "", []string{"PyTorch zip checkpoint", "convert"}},
		{"pickle", []byte{0x80, 0x02, 'c', 'x', 0, 0, 0, 0, 0, 0}, "", []string{"pickled PyTorch"}},
		{"not safetensors", append(hl[:], "garbage"...), "", []string{"not a safetensors file"}},
		{"truncated header", good[:20], "", []string{"truncated", "header"}},
		{"truncated data", good[:len(good)-10], "", []string{"truncated", "10 short"}},
		{"missing tensor", without("blocks.0.mlp.fc2.bias"), "", []string{"timm / original DINO", `"blocks.0.mlp.fc2.bias" is missing`, "supported:", "Dinov2Model"}},
		{"no layer scale", dinov2, "", []string{"Dinov2Model", `"encoder.layer.0.layer_scale1.lambda1" is missing`}},
		{"unknown layout", encodeTensors(t, []artifact.Tensor{artifact.NewF32Tensor("conv1.weight", []int{1}, []float32{1})}), "", []string{"none of its 1 tensors (conv1.weight)", "supported:"}},
		{"dtype", encodeTensors(t, f64), "", []string{`"blocks.0.attn.qkv.weight" has dtype F64`, "F32, F16, BF16"}},
		{"config contradicts", good, `{"hidden_size": 8}`, []string{"config.json", "hidden_size is 8 but the weights have 4"}},
		{"config heads", good, `{"num_attention_heads": 3}`, []string{"config.json", "does not divide"}},
		{"config json", good, `{"hidden_size": `, []string{"config.json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.safetensors")
			os.WriteFile(path, c.data, 0o644)
			if c.config != "" {
				os.WriteFile(filepath.Join(dir, "config.json"), []byte(c.config), 0o644)
			}
			w, err := LoadViT(path)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if w.Model.Arch.Layers != 1 || w.Model.Arch.Hidden != 4 || w.Model.Arch.Layout != vit.LayoutTimm {
					t.Errorf("arch %v", w.Model.Arch)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, dir) {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, s := range c.want {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not say %q", msg, s)
				}
			}
		})
	}
}

func TestRunViTNeedsWeights(t *testing.T) {
	in := t.TempDir()
	writeScenes(t, in, 0, 1)
	c := testConfig()
	c.Encoder = "vit"
	if _, err := runTest(t, in, t.TempDir(), c); err == nil || !strings.Contains(err.Error(), "--weights") {
		t.Errorf("err = %v", err)
	}
	c.Weights = filepath.Join(t.TempDir(), "nope.safetensors")
	if _, err := runTest(t, in, t.TempDir(), c); err == nil || !strings.Contains(err.Error(), "nope.safetensors") {
		t.Errorf("err = %v", err)
	}
}

// FuzzViTCheckpoint feeds arbitrary files through the safetensors header
// checks, the decoder and the layout detection: none may panic, and a file
// accepted must give a model whose forward pass runs.
func FuzzViTCheckpoint(f *testing.F) {
	good := encodeTensors(f, tinyCheckpoint())
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte("PK\x03\x04"))
	ts := tinyCheckpoint()
	ts[1] = artifact.NewF32Tensor("pos_embed", []int{1, 4, 4}, make([]float32, 16))
	f.Add(encodeTensors(f, ts))
	f.Fuzz(func(t *testing.T, data []byte) {
		if artifact.CheckSafetensorsFile(bytes.NewReader(data), int64(len(data))) != nil {
			return
		}
		ts, _, err := artifact.DecodeSafetensors(bytes.NewReader(data), 1<<20)
		if err != nil {
			return
		}
		m, err := vit.Load(artifact.ToViT(ts), nil, nil)
		if err != nil {
			return
		}
		a := m.Arch
		if a.Patch > 16 || a.Hidden > 64 || a.MLP > 256 || a.Layers > 4 {
			return
		}
		p := a.Patch
		o := m.Forward(make([]float32, a.Channels*2*p*3*p), 2*p, 3*p, 1, true)
		if len(o.Tokens) != 7*a.Hidden {
			t.Fatalf("%d token values, want %d", len(o.Tokens), 7*a.Hidden)
		}
	})
}
