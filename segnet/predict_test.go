package segnet

import (
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPredictBatch(t *testing.T) {
	data := synthetic(3, 30, 44, 4)
	n := New(Arch{Classes: 3, Layers: []LayerSpec{{8, 2, 1}, {8, 1, 2}}}, rand.NewPCG(1, 2))
	n.Workers = 2
	imgs := []*image.NRGBA{data[0].Image, data[1].Image, data[2].Image}
	masks, confs := n.PredictBatch(imgs, 0, 0)
	for i, img := range imgs {
		m, c := n.Predict(img)
		if !slices.Equal(m.Pix, masks[i].Pix) || !slices.Equal(c.Pix, confs[i].Pix) {
			t.Fatalf("image %d: batch prediction differs from single", i)
		}
		for _, v := range m.Pix {
			if v >= 3 {
				t.Fatalf("concept id %d >= K", v)
			}
		}
		for _, v := range c.Pix {
			if v < 255/3 { // the winning class of 3 has probability >= 1/3
				t.Fatalf("confidence %d below 1/K", v)
			}
		}
	}
	// At another network input size the outputs keep the image's bounds.
	masks, confs = n.PredictBatch(imgs[:1], 16, 20)
	if masks[0].Bounds() != imgs[0].Bounds() || confs[0].Bounds() != imgs[0].Bounds() {
		t.Fatalf("bounds %v %v, want %v", masks[0].Bounds(), confs[0].Bounds(), imgs[0].Bounds())
	}
	// A sub-image (non-zero origin) predicts like a copy of it.
	sub := data[0].Image.SubImage(image.Rect(5, 3, 35, 25)).(*image.NRGBA)
	cp := image.NewNRGBA(image.Rect(0, 0, 30, 22))
	for y := range 22 {
		copy(cp.Pix[y*cp.Stride:y*cp.Stride+4*30], sub.Pix[sub.PixOffset(5, 3+y):])
	}
	m1, _ := n.Predict(sub)
	m2, _ := n.Predict(cp)
	if m1.Bounds() != sub.Bounds() {
		t.Fatalf("sub-image bounds %v", m1.Bounds())
	}
	if !slices.Equal(m1.Pix, m2.Pix) {
		t.Fatal("sub-image predicted differently from its copy")
	}
}

func TestNewTrainerErrors(t *testing.T) {
	good := synthetic(2, 10, 12, 5)
	bad := synthetic(1, 10, 12, 6)
	bad[0].Mask.Pix[0] = 7
	small := synthetic(1, 9, 12, 6)
	mixed := []Sample{good[0], {Image: good[1].Image, Mask: small[0].Mask}}
	for _, tc := range []struct {
		name string
		arch Arch
		data []Sample
		set  TrainSettings
	}{
		{"no data", Arch{Classes: 3}, nil, TrainSettings{}},
		{"label >= K", Arch{Classes: 3}, bad, TrainSettings{}},
		{"bounds differ", Arch{Classes: 3}, mixed, TrainSettings{}},
		{"zero classes", Arch{}, good, TrainSettings{}},
		{"bad stride", Arch{Classes: 3, Layers: []LayerSpec{{4, 3, 1}}}, good, TrainSettings{}},
		{"bad scale", Arch{Classes: 3}, good, TrainSettings{MinScale: 2, MaxScale: 1}},
		{"zero min scale", Arch{Classes: 3}, good, TrainSettings{MaxScale: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewTrainer(tc.arch, tc.data, tc.set, 1); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func BenchmarkConvForward(b *testing.B) {
	// layer 3 of the default net on a batch of 8 at 240x320 input (60x80)
	rng := rand.New(rand.NewPCG(1, 2))
	l := &conv3{in: 64, out: 64, stride: 1, dil: 2, w: randSlice(rng, 64*64*9, 0.1)}
	x := randSlice(rng, 8*64*60*80, 1)
	y := make([]float32, len(x))
	for b.Loop() {
		l.forward(x, 8, 60, 80, y, 2)
	}
}

func BenchmarkTrainStep(b *testing.B) {
	data := synthetic(8, 240, 320, 1)
	tr, err := NewTrainer(Arch{Classes: 8}, data, TrainSettings{Epochs: 1 << 30, MinScale: 1, MaxScale: 1, Workers: 2}, 1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tr.Epoch(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(data))/b.Elapsed().Seconds(), "img/s")
}

func TestInputSize(t *testing.T) {
	n := New(Arch{Classes: 2, Input: [2]int{120, 160}}, rand.NewPCG(1, 1))
	for _, tc := range []struct{ h, w, wh, ww int }{
		{240, 320, 120, 160}, {120, 160, 120, 160}, {60, 80, 120, 160},
		{320, 240, 213, 160}, // portrait: covers 120x160, keeps the aspect ratio
		{3000, 4000, 120, 160}, {100, 400, 120, 480},
		// Extreme aspect ratios: each side capped at 4x the crop's.
		{1, 5000, 120, 640}, {5000, 1, 480, 160}, {10, 4000, 120, 640}, {200, 100000, 120, 640},
	} {
		if h, w := n.InputSize(tc.h, tc.w); h != tc.wh || w != tc.ww {
			t.Errorf("InputSize(%d, %d) = %d, %d; want %d, %d", tc.h, tc.w, h, w, tc.wh, tc.ww)
		}
	}
	if h, w := New(Arch{Classes: 2}, rand.NewPCG(1, 1)).InputSize(33, 44); h != 33 || w != 44 {
		t.Errorf("no Input: %d, %d", h, w)
	}
	if h, w := New(Arch{Classes: 2}, rand.NewPCG(1, 1)).InputSize(4000, 6000); h*w > MaxInputPixels || h < 800 {
		t.Errorf("no Input, 24 MP: %d, %d", h, w)
	}
}

// A 1 x 5000 image once made Predict allocate blocks of gigabytes (an
// input of 120 x 600000): the network's buffers must stay those of a
// bounded input whatever the aspect ratio.
func TestPredictExtremeAspectBounded(t *testing.T) {
	n := New(Arch{Classes: 3, Input: [2]int{120, 160}}, rand.NewPCG(5, 5))
	for _, sz := range [][2]int{{1, 5000}, {5000, 1}, {3, 20000}} {
		img := image.NewNRGBA(image.Rect(0, 0, sz[1], sz[0]))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7)
		}
		m, c := n.Predict(img)
		if m.Rect != img.Rect || c.Rect != img.Rect {
			t.Fatalf("%v: mask %v conf %v", sz, m.Rect, c.Rect)
		}
		if got, limit := len(n.input), 3*MaxInputFactor*120*MaxInputFactor*160; got > limit {
			t.Errorf("%v: network input of %d floats, above %d", sz, got, limit)
		}
	}
}

func TestPredictTinyImages(t *testing.T) {
	for _, in := range [][2]int{{0, 0}, {120, 160}} {
		n := New(Arch{Classes: 4, Input: in}, rand.NewPCG(3, 3))
		for _, sz := range [][2]int{{1, 1}, {1, 7}, {3, 2}, {5, 5}} {
			img := image.NewNRGBA(image.Rect(0, 0, sz[1], sz[0]))
			for i := range img.Pix {
				img.Pix[i] = uint8(i * 37)
			}
			m, c := n.Predict(img)
			if m.Bounds() != img.Bounds() || c.Bounds() != img.Bounds() {
				t.Fatalf("input %v, image %v: bounds %v %v", in, sz, m.Bounds(), c.Bounds())
			}
			for _, v := range m.Pix {
				if v >= 4 {
					t.Fatalf("input %v, image %v: concept %d", in, sz, v)
				}
			}
		}
	}
}

func BenchmarkPredictBatch(b *testing.B) {
	data := synthetic(8, 240, 320, 1)
	n := New(Arch{Classes: 8, Input: [2]int{240, 320}}, rand.NewPCG(1, 2))
	n.Workers = 2
	imgs := make([]*image.NRGBA, len(data))
	for i, d := range data {
		imgs[i] = d.Image
	}
	for b.Loop() {
		n.PredictBatch(imgs, 0, 0)
	}
	b.ReportMetric(float64(b.N*len(imgs))/b.Elapsed().Seconds(), "img/s")
}

// TestSoftmaxRow checks the confidence kernel against math.Exp exactly:
// the openblas build's polynomial exponential must not change a single
// 8-bit value, including values made to sit on rounding boundaries.
func TestSoftmaxRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, k := range []int{1, 2, 3, 8, 40} {
		hw := 1000
		z := randSlice(rng, k*hw, 3)
		if k == 2 {
			// p = 1/(1+e^-d) = (j+0.5)/255 exactly at the boundary
			for p := range hw {
				q := (float64(128+p%127) + 0.5) / 255
				z[p], z[hw+p] = float32(math.Log(q/(1-q))), 0
			}
		}
		mask, conf := make([]uint8, 900), make([]uint8, 900)
		softmaxRow(z, k, hw, 50, 900, mask, conf)
		for x := range 900 {
			p := 50 + x
			best, bi := z[p], 0
			for c := 1; c < k; c++ {
				if z[c*hw+p] > best {
					best, bi = z[c*hw+p], c
				}
			}
			var se float64
			for c := range k {
				se += math.Exp(float64(z[c*hw+p] - best))
			}
			if int(mask[x]) != bi || conf[x] != uint8(math.Round(255/se)) {
				t.Fatalf("k=%d pixel %d: (%d, %d), want (%d, %d)", k, p, mask[x], conf[x], bi, uint8(math.Round(255/se)))
			}
		}
	}
}

// TestPredictRegions checks the region posteriors against Predict (one
// region per pixel) and their averaging (two regions).
func TestPredictRegions(t *testing.T) {
	data := synthetic(1, 30, 44, 6)
	n := New(Arch{Classes: 3, Layers: []LayerSpec{{8, 2, 1}, {8, 1, 2}}}, rand.NewPCG(4, 2))
	img := data[0].Image
	w, h := 44, 30
	px := make([]int32, w*h)
	for i := range px {
		px[i] = int32(i)
	}
	post := n.PredictRegions(img, px, w*h)
	m, c := n.Predict(img)
	for i := range px {
		p := post[i*3 : i*3+3]
		best := 0
		for j := range p {
			if p[j] > p[best] {
				best = j
			}
		}
		if s := p[0] + p[1] + p[2]; math.Abs(s-1) > 1e-6 {
			t.Fatalf("pixel %d: posteriors sum to %v", i, s)
		}
		if int(m.Pix[i]) != best || math.Abs(float64(c.Pix[i])-255*p[best]) > 0.5+1e-3 {
			t.Fatalf("pixel %d: region arg-max %d (%v), Predict %d (%d/255)", i, best, p[best], m.Pix[i], c.Pix[i])
		}
	}
	halves := make([]int32, w*h)
	var want [2][3]float64
	var cnt [2]float64
	for i := range halves {
		r := int32(min(1, (i%w)/(w/2)))
		halves[i] = r
		cnt[r]++
		for j := range 3 {
			want[r][j] += post[i*3+j]
		}
	}
	got := n.PredictRegions(img, halves, 3) // region 2 is empty
	for r := range 2 {
		for j := range 3 {
			if d := got[r*3+j] - want[r][j]/cnt[r]; math.Abs(d) > 1e-9 {
				t.Errorf("region %d class %d: %v, want %v", r, j, got[r*3+j], want[r][j]/cnt[r])
			}
		}
	}
	if got[6] != 0 || got[7] != 0 || got[8] != 0 {
		t.Errorf("empty region: %v, want zeros", got[6:])
	}
}

// BenchmarkPredictRegions is BenchmarkPredictBatch with the posteriors
// averaged over about 300 square regions (the superpixel refinement of
// the masks stage), one image at a time.
func BenchmarkPredictRegions(b *testing.B) {
	data := synthetic(8, 240, 320, 1)
	n := New(Arch{Classes: 8, Input: [2]int{240, 320}}, rand.NewPCG(1, 2))
	n.Workers = 2
	reg := make([]int32, 240*320)
	for y := range 240 {
		for x := range 320 {
			reg[y*320+x] = int32(y/16*20 + x/16)
		}
	}
	for b.Loop() {
		for _, d := range data {
			n.PredictRegions(d.Image, reg, 300)
		}
	}
	b.ReportMetric(float64(b.N*len(data))/b.Elapsed().Seconds(), "img/s")
}

// PredictProba's per-pixel posteriors are PredictRegions' with one region
// per pixel, and their arg-max is Predict's mask.
func TestPredictProba(t *testing.T) {
	data := synthetic(1, 30, 44, 6)
	n := New(Arch{Classes: 3, Layers: []LayerSpec{{8, 2, 1}, {8, 1, 2}}}, rand.NewPCG(4, 3))
	img := data[0].Image
	w, h := 44, 30
	px := make([]int32, w*h)
	for i := range px {
		px[i] = int32(i)
	}
	want := n.PredictRegions(img, px, w*h)
	got := n.PredictProba(img)
	m, _ := n.Predict(img)
	if len(got) != len(want) {
		t.Fatalf("%d probabilities, want %d", len(got), len(want))
	}
	for i := range px {
		best := 0
		for c := range 3 {
			if d := float64(got[i*3+c]) - want[i*3+c]; math.Abs(d) > 1e-6 {
				t.Fatalf("pixel %d class %d: %v, want %v", i, c, got[i*3+c], want[i*3+c])
			}
			if got[i*3+c] > got[i*3+best] {
				best = c
			}
		}
		if int(m.Pix[i]) != best {
			t.Fatalf("pixel %d: arg-max %d, Predict %d", i, best, m.Pix[i])
		}
	}
}
