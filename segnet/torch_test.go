package segnet

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
)

// TestTorchFixture compares conv3 and bilinear with PyTorch's F.conv2d and
// F.interpolate(mode="bilinear", align_corners=False) on the outputs stored
// by testdata/gen_torch_fixture.py.
func TestTorchFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/torch_fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Torch string
		Cases []struct {
			Op                              string
			N, C, O, H, W, Stride, Dilation int
			OH, OW                          int
			X, Weight, Y                    []float32
			OutShape                        []int `json:"out_shape"`
		}
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Cases) == 0 {
		t.Fatal("no cases in fixture")
	}
	for i, c := range fx.Cases {
		t.Run(fmt.Sprintf("%d-%s", i, c.Op), func(t *testing.T) {
			var y []float32
			switch c.Op {
			case "conv2d":
				l := &conv3{in: c.C, out: c.O, stride: c.Stride, dil: c.Dilation, w: c.Weight}
				ho, wo := outSize(c.H, c.Stride, c.Dilation), outSize(c.W, c.Stride, c.Dilation)
				if ho != c.OutShape[2] || wo != c.OutShape[3] {
					t.Fatalf("output %dx%d, PyTorch %v", ho, wo, c.OutShape)
				}
				y = make([]float32, c.N*c.O*ho*wo)
				l.forward(c.X, c.N, c.H, c.W, y, 2)
			case "bilinear":
				r := newBilinear(c.H, c.W, c.OH, c.OW)
				y = make([]float32, c.N*c.C*c.OH*c.OW)
				for p := range c.N * c.C {
					r.forward(c.X[p*c.H*c.W:(p+1)*c.H*c.W], y[p*c.OH*c.OW:(p+1)*c.OH*c.OW], make([]float32, r.tmpLen()))
				}
			default:
				t.Fatalf("unknown op %q", c.Op)
			}
			if len(y) != len(c.Y) {
				t.Fatalf("%d outputs, PyTorch %d", len(y), len(c.Y))
			}
			var worst float64
			for j := range y {
				d := math.Abs(float64(y[j] - c.Y[j]))
				worst = max(worst, d)
				if d > 1e-5*max(1, math.Abs(float64(c.Y[j]))) {
					t.Fatalf("y[%d] = %g, PyTorch %g", j, y[j], c.Y[j])
				}
			}
			t.Logf("%d values, max abs difference %.2g (torch %s)", len(y), worst, fx.Torch)
		})
	}
}
