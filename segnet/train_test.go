package segnet

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"slices"
	"testing"
)

// synthetic returns n images of h x w: a textured background (class 0), a
// red-ish rectangle (class 1) and a blue-ish disc (class 2) at random places,
// with pixel noise; every 10th pixel is unlabelled and confidence is random.
func synthetic(n, h, w int, seed uint64) []Sample {
	rng := rand.New(rand.NewPCG(seed, 99))
	var out []Sample
	for range n {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		mask := image.NewPaletted(img.Bounds(), palette(3))
		conf := image.NewGray(img.Bounds())
		rx, ry := rng.IntN(w/2), rng.IntN(h/2)
		rw, rh := w/4+rng.IntN(w/4), h/4+rng.IntN(h/4)
		cx, cy, r := rng.IntN(w), rng.IntN(h), 4+rng.IntN(h/4)
		for y := range h {
			for x := range w {
				c, lab := color.NRGBA{90, 140, 80, 255}, uint8(0)
				if x >= rx && x < rx+rw && y >= ry && y < ry+rh {
					c, lab = color.NRGBA{200, 60, 50, 255}, 1
				}
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) < r*r {
					c, lab = color.NRGBA{50, 70, 210, 255}, 2
				}
				j := func(v uint8) uint8 { return uint8(min(255, max(0, int(v)+rng.IntN(41)-20))) }
				img.SetNRGBA(x, y, color.NRGBA{j(c.R), j(c.G), j(c.B), 255})
				if (y*w+x)%10 == 3 {
					lab = Ignore
				}
				mask.SetColorIndex(x, y, lab)
				conf.Pix[y*conf.Stride+x] = uint8(100 + rng.IntN(156))
			}
		}
		out = append(out, Sample{img, mask, conf})
	}
	return out
}

func pixelAccuracy(n *Net, data []Sample) float64 {
	var ok, tot int
	for _, d := range data {
		m, _ := n.Predict(d.Image)
		for i, v := range d.Mask.Pix {
			if v == Ignore {
				continue
			}
			tot++
			if m.Pix[i] == v {
				ok++
			}
		}
	}
	return float64(ok) / float64(tot)
}

// TestOverfit trains the default architecture on a handful of synthetic
// images and requires > 95% pixel accuracy against their masks.
func TestOverfit(t *testing.T) {
	data := synthetic(4, 48, 64, 1)
	tr, err := NewTrainer(Arch{Classes: 3}, data, TrainSettings{Epochs: 60, Batch: 4, LR: 1e-2, Height: 48, Width: 64,
		MinScale: 1, MaxScale: 1, ConfWeight: true}, 7)
	if err != nil {
		t.Fatal(err)
	}
	before := pixelAccuracy(tr.Net(), data)
	var last EpochStats
	for !tr.Done() {
		if last, err = tr.Epoch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	acc := pixelAccuracy(tr.Net(), data)
	t.Logf("pixel accuracy %.4f before, %.4f after %d epochs (loss %.4f)", before, acc, last.Epoch, last.Loss)
	if acc <= 0.95 {
		t.Fatalf("pixel accuracy %.4f <= 0.95", acc)
	}
}

// TestResume: checkpoint after an epoch, resume, and finish must equal an
// uninterrupted run bit for bit (same seed and worker count).
func TestResume(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) { testResume(t, workers) })
	}
}

