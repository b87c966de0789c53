package vit_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/segdiscover/segdiscover/features/vit"
	"github.com/segdiscover/segdiscover/pipeline"
	"github.com/segdiscover/segdiscover/pipeline/artifact"
)

// The fixtures of testdata/vit were written by bench/vit_torch.py fixtures:
// a tiny random checkpoint per layout and dtype, and PyTorch's outputs of
// the reference model code for three inputs each (non-square grids that
// need the position embeddings interpolated up and down, and a square one
// at the table's own grid).
const fixtureDir = "../../testdata/vit"

var fixtures = []struct {
	name   string
	layout vit.Layout
}{
	{"hf-vit", vit.LayoutHFViT},
	{"hf-dinov2", vit.LayoutHFDinov2},
	{"timm", vit.LayoutTimm},
	{"timm-ls", vit.LayoutTimm},
}

// maxRelErr returns max|got-want| / max|want|.
func maxRelErr(got, want []float32) float64 {
	var d, m float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
		m = max(m, math.Abs(float64(want[i])))
	}
	return d / m
}

func readExpected(t *testing.T, path string) map[string]*artifact.Tensor {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, _, err := artifact.DecodeSafetensors(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*artifact.Tensor{}
	for i := range ts {
		m[ts[i].Name] = &ts[i]
	}
	return m
}

func TestAgreesWithPyTorch(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			dir := filepath.Join(fixtureDir, fx.name)
			w, err := pipeline.LoadViT(filepath.Join(dir, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			m := w.Model
			if m.Arch.Layout != fx.layout {
				t.Fatalf("layout %v, want %v", m.Arch.Layout, fx.layout)
			}
			t.Log(m.Arch)
			exp := readExpected(t, filepath.Join(dir, "expected.safetensors"))
			for j := 0; ; j++ {
				in := exp["input_"+string(rune('0'+j))]
				if in == nil {
					if j == 0 {
						t.Fatal("no inputs")
					}
					break
				}
				x, _ := in.Float32s()
				want, _ := exp["tokens_"+string(rune('0'+j))].Float32s()
				wantK, _ := exp["keys_"+string(rune('0'+j))].Float32s()
				for _, threads := range []int{1, 3} {
					o := m.Forward(x, in.Shape[1], in.Shape[2], threads, true)
					if len(o.Tokens) != len(want) || len(o.Keys) != len(wantK) {
						t.Fatalf("input %d: %d tokens, %d keys values; want %d, %d", j, len(o.Tokens), len(o.Keys), len(want), len(wantK))
					}
					et, ek := maxRelErr(o.Tokens, want), maxRelErr(o.Keys, wantK)
					if threads == 1 {
						t.Logf("input %d (%dx%d, grid %dx%d): tokens %.2g, keys %.2g", j, in.Shape[1], in.Shape[2], o.GH, o.GW, et, ek)
					}
					if et > 2e-5 || ek > 2e-5 {
						t.Errorf("input %d, %d threads: max relative error tokens %.3g, keys %.3g, want <= 2e-5", j, threads, et, ek)
					}
				}
			}
		})
	}
}
