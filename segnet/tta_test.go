package segnet

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

// mirror is img flipped left-right, at the origin.
func mirror(img *image.NRGBA) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			out.SetNRGBA(b.Dx()-1-x, y, img.NRGBAAt(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

// maxMirrorDiff is the largest difference between posteriors p of an image
// and q of its mirror, pixel (x, y) of p against (w-1-x, y) of q.
func maxMirrorDiff(p, q []float32, w, h, k int) float64 {
	d := 0.0
	for y := range h {
		for x := range w {
			for c := range k {
				d = max(d, math.Abs(float64(p[(y*w+x)*k+c]-q[(y*w+w-1-x)*k+c])))
			}
		}
	}
	return d
}

// On a mirrored image the flip-averaged posteriors are the mirror of the
// image's, whatever the network (here random weights, which are not
// mirror-symmetric: the single view's posteriors are not equivariant, as
// the test checks so that the property is not vacuous).
func TestTTAFlipEquivariant(t *testing.T) {
	img := synthetic(1, 30, 44, 7)[0].Image
	mir := mirror(img)
	n := New(Arch{Classes: 3, Layers: []LayerSpec{{8, 2, 1}, {8, 1, 2}}}, rand.NewPCG(4, 5))
	for _, tc := range []struct {
		name string
		tta  TTA
	}{
		{"flip", TTA{Flip: true}},
		{"flip+scales", TTA{Flip: true, Scales: DefaultTTAScales}},
		{"flip, odd sizes", TTA{Flip: true, Scales: []float64{0.6, 1.3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, q := n.PredictProbaTTA(img, tc.tta), n.PredictProbaTTA(mir, tc.tta)
			if d := maxMirrorDiff(p, q, 44, 30, 3); d > 1e-5 {
				t.Errorf("posteriors of the mirror differ from the mirrored posteriors by %v", d)
			}
			nf := tc.tta
			nf.Flip = false
			p, q = n.PredictProbaTTA(img, nf), n.PredictProbaTTA(mir, nf)
			if d := maxMirrorDiff(p, q, 44, 30, 3); d < 1e-3 {
				t.Errorf("without the flip the network is already equivariant (%v): the test proves nothing", d)
			}
		})
	}
}

// The TTA posteriors are the mean of the single views, each at its scaled
// network input (predict at an explicit size), the mirrored ones mirrored
// back; they sum to 1; and the region means of PredictRegionsTTA (which
// never holds a view) are the region means of PredictProbaTTA.
func TestTTAMeanOfViews(t *testing.T) {
	img := synthetic(1, 30, 44, 8)[0].Image
	w, h, k := 44, 30, 3
	n := New(Arch{Classes: k, Input: [2]int{24, 32}, Layers: []LayerSpec{{8, 2, 1}, {8, 1, 2}}}, rand.NewPCG(4, 6))
	tta := TTA{Flip: true, Scales: []float64{0.75, 1, 1.5}}
	got := n.PredictProbaTTA(img, tta)
	ih, iw := n.InputSize(h, w)
	want := make([]float64, w*h*k)
	view := make([]float32, w*h*k)
	mir := mirror(img)
	for _, s := range tta.Scales {
		vh, vw := int(math.Round(float64(ih)*s)), int(math.Round(float64(iw)*s))
		n.predict([]*image.NRGBA{img}, vh, vw, nil, nil, nil, nil, view)
		for i, v := range view {
			want[i] += float64(v) / 6
		}
		n.predict([]*image.NRGBA{mir}, vh, vw, nil, nil, nil, nil, view)
		for y := range h {
			for x := range w {
				for c := range k {
					want[(y*w+x)*k+c] += float64(view[(y*w+w-1-x)*k+c]) / 6
				}
			}
		}
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > 1e-6 {
			t.Fatalf("value %d: %v, want %v", i, got[i], want[i])
		}
	}
	for i := range w * h {
		if s := got[i*k] + got[i*k+1] + got[i*k+2]; math.Abs(float64(s)-1) > 1e-5 {
			t.Fatalf("pixel %d: posteriors sum to %v", i, s)
		}
	}
	// Regions: vertical stripes of 5 pixels and one empty region.
	reg := make([]int32, w*h)
	regions := w/5 + 2
	for i := range reg {
		reg[i] = int32((i % w) / 5)
	}
	post := n.PredictRegionsTTA(img, reg, regions, tta)
	mean := make([]float64, regions*k)
	cnt := make([]float64, regions)
	for i, r := range reg {
		cnt[r]++
		for c := range k {
			mean[int(r)*k+c] += float64(got[i*k+c])
		}
	}
	for r := range regions {
		for c := range k {
			m := 0.0
			if cnt[r] > 0 {
				m = mean[r*k+c] / cnt[r]
			}
			if d := math.Abs(post[r*k+c] - m); d > 1e-6 {
				t.Fatalf("region %d class %d: %v, want %v", r, c, post[r*k+c], m)
			}
		}
	}
	// The zero TTA and one view at scale 1 are PredictProba and
	// PredictRegions bit for bit.
	one := n.PredictProbaTTA(img, TTA{Scales: []float64{1}})
	for i, v := range n.PredictProba(img) {
		if one[i] != v {
			t.Fatalf("scale 1 differs from PredictProba at %d", i)
		}
	}
}

// A known answer where averaging the flip fixes a boundary: a model whose
// receptive field is off-centre by shift pixels (as a strided network's
// padding makes it) puts a vertical step edge shift pixels to the right of
// where it is; on the mirror it errs the same way in the mirror's frame,
// that is to the left in the image's. The mean of the two views is
// symmetric about the true edge, so its arg-max boundary is exactly there.
func TestTTAFlipFixesShiftedBoundary(t *testing.T) {
	const w, h, edge, shift = 40, 6, 17, 2 // pixels x < edge are dark
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(30)
			if x >= edge {
				v = 220
			}
			img.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	// The model: class 1 ("bright") with probability sigmoid of the mean
	// brightness over a window of 5 pixels centred shift pixels to the
	// left, so its edge shows shift pixels late.
	model := func(v *image.NRGBA, _, _ int, prob []float32) {
		for y := range h {
			for x := range w {
				sum, cnt := 0.0, 0.0
				for dx := -2; dx <= 2; dx++ {
					if xx := x - shift + dx; xx >= 0 && xx < w {
						sum += float64(v.NRGBAAt(xx, y).R)
						cnt++
					}
				}
				p := 1 / (1 + math.Exp(-(sum/cnt-125)/20))
				prob[(y*w+x)*2], prob[(y*w+x)*2+1] = float32(1-p), float32(p)
			}
		}
	}
	firstBright := func(prob []float32) int {
		for x := range w {
			if prob[x*2+1] > prob[x*2] {
				return x
			}
		}
		return -1
	}
	size := func(float64) (int, int) { return h, w }
	if got := firstBright(TTA{}.average(img, 2, size, model)); got != edge+shift {
		t.Fatalf("single view: edge at %d, want the model's bias %d", got, edge+shift)
	}
	avg := TTA{Flip: true}.average(img, 2, size, model)
	if got := firstBright(avg); got != edge {
		t.Errorf("flip-averaged: edge at %d, want %d", got, edge)
	}
}

func TestTTAString(t *testing.T) {
	for _, tc := range []struct {
		tta   TTA
		want  string
		views int
		cost  float64
	}{
		{TTA{}, "none", 1, 1},
		{TTA{Scales: []float64{1}}, "none", 1, 1},
		{TTA{Flip: true}, "flip", 2, 2},
		{TTA{Scales: DefaultTTAScales}, "scales=0.75:1:1.5", 3, 0.5625 + 1 + 2.25},
		{TTA{Flip: true, Scales: DefaultTTAScales}, "flip,scales=0.75:1:1.5", 6, 2 * (0.5625 + 1 + 2.25)},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if s := tc.tta.String(); s != tc.want {
				t.Errorf("String %q, want %q", s, tc.want)
			}
			if v := tc.tta.Views(); v != tc.views {
				t.Errorf("Views %d, want %d", v, tc.views)
			}
			if c := tc.tta.Cost(); math.Abs(c-tc.cost) > 1e-12 {
				t.Errorf("Cost %v, want %v", c, tc.cost)
			}
		})
	}
	for _, s := range []float64{0, -1, math.NaN(), math.Inf(1), MaxInputFactor + 1} {
		if (TTA{Scales: []float64{s}}).Validate() == nil {
			t.Errorf("scale %v accepted", s)
		}
	}
}

// BenchmarkPredictRegionsTTA is BenchmarkPredictRegions with each TTA
// setting of the masks stage, at K = 8 and 33 (the suite's Stanford
// Background and SIFT Flow): its cost per image against one view. The
// network's layers scale with the views' input areas (TTA.Cost), the
// full-resolution softmax and region sums with the number of views.
func BenchmarkPredictRegionsTTA(b *testing.B) {
	data := synthetic(4, 240, 320, 1)
	reg := make([]int32, 240*320)
	for y := range 240 {
		for x := range 320 {
			reg[y*320+x] = int32(y/16*20 + x/16)
		}
	}
	for _, k := range []int{8, 33} {
		for _, tc := range []struct {
			name string
			tta  TTA
		}{
			{"none", TTA{}},
			{"flip", TTA{Flip: true}},
			{"scales", TTA{Scales: DefaultTTAScales}},
			{"flip,scales", TTA{Flip: true, Scales: DefaultTTAScales}},
		} {
			b.Run(fmt.Sprintf("K=%d/%s", k, tc.name), func(b *testing.B) {
				n := New(Arch{Classes: k, Input: [2]int{120, 160}}, rand.NewPCG(1, 2))
				n.Workers = 1
				for b.Loop() {
					for _, d := range data {
						n.PredictRegionsTTA(d.Image, reg, 300, tc.tta)
					}
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N*len(data)), "ms/img")
			})
		}
	}
}