func testResume(t *testing.T, workers int) {
	data := synthetic(5, 20, 28, 2)
	arch := Arch{Classes: 3, Layers: []LayerSpec{{6, 2, 1}, {8, 1, 2}}}
	set := TrainSettings{Epochs: 3, Batch: 2, Height: 16, Width: 24, MinConf: 0.5, ConfWeight: true, Workers: workers}
	if workers == 1 {
		set.WeightDecay = -1 // none: must survive the checkpoint's settings round trip
	}
	ctx := context.Background()
	full, err := NewTrainer(arch, data, set, 42)
	if err != nil {
		t.Fatal(err)
	}
	for !full.Done() {
		if _, err := full.Epoch(ctx); err != nil {
			t.Fatal(err)
		}
	}
	part, err := NewTrainer(arch, data, set, 42)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := part.Epoch(ctx); err != nil {
		t.Fatal(err)
	}
	ck := part.Checkpoint()
	// Keep training the original past the checkpoint: the checkpoint must be a copy.
	if _, err := part.Epoch(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := ResumeTrainer(ck, data, workers)
	if err != nil {
		t.Fatal(err)
	}
	if res.EpochsDone() != 1 {
		t.Fatalf("resumed at epoch %d, want 1", res.EpochsDone())
	}
	for !res.Done() {
		if _, err := res.Epoch(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a, b := full.Checkpoint(), res.Checkpoint()
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d vs %d tensors", len(a.Tensors), len(b.Tensors))
	}
	changed := false
	for i := range a.Tensors {
		if a.Tensors[i].Name != b.Tensors[i].Name || !slices.Equal(a.Tensors[i].Data, b.Tensors[i].Data) {
			t.Fatalf("tensor %s differs between uninterrupted and resumed runs", a.Tensors[i].Name)
		}
		if !slices.Equal(a.Tensors[i].Data, ck.Tensors[i].Data) {
			changed = true
		}
	}
	if !changed {
		t.Fatal("training after the checkpoint changed nothing")
	}
	for _, k := range []string{"segnet.rng", "segnet.epoch", "segnet.step"} {
		if a.Meta[k] != b.Meta[k] {
			t.Fatalf("%s: %q vs %q", k, a.Meta[k], b.Meta[k])
		}
	}
}

func TestStateDictRoundTrip(t *testing.T) {
	n := New(Arch{Classes: 4}, rand.NewPCG(1, 1))
	n.SetNormalization([3]float32{0.4, 0.5, 0.6}, [3]float32{0.2, 0.25, 0.3})
	txt, err := n.Arch().MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var a Arch
	if err := a.UnmarshalText(txt); err != nil {
		t.Fatal(err)
	}
	m, err := FromState(a, n.StateDict())
	if err != nil {
		t.Fatal(err)
	}
	img := synthetic(1, 30, 41, 3)[0].Image
	p1, c1 := n.Predict(img)
	p2, c2 := m.Predict(img)
	if !slices.Equal(p1.Pix, p2.Pix) || !slices.Equal(c1.Pix, c2.Pix) {
		t.Fatal("reloaded network predicts differently")
	}
	sd := n.StateDict()
	if err := m.LoadStateDict(sd[1:]); err == nil {
		t.Fatal("missing tensor accepted")
	}
	sd[0].Shape = []int{1}
	if err := m.LoadStateDict(sd); err == nil {
		t.Fatal("mis-shaped tensor accepted")
	}
}

func TestShrink(t *testing.T) {
	data := synthetic(2, 40, 60, 8)
	data[1].Conf = nil
	set := TrainSettings{Height: 8, Width: 10, MinScale: 1, MaxScale: 1.5}.withDefaults()
	// cover zoom max(8/40, 10/60)*1.5 = 0.3 -> 12 x 18
	out := shrink(data, set)
	if out[0].Image == data[0].Image || data[0].Image.Bounds().Dx() != 60 {
		t.Fatal("shrink changed or kept the caller's sample")
	}
	for i, d := range out {
		if b := d.Image.Bounds(); b.Dy() != 12 || b.Dx() != 18 || d.Mask.Bounds() != b || (d.Conf != nil && d.Conf.Bounds() != b) {
			t.Fatalf("sample %d: bounds %v %v", i, b, d.Mask.Bounds())
		}
		if (d.Conf == nil) != (data[i].Conf == nil) {
			t.Fatalf("sample %d: confidence presence changed", i)
		}
		for _, v := range d.Mask.Pix {
			if v != Ignore && v > 2 {
				t.Fatalf("sample %d: label %d not from the source", i, v)
			}
		}
	}
	// Large enough: kept as is.
	if kept := shrink(data, TrainSettings{Height: 30, Width: 40, MaxScale: 1}.withDefaults()); kept[0].Image != data[0].Image {
		t.Fatal("image shrunk although zoom >= 0.5")
	}
}

func TestEpochCancelled(t *testing.T) {
	data := synthetic(3, 12, 16, 3)
	tr, err := NewTrainer(Arch{Classes: 3, Layers: []LayerSpec{{4, 2, 1}}}, data, TrainSettings{Epochs: 2, Height: 12, Width: 16}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Epoch(ctx); err != context.Canceled {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if tr.EpochsDone() != 0 {
		t.Fatalf("%d epochs done after cancellation", tr.EpochsDone())
	}
	for !tr.Done() {
		if _, err := tr.Epoch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.Epoch(context.Background()); err == nil {
		t.Fatal("epoch after the last accepted")
	}
}

// TestWorkerCount: the worker count must not change training at all.
func TestWorkerCount(t *testing.T) {
	data := synthetic(5, 20, 28, 2)
	arch := Arch{Classes: 3, Layers: []LayerSpec{{6, 2, 1}, {8, 1, 2}}}
	var first Checkpoint
	for _, workers := range []int{1, 2, 3} {
		tr, err := NewTrainer(arch, data, TrainSettings{Epochs: 2, Batch: 4, Height: 16, Width: 24, ConfWeight: true, Workers: workers}, 9)
		if err != nil {
			t.Fatal(err)
		}
		for !tr.Done() {
			if _, err := tr.Epoch(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		ck := tr.Checkpoint()
		if workers == 1 {
			first = ck
			continue
		}
		for i := range ck.Tensors {
			if !slices.Equal(ck.Tensors[i].Data, first.Tensors[i].Data) {
				t.Fatalf("workers=%d: tensor %s differs from workers=1", workers, ck.Tensors[i].Name)
			}
		}
	}
}

// halves returns a w x h sample whose left half is red, concept 0 and
// confidence 100, and right half blue, concept 1 and confidence 200.
func halves(w, h int) Sample {
	r := image.Rect(0, 0, w, h)
	s := Sample{Image: image.NewNRGBA(r), Mask: image.NewPaletted(r, color.Palette{color.Black, color.White}), Conf: image.NewGray(r)}
	for y := range h {
		for x := range w {
			id, conf, c := uint8(0), uint8(100), color.NRGBA{255, 0, 0, 255}
			if x >= w/2 {
				id, conf, c = 1, 200, color.NRGBA{0, 0, 255, 255}
			}
			s.Image.SetNRGBA(x, y, c)
			s.Mask.SetColorIndex(x, y, id)
			s.Conf.SetGray(x, y, color.Gray{conf})
		}
	}
	return s
}

func TestShrinkForTraining(t *testing.T) {
	for _, tc := range []struct {
		name         string
		w, h         int
		cropH, cropW int
		wantW, wantH int
	}{
		{"stanford size is kept", 320, 240, 0, 0, 320, 240},
		{"twice the zoomed crop is kept", 480, 360, 120, 160, 480, 360},
		{"just above it", 481, 361, 120, 160, 480, 361},
		{"12 megapixels", 4000, 3000, 120, 160, 480, 360},
		{"portrait", 3000, 4000, 120, 160, 480, 640},
		{"larger crop", 4000, 3000, 240, 320, 960, 720},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := halves(tc.w, tc.h)
			out := ShrinkForTraining(in, TrainSettings{Height: tc.cropH, Width: tc.cropW})
			for _, r := range []image.Rectangle{out.Image.Bounds(), out.Mask.Bounds(), out.Conf.Bounds()} {
				if r.Dx() != tc.wantW || r.Dy() != tc.wantH {
					t.Fatalf("size %v, want %dx%d", r, tc.wantW, tc.wantH)
				}
			}
			if tc.wantW == tc.w && out.Image != in.Image {
				t.Fatal("an image that needs no shrinking was copied")
			}
			for _, y := range []int{0, tc.wantH / 2, tc.wantH - 1} {
				for _, x := range []int{0, tc.wantW/2 - 2, tc.wantW/2 + 1, tc.wantW - 1} {
					want := halves(tc.wantW, tc.wantH)
					if got, w := out.Mask.ColorIndexAt(x, y), want.Mask.ColorIndexAt(x, y); got != w {
						t.Errorf("mask (%d,%d) = %d, want %d", x, y, got, w)
					}
					if got, w := out.Conf.GrayAt(x, y), want.Conf.GrayAt(x, y); got != w {
						t.Errorf("confidence (%d,%d) = %d, want %d", x, y, got.Y, w.Y)
					}
					if got, w := out.Image.NRGBAAt(x, y), want.Image.NRGBAAt(x, y); got != w {
						t.Errorf("image (%d,%d) = %v, want %v", x, y, got, w)
					}
				}
			}
		})
	}
}
